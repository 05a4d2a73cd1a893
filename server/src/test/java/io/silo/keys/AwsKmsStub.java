package io.silo.keys;

import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.PemKeyCertOptions;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.crypto.Cipher;
import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;
import javax.crypto.spec.GCMParameterSpec;
import javax.net.ssl.SSLContext;

/**
 * A stand-in for the AWS KMS API (the "TrentService" JSON protocol over HTTPS) for tests and the benchmarks.
 *
 * <p>Data path: Encrypt, Decrypt and GenerateDataKey with real AES-256-GCM under a random secret per key. Control
 * plane: CreateKey, CreateAlias, UpdateAlias, ListAliases, DescribeKey, TagResource, ListResourceTags, ListKeys and
 * ScheduleKeyDeletion, with key states (Enabled, Disabled, PendingDeletion), key specs and usages. Keys live in a
 * region, taken from the request's SigV4 credential scope (or pinned with {@link #pinRegion}, to play an endpoint that
 * serves another region). A key id or ARN never created is made on first use as an enabled symmetric key, so data-path
 * tests need no set-up; aliases are never made that way. Request signatures are <b>not</b> verified: callers can use
 * dummy credentials.
 *
 * <p>Throttling: above a configurable number of served requests in any sliding one-second window, overall or per
 * operation, it answers the way the real service does (HTTP 400, {@code {"__type":"ThrottlingException","message":
 * "Rate exceeded"}}) or, in the other modes, with HTTP 429 or 503. Faults: the next CreateAlias calls can fail with
 * KMSInternalException, and the next CreateKey calls can create their key but lose the answer (connection closed).
 */
final class AwsKmsStub implements AutoCloseable {

  /** How an over-limit request is answered. */
  enum ThrottleMode { AWS_THROTTLING_EXCEPTION, HTTP_429, HTTP_503 }

  private static final String JSON = "application/x-amz-json-1.1";
  private static final byte BLOB_VERSION = 1;
  private static final int IV_BYTES = 12;

  private final Vertx vertx;
  private final TestPki pki;
  private final SecureRandom random = new SecureRandom();
  private final Map<String, SecretKey> secrets = new ConcurrentHashMap<>();
  private HttpServer server;

  static final String ACCOUNT = "123456789012";
  private static final Pattern SCOPE = Pattern.compile("Credential=[^/]+/\\d{8}/([a-z0-9-]+)/kms/");

  /** One KMS key. Guarded by the stub's lock. */
  static final class StubKey {
    final String arn;
    final String region;
    final String id;
    final String spec;
    final String usage;
    final double created;
    final String description;
    final String policy;
    final Map<String, String> tags = new LinkedHashMap<>();
    String state = "Enabled";
    Double deletionDate;

    StubKey(String region, String id, String spec, String usage, String description, String policy) {
      this.region = region;
      this.id = id;
      this.arn = "arn:aws:kms:" + region + ":" + ACCOUNT + ":key/" + id;
      this.spec = spec;
      this.usage = usage;
      this.description = description;
      this.policy = policy;
      this.created = System.currentTimeMillis() / 1000.0;
    }
  }

  private final Object lock = new Object();
  // Guarded by lock: keys by ARN in creation order, aliases by "region|alias/name" to the key's ARN.
  private final Map<String, StubKey> keys = new LinkedHashMap<>();
  private final Map<String, String> aliases = new TreeMap<>();
  private volatile String pinnedRegion;
  private volatile boolean autoCreate = true;
  private final AtomicInteger createAliasFailures = new AtomicInteger();
  private final AtomicInteger createKeyLostAnswers = new AtomicInteger();
  private final Map<String, Integer> limitByTarget = new ConcurrentHashMap<>();
  private final Map<String, ArrayDeque<Long>> windowByTarget = new ConcurrentHashMap<>();
  private final Map<String, AtomicLong> throttledByTarget = new ConcurrentHashMap<>();
  private final Map<String, List<Long>> servedByTarget = new ConcurrentHashMap<>();
  private final Map<String, List<Long>> throttledAtByTarget = new ConcurrentHashMap<>();

