package io.silo.keys;

import com.mongodb.ErrorCategory;
import com.mongodb.MongoException;
import com.mongodb.MongoServerException;
import com.mongodb.MongoSocketException;
import com.mongodb.MongoTimeoutException;
import com.mongodb.MongoWriteException;
import com.mongodb.client.MongoClient;
import com.mongodb.client.MongoCollection;
import com.mongodb.client.model.Filters;
import com.mongodb.client.model.IndexOptions;
import com.mongodb.client.model.Indexes;
import com.mongodb.client.model.Projections;
import com.mongodb.client.model.Sorts;
import com.mongodb.client.model.vault.DataKeyOptions;
import com.mongodb.client.model.vault.EncryptOptions;
import com.mongodb.client.model.vault.RewrapManyDataKeyOptions;
import com.mongodb.client.vault.ClientEncryption;
import io.silo.SiloException;
import io.silo.store.KeyAuditStore;
import io.silo.store.TenantStore;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.WorkerExecutor;
import io.vertx.core.json.JsonObject;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import org.bson.BsonBinary;
import org.bson.BsonBinarySubType;
import org.bson.BsonDocument;
import org.bson.BsonString;
import org.bson.BsonValue;
import org.bson.RawBsonDocument;
import org.bson.UuidRepresentation;
import org.bson.conversions.Bson;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Per-tenant data keys in the key vault: create (idempotent), list, rotate by rewrap, shred. Driver and
 * libmongocrypt calls are blocking and JNI-heavy, so they run on a dedicated worker pool, each behind a
 * permit of the shared KMS budget.
 */
public final class TenantKeys {

  private static final Logger LOG = LoggerFactory.getLogger(TenantKeys.class);
  public static final String ALT_NAME_PREFIX = "tenant-";
  private static final String ALT_NAME_INDEX = "silo_keyAltNames_unique";
  private static final String DETERMINISTIC = "AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic";

  /** Metadata of one key document; never key material. */
  public record KeyInfo(UUID keyId, List<String> altNames, String provider, BsonDocument masterKey,
                        java.util.Date created, java.util.Date updated) {
    /** The tenant slug the key belongs to, or "" for keys that are not Silo's. */
    public String tenant() {
      return altNames.stream().filter(n -> n.startsWith(ALT_NAME_PREFIX)).findFirst()
          .map(n -> n.substring(ALT_NAME_PREFIX.length())).orElse("");
    }
  }

  /** Result of CreateTenantKey. */
  public record Created(KeyInfo key, boolean created, boolean afterShred) {
  }

  /** Result of RotateTenantKey. */
  public record Rotated(KeyInfo key, String previousProvider, BsonDocument previousMasterKey, long auditId) {
  }

  /** Result of ShredTenantKey. */
  public record Shredded(UUID keyId, long auditId) {
  }

  private final Vertx vertx;
  private final WorkerExecutor workers;
  private final MongoClient mongo;
  private final MongoCollection<BsonDocument> vault;
  private final ClientEncryption encryption;
  private final Supplier<ClientEncryption> freshEncryption;
  private final KmsProviders kms;
  private final KmsBudgets budgets;
  private final KeyAuditStore audit;
  private final TenantStore tenants;
  private final long keyExpirationSeconds;
  private final Map<String, Future<?>> tenantLocks = new ConcurrentHashMap<>();
  private final KmsRetry retry;

  /**
   * @param encryption      long-lived ClientEncryption (caches DEKs for keyExpiration)
   * @param freshEncryption makes a ClientEncryption with an empty DEK cache, used to prove a rewrap worked
   */
  public TenantKeys(Vertx vertx, WorkerExecutor workers, MongoClient mongo, String keyVaultNamespace,
                    ClientEncryption encryption, Supplier<ClientEncryption> freshEncryption, KmsProviders kms,
                    KmsBudgets budgets, KeyAuditStore audit, TenantStore tenants, long keyExpirationSeconds) {
    this(vertx, workers, mongo, keyVaultNamespace, encryption, freshEncryption, kms, budgets, audit, tenants,
        keyExpirationSeconds, KmsRetry.Policy.DEFAULT);
  }

