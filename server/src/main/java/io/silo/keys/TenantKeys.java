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
import io.silo.store.TenantRecord;
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
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;
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

  /** Where a data key came from, as far as Silo knows. */
  public enum Origin {
    /** Silo created it. */
    CREATED,
    /** It existed under the configured alt name before Silo used it; Silo took it over and audited that. */
    ADOPTED,
    /** Silo has no record of it: not used by Silo yet, or not a tenant key. */
    UNMANAGED
  }

  /** Metadata of one key document; never key material. {@code tenant} is "" for keys that are not a tenant's. */
  public record KeyInfo(UUID keyId, List<String> altNames, String provider, BsonDocument masterKey,
                        java.util.Date created, java.util.Date updated, String tenant, Origin origin) {
    KeyInfo with(String tenant, Origin origin) {
      return new KeyInfo(keyId, altNames, provider, masterKey, created, updated, tenant, origin);
    }
  }

  /** Result of CreateTenantKey; {@code adopted} when an existing key was taken over by this call. */
  public record Created(KeyInfo key, boolean created, boolean afterShred, boolean adopted,
                        Optional<TenantCmks.Cmk> cmk) {
  }

  /** Result of RotateTenantKey; {@code cmk} when the new master key is the tenant's own CMK. */
  public record Rotated(KeyInfo key, String previousProvider, BsonDocument previousMasterKey, long auditId,
                        Optional<TenantCmks.Cmk> cmk) {
  }

  /** Result of ShredTenantKey. */
  public record Shredded(UUID keyId, long auditId) {
  }

  /** The AWS side of key management, present when an aws provider is configured. */
  public record Aws(AwsKmsPreflight preflight, TenantCmks cmks, AwsKms kms) {

    /**
     * The ARN of the key an SSE-KMS tenant bucket in {@code region} is to use, preflighted: {@code keyId}, or for
     * {@code "tenant"} the tenant's own CMK, which {@code create} provisions when it is missing (without it, a
     * missing CMK is FAILED_PRECONDITION: verifying must not create keys).
     */
    public Future<String> bucketKey(String tenant, long tenantId, String keyId, String region, boolean create) {
      if (!"tenant".equals(keyId)) {
        return preflight.check(keyId, region);
      }
      Optional<String> provider = kms.providers().defaultAwsProvider();
      if (provider.isEmpty()) {
        return Future.failedFuture(SiloException.precondition("s3.kmsKeyId 'tenant' needs an aws KMS provider"
            + " (kms.aws.region or kms.aws.named) to create and check tenant CMKs"));
      }
      AwsLocation at = new AwsLocation(provider.get(), region, kms.providers().awsEndpoint());
      Future<String> arn = create ? cmks.ensure(tenant, tenantId, at, "s3-phase").map(TenantCmks.Cmk::arn)
          : kms.describeKey(at, TenantCmks.alias(tenant), "looking up the CMK of tenant '" + tenant + "'")
              .compose(found -> found.isPresent() ? Future.succeededFuture(found.get().arn())
                  : Future.failedFuture(SiloException.precondition("tenant '" + tenant + "' has no CMK ("
                      + TenantCmks.alias(tenant) + " in " + region + "); run its migration to create it")));
      return arn.compose(a -> preflight.check(at, a));
    }
  }

  /** A master key request after validation: what the driver gets, and whether Silo supplies the tenant's own CMK. */
  private record Target(String provider, BsonDocument masterKey, boolean tenantCmk) {
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
  private final PerKeyQueue tenantQueue = new PerKeyQueue();
  private final KmsRetry retry;
  private final AltNameTemplate altNames;
  private final Aws aws;
  private final List<Function<String, Future<List<String>>>> retirementGuards = new CopyOnWriteArrayList<>();

  /**
   * @param encryption      long-lived ClientEncryption (caches DEKs for keyExpiration)
   * @param freshEncryption makes a ClientEncryption with an empty DEK cache, used to prove a rewrap worked
   * @param aws             preflight and tenant CMKs, or null when no aws provider is configured
   * @param retryPolicy     how throttled or unreachable KMS calls are retried (tests shorten it)
   */
  public TenantKeys(Vertx vertx, WorkerExecutor workers, MongoClient mongo, String keyVaultNamespace,
                    ClientEncryption encryption, Supplier<ClientEncryption> freshEncryption, KmsProviders kms,
                    KmsBudgets budgets, KeyAuditStore audit, TenantStore tenants, long keyExpirationSeconds,
                    Aws aws, KmsRetry.Policy retryPolicy) {
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
    this.altNames = kms.altNames();
    this.aws = aws;
  }

  /** The alt name of a tenant's key under the default template {@code tenant-{slug}}. */
  public static String altName(String slug) {
    return AltNameTemplate.DEFAULT.render(slug, 0);
  }

  /**
   * The slug or tenant id an alt name carries under the configured template ({@code tenant-{slug}} or
   * {@code tenant-{id}}), if it is one; ids are digits only.
   */
  public Optional<String> altNameValue(String altName) {
    return altNames.value(altName);
  }

  /** Whether alt names carry the tenants table's id ({@code tenant-{id}}) rather than the slug. */
  public boolean altNamesById() {
    return altNames.usesId();
  }

  /** The AWS side (preflight for SSE-KMS buckets, tenant CMKs), if an aws provider is configured. */
  public Optional<Aws> aws() {
    return Optional.ofNullable(aws);
  }

  /**
   * Adds a check that retiring an AWS KMS key must pass: given the key's ARN, it names what still uses the key (the
   * S3 phase: SSE-KMS buckets), and a non-empty answer refuses the retirement.
   */
  public void addRetirementGuard(Function<String, Future<List<String>>> guard) {
    retirementGuards.add(guard);
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
    if (!altNames.usesId()) {
      return findByAltName(slug, altNames.render(slug, 0));
    }
    return tenants.get(slug).compose(t -> t.isEmpty() ? Future.succeededFuture(Optional.empty())
        : findByAltName(slug, altNames.render(slug, t.get().id())));
  }

  private Future<Optional<KeyInfo>> findByAltName(String slug, String altName) {
    return blocking(() -> Optional.ofNullable(vault.find(Filters.eq("keyAltNames", altName))
        .projection(Projections.exclude("keyMaterial")).first()).map(TenantKeys::info))
        .compose(found -> found.isEmpty() ? Future.succeededFuture(found)
            : audit.keyOrigins(List.of(found.get().keyId())).map(origins -> Optional.of(found.get().with(slug,
                origins.containsKey(found.get().keyId()) ? Origin.valueOf(origins.get(found.get().keyId()).origin())
                    : Origin.UNMANAGED))));
  }

  /**
   * Takes over a key that was under the tenant's configured alt name before Silo used it (the CSFLE lab's
   * {@code tenant-<id>} keys): records it as ADOPTED and audits that, once. Never creates a second key.
   */
  private Future<KeyInfo> adoptIfUnmanaged(KeyInfo key, String caller) {
    if (key.origin() != Origin.UNMANAGED) {
      return Future.succeededFuture(key);
    }
    String altName = key.altNames().isEmpty() ? "" : key.altNames().get(0);
    return audit.recordKeyOrigin(key.keyId(), key.tenant(), altName, Origin.ADOPTED.name()).compose(recorded -> {
      if (!recorded) {
        return Future.succeededFuture(key.with(key.tenant(), Origin.ADOPTED));
      }
      LOG.info("data key adopted tenant={} keyId={} altName={} provider={}", key.tenant(), key.keyId(), altName,
          key.provider());
      return audit.record(new KeyAuditStore.Entry(key.tenant(), "ADOPT", key.keyId(), null, null, key.provider(),
          json(key.masterKey()), caller, true, null)).map(id -> key.with(key.tenant(), Origin.ADOPTED));
    });
  }

  /**
   * Validates a requested master key. With {@code newCmk}, or for an aws provider asked without a key while
   * kms.aws.tenantCmks is on, Silo supplies the tenant's own CMK later ({@link #resolve}).
   */
  private Target target(String provider, String descriptorJson, boolean newCmk, String field) {
    try {
      boolean tenantCmk = newCmk || kms.isAws(provider) && kms.cmkSettings().byDefault()
          && !kms.masterKeyNamesKey(descriptorJson);
      BsonDocument masterKey = tenantCmk ? kms.tenantCmkLocation(provider, descriptorJson)
          : kms.masterKey(provider, descriptorJson);
      return new Target(provider, masterKey, tenantCmk);
    } catch (IllegalArgumentException e) {
      throw SiloException.invalid(e.getMessage().startsWith("provider") ? field + ".provider" : field, e.getMessage());
    }
  }

  /**
   * The master key to wrap with, checked: the tenant's own CMK put in when asked for (created or reused), and any aws
   * key preflighted (exists, enabled, symmetric, for encryption, in the region, not pending deletion).
   */
  private Future<Resolved> resolve(TenantRecord tenant, Target target, String caller) {
    if (!kms.isAws(target.provider())) {
      return Future.succeededFuture(new Resolved(target.masterKey(), Optional.empty()));
    }
    if (aws == null) {
      return Future.failedFuture(SiloException.precondition("AWS KMS support is not available on this server"));
    }
    AwsLocation at = AwsLocation.of(target.provider(), target.masterKey());
    Future<Optional<TenantCmks.Cmk>> cmk = target.tenantCmk()
        ? aws.cmks().ensure(tenant.slug(), tenant.id(), at, caller).map(Optional::of)
        : Future.succeededFuture(Optional.empty());
    return cmk.compose(own -> {
      BsonDocument masterKey = target.masterKey().clone();
      own.ifPresent(c -> masterKey.put("key", new BsonString(c.arn())));
      return aws.preflight().check(at, masterKey.getString("key").getValue()).map(arn -> new Resolved(masterKey, own));
    }).recover(failure -> Future.failedFuture(AwsKms.translate(failure)));
  }

  /** A master key ready for the driver, and the tenant CMK it names if Silo supplied one. */
  private record Resolved(BsonDocument masterKey, Optional<TenantCmks.Cmk> cmk) {
  }

  /**
   * Creates the tenant's DEK unless it exists; concurrent calls for one tenant leave exactly one key. A key already
   * under the configured alt name is adopted, never duplicated.
   */
  public Future<Created> create(String slug, String provider, String descriptorJson, boolean allowAfterShred,
                                String caller) {
    return create(slug, provider, descriptorJson, false, allowAfterShred, caller);
  }

  /** As above; {@code newCmk} wraps a new key with the tenant's own AWS CMK (created or reused). */
  public Future<Created> create(String slug, String provider, String descriptorJson, boolean newCmk,
                                boolean allowAfterShred, String caller) {
    String effectiveProvider = provider == null || provider.isEmpty() ? kms.defaultProvider() : provider;
    Target target;
    try {
      target = target(effectiveProvider, descriptorJson, newCmk, "master_key");
    } catch (SiloException e) {
      return Future.failedFuture(e);
    }
    return requireTenant(slug).compose(tenant -> serialized(slug, () -> find(slug).compose(existing -> {
      if (existing.isPresent()) {
        boolean unmanaged = existing.get().origin() == Origin.UNMANAGED;
        return adoptIfUnmanaged(existing.get(), caller)
            .map(key -> new Created(key, false, false, unmanaged, Optional.empty()));
      }
      String altName = altNames.render(slug, tenant.id());
      return audit.activeShred(slug).compose(shred -> {
        if (shred.isPresent() && !allowAfterShred) {
          return Future.failedFuture(SiloException.precondition("tenant '" + slug + "' had its key shredded; "
              + "set allow_after_shred to create a new key (data encrypted under the shredded key stays unrecoverable)"));
        }
        return resolve(tenant, target, caller).compose(resolved -> withPermit(effectiveProvider, resolved.masterKey(),
            "creating the data key of tenant '" + slug + "'", () -> {
              DataKeyOptions options = new DataKeyOptions().keyAltNames(List.of(altName));
              if (resolved.masterKey() != null) {
                options.masterKey(resolved.masterKey());
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
                return Future.failedFuture(new IllegalStateException("key for tenant '" + slug
                    + "' vanished after creation"));
              }
              KeyInfo key = created ? found.get().with(slug, Origin.CREATED) : found.get();
              Future<Void> marks = created && shred.isPresent() ? audit.recordRecreated(slug) : Future.succeededFuture();
              return marks.compose(x -> created
                      ? audit.recordCreatedKey(key.keyId(), slug, altName)
                      .compose(y -> audit.record(new KeyAuditStore.Entry(slug, "CREATE", key.keyId(), null, null,
                          key.provider(), json(key.masterKey()), caller, true, null))).mapEmpty()
                      : Future.succeededFuture())
                  .map(x -> {
                    if (created) {
                      LOG.info("data key created tenant={} keyId={} provider={}", slug, key.keyId(), key.provider());
                    }
                    return new Created(key, created, created && shred.isPresent(), false, resolved.cmk());
                  });
            })));
      });
    })));
  }

  /** The tenant's key, created under the default provider if missing, or adopted (the migration KEYS phase). */
  public Future<KeyInfo> ensure(String slug, String caller) {
    return create(slug, "", "", false, false, caller).map(Created::key);
  }

  /** The KMS budget that calls unwrapping this key draw from. */
  public KmsBudget budgetFor(KeyInfo key) {
    return kms.budget(budgets, key.provider(), key.masterKey());
  }

  /**
   * One page of keys ordered by alt name, optionally for one tenant, each with its tenant (from Silo's record, else
   * from the alt name template) and origin.
   */
  public Future<List<KeyInfo>> list(String slugOrEmpty, String afterAltName, int limit) {
    Future<Optional<String>> tenantAltName = slugOrEmpty.isEmpty() ? Future.succeededFuture(Optional.empty())
        : !altNames.usesId() ? Future.succeededFuture(Optional.of(altNames.render(slugOrEmpty, 0)))
        : tenants.get(slugOrEmpty).map(t -> t.map(r -> altNames.render(slugOrEmpty, r.id())));
    return tenantAltName.compose(altName -> {
      if (!slugOrEmpty.isEmpty() && altName.isEmpty()) {
        return Future.succeededFuture(List.<KeyInfo>of());
      }
      return blocking(() -> {
        Bson filter = altName.isEmpty() ? Filters.gt("keyAltNames", afterAltName)
            : Filters.eq("keyAltNames", altName.get());
        List<KeyInfo> out = new ArrayList<>();
        // Alt names are arrays, so sort on the (single) alt name Silo gives its keys and break ties by _id.
        vault.find(filter).projection(Projections.exclude("keyMaterial"))
            .sort(Sorts.ascending("keyAltNames", "_id")).limit(limit)
            .forEach(doc -> out.add(info(doc)));
        return out;
      }).compose(this::withTenantsAndOrigins);
    });
  }

  private Future<List<KeyInfo>> withTenantsAndOrigins(List<KeyInfo> keys) {
    List<UUID> ids = keys.stream().map(KeyInfo::keyId).filter(java.util.Objects::nonNull).toList();
    return audit.keyOrigins(ids).compose(origins -> {
      java.util.Set<Long> tenantIds = new java.util.HashSet<>();
      if (altNames.usesId()) {
        for (KeyInfo k : keys) {
          if (!origins.containsKey(k.keyId())) {
            templateValue(k).ifPresent(v -> tenantIds.add(Long.parseLong(v)));
          }
        }
      }
      return tenants.slugsByIds(tenantIds).map(slugs -> keys.stream().map(k -> {
        KeyAuditStore.KeyOrigin recorded = origins.get(k.keyId());
        if (recorded != null) {
          return k.with(recorded.tenant(), Origin.valueOf(recorded.origin()));
        }
        String tenant = templateValue(k).map(v -> altNames.usesId() ? slugs.getOrDefault(Long.parseLong(v), "") : v)
            .orElse("");
        return k.with(tenant, Origin.UNMANAGED);
      }).toList());
    });
  }

  /** The slug or id part of a key's alt name under the configured template. */
  private Optional<String> templateValue(KeyInfo key) {
    return key.altNames().stream().map(altNames::value).flatMap(Optional::stream).findFirst();
  }

  /**
   * Re-wraps the tenant's DEK under a new master key and proves it: a canary encrypted before the rewrap
   * decrypts afterwards with an empty DEK cache, and every other key document is byte-identical.
   */
  public Future<Rotated> rotate(String slug, String provider, String descriptorJson, String caller) {
    return rotate(slug, provider, descriptorJson, false, caller);
  }

  /**
   * As above; {@code newCmk} rotates to the tenant's own AWS CMK in the provider and region asked for (created, or
   * reused through its alias). A new aws master key is preflighted before anything changes.
   */
  public Future<Rotated> rotate(String slug, String provider, String descriptorJson, boolean newCmk, String caller) {
    if (provider == null || provider.isEmpty()) {
      return Future.failedFuture(SiloException.invalid("new_master_key.provider",
          "is required (a master key without a provider would be ignored by the driver)"));
    }
    Target target;
    try {
      target = target(provider, descriptorJson, newCmk, "new_master_key");
    } catch (SiloException e) {
      return Future.failedFuture(e);
    }
    return requireTenant(slug).compose(tenant -> serialized(slug, () -> find(slug).compose(existing -> {
      if (existing.isEmpty()) {
        return Future.failedFuture(SiloException.precondition("tenant '" + slug + "' has no data key; create it first"));
      }
      return adoptIfUnmanaged(existing.get(), caller).compose(before -> resolve(tenant, target, caller)
          .compose(resolved -> rewrap(slug, before, provider, resolved))
          .recover(failure -> audit.record(new KeyAuditStore.Entry(slug, "ROTATE", before.keyId(), before.provider(),
                  json(before.masterKey()), provider, json(target.masterKey()), caller, false, safeMessage(failure)))
              .transform(ignored -> Future.failedFuture(failure)))
          .compose(after -> {
            KeyInfo key = after.key();
            return audit.record(new KeyAuditStore.Entry(slug, "ROTATE", key.keyId(), before.provider(),
                    json(before.masterKey()), key.provider(), json(key.masterKey()), caller, true, null))
                .map(auditId -> {
                  LOG.info("data key rotated tenant={} keyId={} from={} to={}", slug, key.keyId(), before.provider(),
                      key.provider());
                  return new Rotated(key, before.provider(), before.masterKey(), auditId, after.cmk());
                });
          }));
    })));
  }

  /** The key after a proven rewrap, and the tenant CMK it is now under if Silo supplied it. */
  private record Rewrapped(KeyInfo key, Optional<TenantCmks.Cmk> cmk) {
  }

  private Future<Rewrapped> rewrap(String slug, KeyInfo before, String provider, Resolved resolved) {
    BsonDocument masterKey = resolved.masterKey();
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
      // By _id: an adopted key may carry more alt names than the one Silo found it by.
      encryption.rewrapManyDataKey(Filters.eq("_id", uuidBinary(before.keyId())), options);
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
    })).compose(done -> find(slug)).map(after -> new Rewrapped(after.orElseThrow(), resolved.cmk()));
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

  /**
   * Schedules the deletion of an AWS KMS master key after {@code pendingWindowDays} (7-30), refused while any data key
   * in the vault is still wrapped by it (key references compared as resolved ARNs, so an alias and the ARN it points
   * at are the same key) or a retirement guard names a user.
   */
  public Future<TenantCmks.Retired> retireMasterKey(String provider, String descriptorJson, int pendingWindowDays,
                                                    String caller) {
    if (!kms.isAws(provider)) {
      return Future.failedFuture(SiloException.invalid("master_key.provider", "must be a configured aws provider "
          + "(only AWS KMS keys can be retired by Silo); got '" + provider + "'"));
    }
    BsonDocument masterKey;
    try {
      masterKey = kms.masterKey(provider, descriptorJson);
    } catch (IllegalArgumentException e) {
      return Future.failedFuture(SiloException.invalid("master_key", e.getMessage()));
    }
    if (aws == null) {
      return Future.failedFuture(SiloException.precondition("AWS KMS support is not available on this server"));
    }
    return aws.cmks().retire(AwsLocation.of(provider, masterKey), masterKey.getString("key").getValue(),
        pendingWindowDays, this::referencesOf, caller).recover(failure -> Future.failedFuture(AwsKms.translate(failure)));
  }

  /** What still uses the AWS KMS key with this ARN: data keys in the vault wrapped by it, then the guards' answers. */
  private Future<List<String>> referencesOf(String arn) {
    return blocking(() -> {
      // Key documents grouped by where their master key points, so each alias is resolved once.
      Map<List<String>, List<String>> byReference = new java.util.LinkedHashMap<>();
      for (BsonDocument doc : vault.find().projection(Projections.include("_id", "keyAltNames", "masterKey"))) {
        KeyInfo key = info(doc);
        if (!key.provider().equals("aws") && !key.provider().startsWith("aws:")) {
          continue;
        }
        BsonDocument mk = key.masterKey();
        List<String> where = List.of(key.provider(), string(mk, "region"), string(mk, "endpoint"), string(mk, "key"));
        String name = key.altNames().isEmpty() ? "key " + key.keyId() : key.altNames().get(0);
        byReference.computeIfAbsent(where, w -> new ArrayList<>()).add(name);
      }
      return byReference;
    }).compose(byReference -> {
      List<Future<List<String>>> checks = new ArrayList<>();
      byReference.forEach((where, names) -> checks.add(resolvesTo(where, arn).map(same -> same ? names : List.of())));
      retirementGuards.forEach(guard -> checks.add(guard.apply(arn)));
      return Future.all(checks).map(all -> {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < all.size(); i++) {
          out.addAll(all.<List<String>>resultAt(i));
        }
        return out;
      });
    });
  }

  /** Whether a key document's master key (provider, region, endpoint, key) names the key with this ARN. */
  private Future<Boolean> resolvesTo(List<String> where, String arn) {
    String provider = where.get(0);
    String region = where.get(1);
    String key = where.get(3);
    if (key.startsWith("arn:") && key.contains(":key/")) {
      return Future.succeededFuture(key.equals(arn));
    }
    if (!region.isEmpty() && AwsKms.arnRegion(arn).filter(r -> !r.equals(region)).isPresent()) {
      return Future.succeededFuture(false);
    }
    if (!kms.isAws(provider)) {
      // An alias or key id under a provider this server no longer has cannot be resolved: assume the worst.
      return Future.succeededFuture(true);
    }
    Optional<AwsEndpoint> endpoint = where.get(2).isEmpty() ? Optional.empty()
        : Optional.of(AwsEndpoint.parse(where.get(2)));
    return aws.kms().describeKey(new AwsLocation(provider, region, endpoint), key, "resolving AWS KMS key '" + key
            + "' of a data key")
        .map(found -> found.map(m -> arn.equals(m.arn())).orElse(false));
  }

  private static String string(BsonDocument doc, String field) {
    BsonValue value = doc.get(field);
    return value != null && value.isString() ? value.asString().getValue() : "";
  }

  private Future<TenantRecord> requireTenant(String slug) {
    return tenants.get(slug).compose(t -> t.isPresent() ? Future.succeededFuture(t.get())
        : Future.failedFuture(SiloException.notFound("tenant '" + slug + "' not found")));
  }

  /** Runs key operations of one tenant one after another in this process; the unique index covers other processes. */
  private <T> Future<T> serialized(String slug, Supplier<Future<T>> operation) {
    return tenantQueue.run(slug, operation);
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
    return new KeyInfo(uuid, alt, provider, masterKey, created, updated, "", Origin.UNMANAGED);
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