  private volatile int limitPerSecond = Integer.MAX_VALUE;
  private volatile ThrottleMode mode = ThrottleMode.AWS_THROTTLING_EXCEPTION;
  private volatile double throttleFraction;

  // Guarded by servedWindow: arrival times of served requests in the last second.
  private final ArrayDeque<Long> servedWindow = new ArrayDeque<>();
  private final List<Long> arrivals = Collections.synchronizedList(new ArrayList<>());
  private final AtomicLong requests = new AtomicLong();
  private final AtomicLong throttled = new AtomicLong();
  private final Map<String, AtomicLong> byTarget = new ConcurrentHashMap<>();

  AwsKmsStub(Vertx vertx) {
    this.vertx = vertx;
    this.pki = new TestPki();
  }

  /** Starts on a free loopback port. */
  AwsKmsStub start() {
    // A TLS handshake may take seconds on a busy test machine; the default 10 s timeout would close connections that
    // AWS would have kept.
    HttpServerOptions options = new HttpServerOptions().setHost("127.0.0.1").setPort(0).setSsl(true)
        .setSslHandshakeTimeout(60).setSslHandshakeTimeoutUnit(java.util.concurrent.TimeUnit.SECONDS)
        .setKeyCertOptions(new PemKeyCertOptions()
            .setCertValue(Buffer.buffer(pki.server.certificatePem()))
            .setKeyValue(Buffer.buffer(pki.server.privateKeyPem())));
    server = vertx.createHttpServer(options).requestHandler(this::handle).listen().await();
    return this;
  }

  int port() {
    return server.actualPort();
  }

  /** "127.0.0.1:port", the form libmongocrypt's {@code endpoint} field and SDK endpoint overrides take. */
  String endpoint() {
    return "127.0.0.1:" + port();
  }

  /** A client TLS context that trusts this stub's certificate (for {@code kmsProviderSslContextMap}). */
  SSLContext clientSslContext() {
    return pki.clientContext(false);
  }

  javax.net.ssl.TrustManager[] trustManagers() {
    return pki.trustManagers();
  }

  /** Throttle above {@code perSecond} served requests in any one-second window; 0 throttles everything. */
  AwsKmsStub throttleAbove(int perSecond, ThrottleMode mode) {
    this.limitPerSecond = perSecond;
    this.mode = mode;
    return this;
  }

  /** Throttle each request with probability {@code fraction}, whatever the rate (0 turns this off). */
  AwsKmsStub throttleFraction(double fraction, ThrottleMode mode) {
    this.throttleFraction = fraction;
    this.mode = mode;
    return this;
  }

  AwsKmsStub noThrottle() {
    this.limitPerSecond = Integer.MAX_VALUE;
    this.throttleFraction = 0;
    limitByTarget.clear();
    return this;
  }

  /** Throttle one operation (e.g. "CreateKey") above {@code perSecond} served requests in any one-second window. */
  AwsKmsStub throttleAbove(String operation, int perSecond) {
    limitByTarget.put("TrentService." + operation, perSecond);
    return this;
  }

  /** Answer every request as if it came for {@code region}, whatever its signature says (null: from signatures). */
  AwsKmsStub pinRegion(String region) {
    this.pinnedRegion = region;
    return this;
  }

  /** Whether unknown key ids and ARNs are made on first use (the default) or are NotFoundException. */
  AwsKmsStub autoCreateKeys(boolean on) {
    this.autoCreate = on;
    return this;
  }

  /** The next {@code n} CreateAlias calls fail with KMSInternalException (HTTP 500) and change nothing. */
  AwsKmsStub failNextCreateAlias(int n) {
    createAliasFailures.set(n);
    return this;
  }