  /** As above, with the retry policy for throttled or unreachable KMS calls spelled out (tests shorten it). */
  public TenantKeys(Vertx vertx, WorkerExecutor workers, MongoClient mongo, String keyVaultNamespace,
                    ClientEncryption encryption, Supplier<ClientEncryption> freshEncryption, KmsProviders kms,
                    KmsBudgets budgets, KeyAuditStore audit, TenantStore tenants, long keyExpirationSeconds,
                    KmsRetry.Policy retryPolicy) {
    this.retry = new KmsRetry(vertx, retryPolicy);
    this.vertx = vertx;
    this.workers = workers;
    this.mongo = mongo;
    String[] ns = keyVaultNamespace.split("\\.", 2);
    this.vault = mongo.getDatabase(ns[0]).getCollection(ns[1], BsonDocument.class);
    this.encryption = encryption;
    this.freshEncryption = freshEncryption;
    this.kms = kms;
    this.budgets = budgets;
    this.audit = audit;
    this.tenants = tenants;
    this.keyExpirationSeconds = keyExpirationSeconds;
  }

  public static String altName(String slug) {
    return ALT_NAME_PREFIX + slug;
  }

  public KmsProviders providers() {
    return kms;
  }

  public long keyExpirationSeconds() {
    return keyExpirationSeconds;
  }

  /**
   * Ensures a unique index on keyAltNames, so key lookups by alt name do not scan the vault (which the CSFLE
   * docs warn slows start-up at scale) and concurrent creates cannot leave two keys for a tenant. Any unique
   * index on keyAltNames alone counts, whatever its name and whether it is partial (as MongoDB's documentation
   * creates it) or sparse: adding a second one would duplicate it, and MongoDB 4.2/4.4 refuse an index whose key
   * pattern an existing one already has. Only when there is none is one created, and then sparse rather than
   * partial because the dev stand-in does not enforce partial filter expressions; on a real server both exclude
   * the documents without alt names.
   */
  public Future<Void> ensureIndex() {
    return blocking(() -> {
      Optional<String> existing = uniqueAltNameIndex();
      if (existing.isPresent()) {
        LOG.info("key vault already has unique index '{}' on keyAltNames; not creating another", existing.get());
        return null;
      }
      vault.createIndex(Indexes.ascending("keyAltNames"),
          new IndexOptions().unique(true).sparse(true).name(ALT_NAME_INDEX));
      return null;
    });
  }

  /** The name of a unique index on exactly {@code keyAltNames} (either direction), if the vault has one. */
  private Optional<String> uniqueAltNameIndex() {
    for (org.bson.Document index : vault.listIndexes()) {
      Object key = index.get("key");
      if (key instanceof org.bson.Document fields && fields.size() == 1 && fields.containsKey("keyAltNames")
          && isTrue(index.get("unique"))) {
        return Optional.of(String.valueOf(index.get("name")));
      }
    }
    return Optional.empty();
  }

  // Servers answer true; indexes created by old tools may carry unique: 1.
  private static boolean isTrue(Object flag) {
    return Boolean.TRUE.equals(flag) || flag instanceof Number n && n.intValue() != 0;
  }

  /** The tenant's key, if it exists. */
  public Future<Optional<KeyInfo>> find(String slug) {
    return blocking(() -> Optional.ofNullable(vault.find(Filters.eq("keyAltNames", altName(slug)))
        .projection(Projections.exclude("keyMaterial")).first()).map(TenantKeys::info));
  }

  /** Creates the tenant's DEK unless it exists; concurrent calls for one tenant leave exactly one key. */
  public Future<Created> create(String slug, String provider, String descriptorJson, boolean allowAfterShred,
                                String caller) {
    String effectiveProvider = provider == null || provider.isEmpty() ? kms.defaultProvider() : provider;
    BsonDocument masterKey;
    try {
      masterKey = kms.masterKey(effectiveProvider, descriptorJson);
    } catch (IllegalArgumentException e) {
      return Future.failedFuture(SiloException.invalid(
          e.getMessage().startsWith("provider") ? "master_key.provider" : "master_key", e.getMessage()));
    }
    return requireTenant(slug).compose(v -> serialized(slug, () -> find(slug).compose(existing -> {
      if (existing.isPresent()) {
        return Future.succeededFuture(new Created(existing.get(), false, false));
      }
      return audit.activeShred(slug).compose(shred -> {
        if (shred.isPresent() && !allowAfterShred) {
          return Future.failedFuture(SiloException.precondition("tenant '" + slug + "' had its key shredded; "
              + "set allow_after_shred to create a new key (data encrypted under the shredded key stays unrecoverable)"));
        }
        return withPermit(effectiveProvider, masterKey, "creating the data key of tenant '" + slug + "'", () -> {
          DataKeyOptions options = new DataKeyOptions().keyAltNames(List.of(altName(slug)));
          if (masterKey != null) {
            options.masterKey(masterKey);
          }
          try {
            encryption.createDataKey(effectiveProvider, options);
            return true;
          } catch (MongoException e) {
            if (isDuplicateKey(e)) {
              // Another Silo instance won the race; its key is the tenant's key.
              return false;
            }
            throw e;
          }
        }).compose(created -> find(slug).compose(found -> {
          if (found.isEmpty()) {
            return Future.failedFuture(new IllegalStateException("key for tenant '" + slug + "' vanished after creation"));
          }
          KeyInfo key = found.get();
          Future<Void> marks = created && shred.isPresent() ? audit.recordRecreated(slug) : Future.succeededFuture();
          return marks.compose(x -> created
                  ? audit.record(new KeyAuditStore.Entry(slug, "CREATE", key.keyId(), null, null, key.provider(),
                  json(key.masterKey()), caller, true, null)).mapEmpty()
                  : Future.succeededFuture())
              .map(x -> {
                if (created) {
                  LOG.info("data key created tenant={} keyId={} provider={}", slug, key.keyId(), key.provider());
                }
                return new Created(key, created, created && shred.isPresent());
              });
        }));
      });
    })));
  }

