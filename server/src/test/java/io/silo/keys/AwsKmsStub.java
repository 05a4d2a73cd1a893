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
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import javax.crypto.Cipher;
import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;
import javax.crypto.spec.GCMParameterSpec;
import javax.net.ssl.SSLContext;

/**
 * A stand-in for the AWS KMS API (the "TrentService" JSON protocol over HTTPS) for tests and the benchmark.
 *
 * <p>It implements Encrypt, Decrypt and GenerateDataKey with real AES-256-GCM under a random secret per key id,
 * created the first time a key id is used. Request signatures (SigV4) are <b>not</b> verified: callers can use dummy
 * credentials. Above a configurable number of served requests in any sliding one-second window it throttles the way
 * the real service does (HTTP 400, {@code {"__type":"ThrottlingException","message":"Rate exceeded"}}) or, in the
 * other modes, with HTTP 429 or 503.
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
    HttpServerOptions options = new HttpServerOptions().setHost("127.0.0.1").setPort(0).setSsl(true)
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
    return this;
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
      if (random.nextDouble() < throttleFraction || overLimit(now)) {
        throttled.incrementAndGet();
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
      try {
        switch (target) {
          case "TrentService.Encrypt" -> encrypt(req, in);
          case "TrentService.Decrypt" -> decrypt(req, in);
          case "TrentService.GenerateDataKey" -> generateDataKey(req, in);
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

  private void encrypt(HttpServerRequest req, JsonObject in) throws GeneralSecurityException {
    String keyId = required(in, "KeyId");
    byte[] plaintext = base64(required(in, "Plaintext"));
    ok(req, new JsonObject().put("KeyId", arn(keyId)).put("CiphertextBlob", b64(seal(keyId, plaintext)))
        .put("EncryptionAlgorithm", "SYMMETRIC_DEFAULT"));
  }

  private void decrypt(HttpServerRequest req, JsonObject in) throws GeneralSecurityException {
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
    if (requested != null && !arn(requested).equals(arn(keyId)))
      throw new BadRequest("IncorrectKeyException", "ciphertext was made under another key");
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
    ok(req, new JsonObject().put("KeyId", arn(keyId)).put("Plaintext", b64(plaintext))
        .put("EncryptionAlgorithm", "SYMMETRIC_DEFAULT"));
  }

  private void generateDataKey(HttpServerRequest req, JsonObject in) throws GeneralSecurityException {
    String keyId = required(in, "KeyId");
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
    ok(req, new JsonObject().put("KeyId", arn(keyId)).put("Plaintext", b64(plaintext))
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

  private static String arn(String keyId) {
    return keyId.startsWith("arn:") ? keyId : "arn:aws:kms:us-east-1:123456789012:key/" + keyId;
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