  /** The next {@code n} CreateKey calls create their key, then close the connection instead of answering. */
  AwsKmsStub loseNextCreateKeyAnswers(int n) {
    createKeyLostAnswers.set(n);
    return this;
  }

  /** Creates a key directly (no request), e.g. an asymmetric or signing key for preflight tests; returns its ARN. */
  String putKey(String region, String spec, String usage, String state) {
    synchronized (lock) {
      StubKey key = new StubKey(region, UUID.randomUUID().toString(), spec, usage, "", null);
      key.state = state;
      if (state.equals("PendingDeletion")) {
        key.deletionDate = System.currentTimeMillis() / 1000.0 + 7 * 86400;
      }
      keys.put(key.arn, key);
      return key.arn;
    }
  }

  /** Tags a key directly. */
  void tag(String arn, String tagKey, String value) {
    synchronized (lock) {
      keys.get(arn).tags.put(tagKey, value);
    }
  }

  /** Points an alias at a key directly. */
  void putAlias(String region, String alias, String keyArn) {
    synchronized (lock) {
      aliases.put(region + "|" + alias, keyArn);
    }
  }

  /** The ARN an alias points at in a region, or null. */
  String aliasTarget(String region, String alias) {
    synchronized (lock) {
      return aliases.get(region + "|" + alias);
    }
  }

  /** The state of a key (Enabled, Disabled, PendingDeletion), or null when there is no such key. */
  String state(String arn) {
    synchronized (lock) {
      StubKey key = keys.get(arn);
      return key == null ? null : key.state;
    }
  }

  /** A copy of a key's tags. */
  Map<String, String> tags(String arn) {
    synchronized (lock) {
      return new LinkedHashMap<>(keys.get(arn).tags);
    }
  }

  /** The policy a key was created with, or null. */
  String policy(String arn) {
    synchronized (lock) {
      return keys.get(arn).policy;
    }
  }

  /** ARNs of the keys (in creation order) whose tag {@code tagKey} has {@code value}. */
  List<String> keysTagged(String tagKey, String value) {
    synchronized (lock) {
      return keys.values().stream().filter(k -> value.equals(k.tags.get(tagKey))).map(k -> k.arn).toList();
    }
  }

  /** Throttled answers to one operation (e.g. "CreateKey"). */
  long throttled(String operation) {
    AtomicLong n = throttledByTarget.get("TrentService." + operation);
    return n == null ? 0 : n.get();
  }

  /** Arrival times (nanoTime) of the served requests of one operation. */
  List<Long> served(String operation) {
    return times(servedByTarget, operation);
  }

  /** Arrival times (nanoTime) of the throttled requests of one operation. */
  List<Long> throttledAt(String operation) {
    return times(throttledAtByTarget, operation);
  }

  private static List<Long> times(Map<String, List<Long>> byTarget, String operation) {
    List<Long> times = byTarget.get("TrentService." + operation);
    if (times == null) {
      return List.of();
    }
    synchronized (times) {
      return new ArrayList<>(times);
    }
  }

  /** Writes the stub's CA certificate as {@code ca.pem} (and the rest of its test PKI) into {@code dir}. */
  java.nio.file.Path writeCaPem(java.nio.file.Path dir) throws java.io.IOException {
    pki.writePem(dir);
    return dir.resolve("ca.pem");
  }

  long requests() {
    return requests.get();
  }

  long throttled() {
    return throttled.get();
  }

  long requests(String target) {
    AtomicLong n = byTarget.get(target);
    return n == null ? 0 : n.get();
  }

  /** The most requests (served or throttled) that arrived within any one-second window. */
  int maxRequestsInAnyOneSecondWindow() {
    List<Long> copy;
    synchronized (arrivals) {
      copy = new ArrayList<>(arrivals);
    }
    return maxInWindow(copy, 1_000_000_000L);
  }