  /** The tenant's key, created under the default provider if missing (the migration KEYS phase). */
  public Future<KeyInfo> ensure(String slug, String caller) {
    return create(slug, "", "", false, caller).map(Created::key);
  }

  /** The KMS budget that calls unwrapping this key draw from. */
  public KmsBudget budgetFor(KeyInfo key) {
    return kms.budget(budgets, key.provider(), key.masterKey());
  }

  /** One page of keys ordered by alt name, optionally for one tenant. */
  public Future<List<KeyInfo>> list(String slugOrEmpty, String afterAltName, int limit) {
    return blocking(() -> {
      Bson filter = slugOrEmpty.isEmpty()
          ? Filters.gt("keyAltNames", afterAltName)
          : Filters.eq("keyAltNames", altName(slugOrEmpty));
      List<KeyInfo> out = new ArrayList<>();
      // Alt names are arrays, so sort on the (single) alt name Silo gives its keys and break ties by _id.
      vault.find(filter).projection(Projections.exclude("keyMaterial"))
          .sort(Sorts.ascending("keyAltNames", "_id")).limit(limit)
          .forEach(doc -> out.add(info(doc)));
      return out;
    });
  }

  /**
   * Re-wraps the tenant's DEK under a new master key and proves it: a canary encrypted before the rewrap
   * decrypts afterwards with an empty DEK cache, and every other key document is byte-identical.
   */
  public Future<Rotated> rotate(String slug, String provider, String descriptorJson, String caller) {
    if (provider == null || provider.isEmpty()) {
      return Future.failedFuture(SiloException.invalid("new_master_key.provider",
          "is required (a master key without a provider would be ignored by the driver)"));
    }
    BsonDocument masterKey;
    try {
      masterKey = kms.masterKey(provider, descriptorJson);
    } catch (IllegalArgumentException e) {
      return Future.failedFuture(SiloException.invalid(
          e.getMessage().startsWith("provider") ? "new_master_key.provider" : "new_master_key", e.getMessage()));
    }
    return requireTenant(slug).compose(v -> serialized(slug, () -> find(slug).compose(existing -> {
      if (existing.isEmpty()) {
        return Future.failedFuture(SiloException.precondition("tenant '" + slug + "' has no data key; create it first"));
      }
      KeyInfo before = existing.get();
      // Three KMS steps, each retried on its own: retrying the whole rotation would need every step to succeed in
      // one go, which under heavy throttling rarely happens. Each step is safe to repeat: the canary and the proof
      // only read, and a rewrap that failed at the KMS wrote nothing.
      String what = "rotating the data key of tenant '" + slug + "'";
      return withPermit(before.provider(), before.masterKey(), what, () -> {
        Map<BsonValue, String> othersBefore = fingerprintsOfOthers(before.keyId());
        BsonBinary canary = encryption.encrypt(new BsonString(randomToken()),
            new EncryptOptions(DETERMINISTIC).keyId(uuidBinary(before.keyId())));
        String canaryPlain = encryption.decrypt(canary).asString().getValue();
        return new Canary(canary, canaryPlain, othersBefore);
      }).compose(canary -> withPermit(provider, masterKey, what, () -> {
        RewrapManyDataKeyOptions options = new RewrapManyDataKeyOptions().provider(provider);
        if (masterKey != null) {
          options.masterKey(masterKey);
        }
        encryption.rewrapManyDataKey(Filters.eq("keyAltNames", altName(slug)), options);
        return canary;
      })).compose(canary -> withPermit(provider, masterKey, what, () -> {
        try (ClientEncryption fresh = freshEncryption.get()) {
          String decrypted = fresh.decrypt(canary.ciphertext()).asString().getValue();
          if (!decrypted.equals(canary.plaintext())) {
            throw new IllegalStateException("canary did not decrypt to its value after rewrap");
          }
        }
        Map<BsonValue, String> othersAfter = fingerprintsOfOthers(before.keyId());
        if (!othersAfter.equals(canary.othersBefore())) {
          throw new IllegalStateException("key documents of other tenants changed during the rewrap");
        }
        return null;
      })).compose(done -> find(slug)).compose(after -> {
        KeyInfo key = after.orElseThrow();
        return audit.record(new KeyAuditStore.Entry(slug, "ROTATE", key.keyId(), before.provider(),
                json(before.masterKey()), key.provider(), json(key.masterKey()), caller, true, null))
            .map(auditId -> {
              LOG.info("data key rotated tenant={} keyId={} from={} to={}", slug, key.keyId(), before.provider(),
                  key.provider());
              return new Rotated(key, before.provider(), before.masterKey(), auditId);
            });
      }).recover(failure -> audit.record(new KeyAuditStore.Entry(slug, "ROTATE", before.keyId(), before.provider(),
              json(before.masterKey()), provider, json(masterKey), caller, false, safeMessage(failure)))
          .transform(ignored -> Future.failedFuture(failure)));
    })));
  }