  void resetCounters() {
    requests.set(0);
    throttled.set(0);
    byTarget.clear();
    arrivals.clear();
    throttledByTarget.clear();
    throttledAtByTarget.clear();
    servedByTarget.clear();
    windowByTarget.clear();
    synchronized (servedWindow) {
      servedWindow.clear();
    }
  }

  @Override
  public void close() {
    if (server != null) server.close().await();
  }

  private void handle(HttpServerRequest req) {
    req.body().onSuccess(body -> {
      long now = System.nanoTime();
      requests.incrementAndGet();
      arrivals.add(now);
      String target = String.valueOf(req.getHeader("X-Amz-Target"));
      byTarget.computeIfAbsent(target, t -> new AtomicLong()).incrementAndGet();
      if (!"POST".equals(req.method().name())) {
        error(req, 400, "UnknownOperationException", "POST only");
        return;
      }
      if (random.nextDouble() < throttleFraction || overLimit(now) || overLimit(target, now)) {
        throttled.incrementAndGet();
        throttledByTarget.computeIfAbsent(target, t -> new AtomicLong()).incrementAndGet();
        List<Long> at = throttledAtByTarget.computeIfAbsent(target, t -> new ArrayList<>());
        synchronized (at) {
          at.add(now);
        }
        switch (mode) {
          case AWS_THROTTLING_EXCEPTION -> error(req, 400, "ThrottlingException", "Rate exceeded");
          case HTTP_429 -> error(req, 429, "TooManyRequestsException", "Too Many Requests");
          case HTTP_503 -> error(req, 503, "ServiceUnavailableException", "Service Unavailable");
        }
        return;
      }
      JsonObject in;
      try {
        in = body.length() == 0 ? new JsonObject() : body.toJsonObject();
      } catch (RuntimeException e) {
        error(req, 400, "SerializationException", "request body is not JSON");
        return;
      }
      List<Long> served = servedByTarget.computeIfAbsent(target, t -> new ArrayList<>());
      synchronized (served) {
        served.add(now);
      }
      String region = pinnedRegion != null ? pinnedRegion : regionOf(req);
      try {
        switch (target) {
          case "TrentService.Encrypt" -> encrypt(req, in, region);
          case "TrentService.Decrypt" -> decrypt(req, in, region);
          case "TrentService.GenerateDataKey" -> generateDataKey(req, in, region);
          case "TrentService.CreateKey" -> createKey(req, in, region);
          case "TrentService.CreateAlias" -> createAlias(req, in, region);
          case "TrentService.UpdateAlias" -> updateAlias(req, in, region);
          case "TrentService.ListAliases" -> listAliases(req, in, region);
          case "TrentService.DescribeKey" -> ok(req, new JsonObject().put("KeyMetadata",
              metadata(resolve(required(in, "KeyId"), region, false))));
          case "TrentService.TagResource" -> tagResource(req, in, region);
          case "TrentService.ListResourceTags" -> listResourceTags(req, in, region);
          case "TrentService.ListKeys" -> listKeys(req, in, region);
          case "TrentService.ScheduleKeyDeletion" -> scheduleKeyDeletion(req, in, region);
          default -> error(req, 400, "UnknownOperationException", "unsupported target");
        }
      } catch (BadRequest e) {
        error(req, 400, e.type, e.getMessage());
      } catch (GeneralSecurityException e) {
        error(req, 400, "InvalidCiphertextException", "ciphertext does not verify");
      }
    });
  }

  private boolean overLimit(long now) {
    int limit = limitPerSecond;
    synchronized (servedWindow) {
      while (!servedWindow.isEmpty() && now - servedWindow.peekFirst() >= 1_000_000_000L) servedWindow.pollFirst();
      if (servedWindow.size() >= limit) return true;
      servedWindow.addLast(now);
      return false;
    }
  }

  private boolean overLimit(String target, long now) {
    Integer limit = limitByTarget.get(target);
    if (limit == null) {
      return false;
    }
    ArrayDeque<Long> window = windowByTarget.computeIfAbsent(target, t -> new ArrayDeque<>());
    synchronized (window) {
      while (!window.isEmpty() && now - window.peekFirst() >= 1_000_000_000L) window.pollFirst();
      if (window.size() >= limit) return true;
      window.addLast(now);
      return false;
    }
  }

  private static String regionOf(HttpServerRequest req) {
    String auth = req.getHeader("Authorization");
    Matcher m = SCOPE.matcher(auth == null ? "" : auth);
    return m.find() ? m.group(1) : "us-east-1";
  }

  /**
   * The key a key id, key ARN, alias name or alias ARN names in {@code region}; NotFoundException otherwise. Unknown
   * key ids and key ARNs of the region are made on first use unless that is turned off.
   */
  private StubKey resolve(String keyId, String region, boolean forCrypto) {
    synchronized (lock) {
      StubKey key;
      if (keyId.startsWith("alias/")) {
        key = keys.get(aliases.get(region + "|" + keyId));
      } else if (keyId.startsWith("arn:")) {
        String[] parts = keyId.split(":", 6);
        if (parts.length < 6 || !parts[2].equals("kms")) {
          throw new BadRequest("InvalidArnException", "not a KMS ARN");
        }
        if (!parts[3].equals(region)) {
          throw new BadRequest("NotFoundException", "Invalid arn " + keyId + " in region " + region);
        }
        key = parts[5].startsWith("alias/") ? keys.get(aliases.get(region + "|" + parts[5])) : keys.get(keyId);
        if (key == null && autoCreate && parts[5].startsWith("key/")) {
          key = autoCreated(region, parts[5].substring(4));
        }
      } else {
        key = keys.get("arn:aws:kms:" + region + ":" + ACCOUNT + ":key/" + keyId);
        if (key == null && autoCreate) {
          key = autoCreated(region, keyId);
        }
      }
      if (key == null) {
        throw new BadRequest("NotFoundException", "Key '" + keyId + "' does not exist");
      }
      if (forCrypto && key.state.equals("Disabled")) {
        throw new BadRequest("DisabledException", key.arn + " is disabled.");
      }
      if (forCrypto && !key.state.equals("Enabled")) {
        throw new BadRequest("KMSInvalidStateException", key.arn + " is pending deletion.");
      }
      return key;
    }
  }

  private StubKey autoCreated(String region, String id) {
    StubKey key = new StubKey(region, id, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "", null);
    keys.put(key.arn, key);
    return key;
  }

  private static JsonObject metadata(StubKey key) {
    JsonObject out = new JsonObject().put("AWSAccountId", ACCOUNT).put("KeyId", key.id).put("Arn", key.arn)
        .put("CreationDate", key.created).put("Enabled", key.state.equals("Enabled"))
        .put("Description", key.description).put("KeyUsage", key.usage).put("KeyState", key.state)
        .put("Origin", "AWS_KMS").put("KeyManager", "CUSTOMER").put("CustomerMasterKeySpec", key.spec)
        .put("KeySpec", key.spec).put("MultiRegion", false)
        .put("EncryptionAlgorithms", new io.vertx.core.json.JsonArray().add("SYMMETRIC_DEFAULT"));
    if (key.deletionDate != null) {
      out.put("DeletionDate", key.deletionDate);
    }
    return out;
  }

  private void createKey(HttpServerRequest req, JsonObject in, String region) {
    StubKey key = new StubKey(region, UUID.randomUUID().toString(), in.getString("KeySpec", "SYMMETRIC_DEFAULT"),
        in.getString("KeyUsage", "ENCRYPT_DECRYPT"), in.getString("Description", ""), in.getString("Policy"));
    synchronized (lock) {
      for (Object tag : in.getJsonArray("Tags", new io.vertx.core.json.JsonArray())) {
        JsonObject t = (JsonObject) tag;
        key.tags.put(t.getString("TagKey"), t.getString("TagValue"));
      }
      keys.put(key.arn, key);
    }
    if (createKeyLostAnswers.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
      req.connection().close();
      return;
    }
    ok(req, new JsonObject().put("KeyMetadata", metadata(key)));
  }