  /** Called with the key id after each shred, e.g. to drop a key unwrapped outside libmongocrypt at once. */
  private volatile java.util.function.Consumer<UUID> onShred = id -> { };

  /** Sets the one listener told of every shred in this process (the Java encryption path's key cache). */
  public void onShred(java.util.function.Consumer<UUID> listener) {
    this.onShred = listener;
  }

  /** Deletes the tenant's DEK (crypto-shredding); its ciphertext stops decrypting once caches expire. */
  public Future<Shredded> shred(String slug, String confirm, String caller) {
    if (!slug.equals(confirm)) {
      return Future.failedFuture(SiloException.precondition("confirm must equal the tenant slug '" + slug
          + "' to shred its key"));
    }
    return requireTenant(slug).compose(v -> serialized(slug, () -> find(slug).compose(existing -> {
      if (existing.isEmpty()) {
        return Future.failedFuture(SiloException.precondition("tenant '" + slug + "' has no data key to shred"));
      }
      KeyInfo key = existing.get();
      return blocking(() -> encryption.deleteKey(uuidBinary(key.keyId())).getDeletedCount())
          .onSuccess(deleted -> onShred.accept(key.keyId()))
          .compose(deleted -> audit.recordShred(slug, key.keyId()))
          .compose(x -> audit.record(new KeyAuditStore.Entry(slug, "SHRED", key.keyId(), key.provider(),
              json(key.masterKey()), null, null, caller, true, null)))
          .map(auditId -> {
            LOG.warn("data key shredded tenant={} keyId={}", slug, key.keyId());
            return new Shredded(key.keyId(), auditId);
          });
    })));
  }

  private Future<Void> requireTenant(String slug) {
    return tenants.get(slug).compose(t -> t.isPresent() ? Future.succeededFuture()
        : Future.failedFuture(SiloException.notFound("tenant '" + slug + "' not found")));
  }

  /** Runs key operations of one tenant one after another in this process; the unique index covers other processes. */
  @SuppressWarnings("unchecked")
  private <T> Future<T> serialized(String slug, Supplier<Future<T>> operation) {
    synchronized (tenantLocks) {
      Future<?> previous = tenantLocks.getOrDefault(slug, Future.succeededFuture());
      Future<T> next = previous.transform(ignored -> operation.get());
      tenantLocks.put(slug, next);
      next.onComplete(done -> tenantLocks.remove(slug, next));
      return next;
    }
  }

  /** What the canary step of a rotation hands to the later steps. */
  private record Canary(BsonBinary ciphertext, String plaintext, Map<BsonValue, String> othersBefore) {
  }

  /**
   * Runs a KMS-touching call under a budget permit, feeding throttles back into the budget's AIMD loop and
   * retrying throttled (or briefly unreachable) calls with backoff; only then is it UNAVAILABLE.
   */
  private <T> Future<T> withPermit(String provider, BsonDocument masterKey, String what, Callable<T> call) {
    KmsBudget budget = kms.budget(budgets, provider, masterKey);
    // Classified before translate(), which would hide the driver's exception behind a domain one.
    return retry.call(budget, 1, what, () -> workers.<T>executeBlocking(call, false))
        .recover(failure -> Future.failedFuture(translate(failure)));
  }

  private <T> Future<T> blocking(Callable<T> call) {
    return workers.<T>executeBlocking(call, false).recover(failure -> Future.failedFuture(translate(failure)));
  }

  /** Maps driver failures onto domain failures; KMS or database unreachable is UNAVAILABLE. */
  static Throwable translate(Throwable failure) {
    if (failure instanceof SiloException) {
      return failure;
    }
    if (failure instanceof MongoSocketException || failure instanceof MongoTimeoutException) {
      return SiloException.unavailable("MongoDB is unreachable: " + failure.getClass().getSimpleName(), failure);
    }
    if (KmsErrors.isUnreachable(failure)) {
      return SiloException.unavailable("KMS is unreachable or refused the connection", failure);
    }
    return failure;
  }

  private static boolean isDuplicateKey(MongoException e) {
    if (e instanceof MongoWriteException write) {
      return write.getError().getCategory() == ErrorCategory.DUPLICATE_KEY;
    }
    if (e instanceof MongoServerException server) {
      return ErrorCategory.fromErrorCode(server.getCode()) == ErrorCategory.DUPLICATE_KEY;
    }
    Throwable cause = e.getCause();
    return cause instanceof MongoException inner && inner != e && isDuplicateKey(inner)
        || String.valueOf(e.getMessage()).contains("E11000");
  }

  private Map<BsonValue, String> fingerprintsOfOthers(UUID exclude) throws Exception {
    Map<BsonValue, String> out = new HashMap<>();
    MessageDigest sha = MessageDigest.getInstance("SHA-256");
    MongoCollection<RawBsonDocument> raw = vault.withDocumentClass(RawBsonDocument.class);
    for (RawBsonDocument doc : raw.find(Filters.ne("_id", uuidBinary(exclude)))) {
      ByteBuffer bytes = doc.getByteBuffer().asNIO();
      byte[] copy = new byte[bytes.remaining()];
      bytes.get(copy);
      out.put(doc.get("_id"), Base64.getEncoder().encodeToString(sha.digest(copy)));
    }
    return out;
  }

  static KeyInfo info(BsonDocument doc) {
    BsonValue id = doc.get("_id");
    UUID uuid = id != null && id.isBinary() ? id.asBinary().asUuid(UuidRepresentation.STANDARD) : null;
    List<String> alt = new ArrayList<>();
    if (doc.containsKey("keyAltNames") && doc.get("keyAltNames").isArray()) {
      doc.getArray("keyAltNames").forEach(v -> alt.add(v.isString() ? v.asString().getValue() : v.toString()));
    }
    BsonDocument masterKey = doc.containsKey("masterKey") ? doc.getDocument("masterKey").clone() : new BsonDocument();
    String provider = masterKey.containsKey("provider") ? masterKey.getString("provider").getValue() : "";
    masterKey.remove("provider");
    java.util.Date created = doc.containsKey("creationDate") && doc.get("creationDate").isDateTime()
        ? new java.util.Date(doc.getDateTime("creationDate").getValue()) : null;
    java.util.Date updated = doc.containsKey("updateDate") && doc.get("updateDate").isDateTime()
        ? new java.util.Date(doc.getDateTime("updateDate").getValue()) : null;
    return new KeyInfo(uuid, alt, provider, masterKey, created, updated);
  }

  public static BsonBinary uuidBinary(UUID id) {
    return new BsonBinary(id, UuidRepresentation.STANDARD);
  }

  private static JsonObject json(BsonDocument doc) {
    return doc == null ? null : new JsonObject(doc.toJson());
  }

  private static String randomToken() {
    byte[] bytes = new byte[16];
    new SecureRandom().nextBytes(bytes);
    return Base64.getEncoder().encodeToString(bytes);
  }

  /** Failure text for audit rows: the class and message only, which never include key material. */
  private static String safeMessage(Throwable failure) {
    String message = failure.getMessage();
    return failure.getClass().getSimpleName() + (message == null ? "" : ": "
        + (message.length() > 500 ? message.substring(0, 500) : message));
  }

  static boolean isSubtype4(BsonValue value) {
    return value.isBinary() && value.asBinary().getType() == BsonBinarySubType.UUID_STANDARD.getValue();
  }
}