  private void createAlias(HttpServerRequest req, JsonObject in, String region) {
    String alias = required(in, "AliasName");
    if (!alias.startsWith("alias/") || alias.startsWith("alias/aws/")) {
      throw new BadRequest("ValidationException", "alias name must start with alias/ and not alias/aws/");
    }
    if (createAliasFailures.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
      error(req, 500, "KMSInternalException", "injected failure");
      return;
    }
    synchronized (lock) {
      StubKey target = resolve(required(in, "TargetKeyId"), region, false);
      if (aliases.containsKey(region + "|" + alias)) {
        throw new BadRequest("AlreadyExistsException", "An alias with the name " + alias + " already exists");
      }
      aliases.put(region + "|" + alias, target.arn);
    }
    ok(req, new JsonObject());
  }

  private void updateAlias(HttpServerRequest req, JsonObject in, String region) {
    String alias = required(in, "AliasName");
    synchronized (lock) {
      StubKey target = resolve(required(in, "TargetKeyId"), region, false);
      if (!aliases.containsKey(region + "|" + alias)) {
        throw new BadRequest("NotFoundException", "Alias " + alias + " does not exist");
      }
      aliases.put(region + "|" + alias, target.arn);
    }
    ok(req, new JsonObject());
  }

  private void listAliases(HttpServerRequest req, JsonObject in, String region) {
    io.vertx.core.json.JsonArray out = new io.vertx.core.json.JsonArray();
    synchronized (lock) {
      String only = in.getString("KeyId") == null ? null : resolve(in.getString("KeyId"), region, false).arn;
      aliases.forEach((k, arn) -> {
        if (k.startsWith(region + "|") && (only == null || only.equals(arn))) {
          String name = k.substring(region.length() + 1);
          out.add(new JsonObject().put("AliasName", name).put("AliasArn", "arn:aws:kms:" + region + ":" + ACCOUNT
              + ":" + name).put("TargetKeyId", keys.get(arn).id));
        }
      });
    }
    ok(req, new JsonObject().put("Aliases", out).put("Truncated", false));
  }

  private void tagResource(HttpServerRequest req, JsonObject in, String region) {
    synchronized (lock) {
      StubKey key = resolve(required(in, "KeyId"), region, false);
      for (Object tag : in.getJsonArray("Tags", new io.vertx.core.json.JsonArray())) {
        JsonObject t = (JsonObject) tag;
        key.tags.put(t.getString("TagKey"), t.getString("TagValue"));
      }
    }
    ok(req, new JsonObject());
  }

  private void listResourceTags(HttpServerRequest req, JsonObject in, String region) {
    List<Map.Entry<String, String>> all;
    synchronized (lock) {
      all = new ArrayList<>(resolve(required(in, "KeyId"), region, false).tags.entrySet());
    }
    page(req, in, all.stream().map(e -> new JsonObject().put("TagKey", e.getKey()).put("TagValue", e.getValue()))
        .toList(), "Tags", 50);
  }

  private void listKeys(HttpServerRequest req, JsonObject in, String region) {
    List<JsonObject> all;
    synchronized (lock) {
      all = keys.values().stream().filter(k -> k.region.equals(region))
          .map(k -> new JsonObject().put("KeyId", k.id).put("KeyArn", k.arn)).toList();
    }
    page(req, in, all, "Keys", 1000);
  }

  // Markers are the index of the next item, as text; AWS's are opaque, so callers cannot tell the difference.
  private static void page(HttpServerRequest req, JsonObject in, List<JsonObject> all, String field, int maxLimit) {
    int limit = Math.min(maxLimit, in.getInteger("Limit", 100));
    int from = in.getString("Marker") == null ? 0 : Integer.parseInt(in.getString("Marker"));
    int to = Math.min(all.size(), from + limit);
    JsonObject out = new JsonObject().put(field, new io.vertx.core.json.JsonArray(new ArrayList<>(all.subList(from, to))))
        .put("Truncated", to < all.size());
    if (to < all.size()) {
      out.put("NextMarker", Integer.toString(to));
    }
    ok(req, out);
  }

  private void scheduleKeyDeletion(HttpServerRequest req, JsonObject in, String region) {
    int days = in.getInteger("PendingWindowInDays", 30);
    if (days < 7 || days > 30) {
      throw new BadRequest("ValidationException", "PendingWindowInDays must be between 7 and 30");
    }
    StubKey key;
    synchronized (lock) {
      key = resolve(required(in, "KeyId"), region, false);
      if (key.state.equals("PendingDeletion")) {
        throw new BadRequest("KMSInvalidStateException", key.arn + " is pending deletion.");
      }
      key.state = "PendingDeletion";
      key.deletionDate = System.currentTimeMillis() / 1000.0 + days * 86400.0;
    }
    ok(req, new JsonObject().put("KeyId", key.arn).put("DeletionDate", key.deletionDate)
        .put("KeyState", "PendingDeletion").put("PendingWindowInDays", days));
  }

  private void encrypt(HttpServerRequest req, JsonObject in, String region) throws GeneralSecurityException {
    StubKey key = resolve(required(in, "KeyId"), region, true);
    byte[] plaintext = base64(required(in, "Plaintext"));
    ok(req, new JsonObject().put("KeyId", key.arn).put("CiphertextBlob", b64(seal(key.arn, plaintext)))
        .put("EncryptionAlgorithm", "SYMMETRIC_DEFAULT"));
  }

  private void decrypt(HttpServerRequest req, JsonObject in, String region) throws GeneralSecurityException {
    byte[] blob = base64(required(in, "CiphertextBlob"));
    ByteBuffer b = ByteBuffer.wrap(blob);
    if (blob.length < 3 + IV_BYTES + 16 || b.get() != BLOB_VERSION)
      throw new BadRequest("InvalidCiphertextException", "not a ciphertext of this KMS");
    int idLen = Short.toUnsignedInt(b.getShort());
    if (idLen == 0 || idLen > b.remaining() - IV_BYTES - 16)
      throw new BadRequest("InvalidCiphertextException", "not a ciphertext of this KMS");
    byte[] id = new byte[idLen];
    b.get(id);
    String keyId = new String(id, StandardCharsets.UTF_8);
    String requested = in.getString("KeyId");
    if (requested != null && !resolve(requested, region, false).arn.equals(keyId))
      throw new BadRequest("IncorrectKeyException", "ciphertext was made under another key");
    // The key's state decides, as in AWS: a disabled or deleted key decrypts nothing.
    resolve(keyId, AwsKms.arnRegion(keyId).orElse(region), true);
    SecretKey secret = secrets.get(keyId);
    if (secret == null) throw new BadRequest("NotFoundException", "key does not exist");
    byte[] iv = new byte[IV_BYTES];
    b.get(iv);
    byte[] sealed = new byte[b.remaining()];
    b.get(sealed);
    Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
    c.init(Cipher.DECRYPT_MODE, secret, new GCMParameterSpec(128, iv));
    c.updateAAD(id);
    byte[] plaintext = c.doFinal(sealed);
    ok(req, new JsonObject().put("KeyId", keyId).put("Plaintext", b64(plaintext))
        .put("EncryptionAlgorithm", "SYMMETRIC_DEFAULT"));
  }

  private void generateDataKey(HttpServerRequest req, JsonObject in, String region) throws GeneralSecurityException {
    String keyId = resolve(required(in, "KeyId"), region, true).arn;
    int bytes;
    if (in.containsKey("NumberOfBytes")) {
      bytes = in.getInteger("NumberOfBytes");
    } else {
      bytes = switch (String.valueOf(in.getString("KeySpec"))) {
        case "AES_256" -> 32;
        case "AES_128" -> 16;
        default -> throw new BadRequest("ValidationException", "KeySpec or NumberOfBytes required");
      };
    }
    if (bytes < 1 || bytes > 1024) throw new BadRequest("ValidationException", "NumberOfBytes out of range");
    byte[] plaintext = new byte[bytes];
    random.nextBytes(plaintext);
    ok(req, new JsonObject().put("KeyId", keyId).put("Plaintext", b64(plaintext))
        .put("CiphertextBlob", b64(seal(keyId, plaintext))));
  }

  // Blob layout: version(1) | keyId length(2) | keyId UTF-8 | IV(12) | AES-GCM(ciphertext + 16-byte tag), with the
  // key id as associated data so a blob cannot be re-labelled to another key.
  private byte[] seal(String keyId, byte[] plaintext) throws GeneralSecurityException {
    SecretKey secret = secrets.computeIfAbsent(keyId, k -> newSecret());
    byte[] id = keyId.getBytes(StandardCharsets.UTF_8);
    byte[] iv = new byte[IV_BYTES];
    random.nextBytes(iv);
    Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
    c.init(Cipher.ENCRYPT_MODE, secret, new GCMParameterSpec(128, iv));
    c.updateAAD(id);
    byte[] sealed = c.doFinal(plaintext);
    return ByteBuffer.allocate(1 + 2 + id.length + IV_BYTES + sealed.length).put(BLOB_VERSION)
        .putShort((short) id.length).put(id).put(iv).put(sealed).array();
  }

  private SecretKey newSecret() {
    try {
      KeyGenerator g = KeyGenerator.getInstance("AES");
      g.init(256, random);
      return g.generateKey();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  private static String required(JsonObject in, String field) {
    Object v = in.getValue(field);
    if (!(v instanceof String s) || s.isEmpty()) throw new BadRequest("ValidationException", field + " is required");
    return s;
  }

  private static byte[] base64(String s) {
    try {
      return Base64.getDecoder().decode(s);
    } catch (IllegalArgumentException e) {
      throw new BadRequest("SerializationException", "invalid base64");
    }
  }

  private static String b64(byte[] bytes) {
    return Base64.getEncoder().encodeToString(bytes);
  }

  private static void ok(HttpServerRequest req, JsonObject out) {
    send(req, 200, out);
  }

  private static void error(HttpServerRequest req, int status, String type, String message) {
    send(req, status, new JsonObject().put("__type", type).put("message", message));
  }

  // Header names spelled as AWS spells them: libmongocrypt's HTTP parser (kms_message) matches "Content-Length"
  // case-sensitively, and Vert.x would otherwise emit a lower-case "content-length", which it rejects with
  // "Unexpected extra HTTP content".
  private static void send(HttpServerRequest req, int status, JsonObject out) {
    Buffer body = Buffer.buffer(out.encode());
    req.response().setStatusCode(status).putHeader("Content-Type", JSON)
        .putHeader("Content-Length", Integer.toString(body.length()))
        .putHeader("x-amzn-RequestId", java.util.UUID.randomUUID().toString()).end(body);
  }

  /** The most timestamps (nanoseconds, any order) that fall within any window of the given length. */
  static int maxInWindow(List<Long> sortedNanos, long windowNanos) {
    List<Long> t = new ArrayList<>(sortedNanos);
    Collections.sort(t);
    int max = 0;
    int start = 0;
    for (int end = 0; end < t.size(); end++) {
      while (t.get(end) - t.get(start) >= windowNanos) start++;
      max = Math.max(max, end - start + 1);
    }
    return max;
  }

  private static final class BadRequest extends RuntimeException {
    final String type;

    BadRequest(String type, String message) {
      super(message);
      this.type = type;
    }
  }
}
