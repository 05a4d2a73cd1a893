package io.silo.keys;

import io.silo.SiloException;
import io.silo.store.KeyAuditStore;
import io.silo.store.TenantCmkStore;
import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletionException;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.services.kms.model.AlreadyExistsException;
import software.amazon.awssdk.services.kms.model.KeyListEntry;
import software.amazon.awssdk.services.kms.model.KeyMetadata;
import software.amazon.awssdk.services.kms.model.KeySpec;
import software.amazon.awssdk.services.kms.model.KeyState;
import software.amazon.awssdk.services.kms.model.KeyUsageType;
import software.amazon.awssdk.services.kms.model.Tag;

/**
 * Each tenant's own AWS KMS master key (CMK), per provider and region: created once (symmetric, for encryption,
 * tagged with the tenant and the configured cost-centre tags, with the configured key policy), found again through
 * its alias {@code alias/silo/tenant-<slug>}, and retired by scheduled deletion once nothing references it.
 *
 * <p>Idempotence under crashes: AWS's CreateKey has no idempotency token, and finding a key by tag means listing
 * every key in the account and reading each one's tags, calls that are rate-limited. So a record in PostgreSQL is
 * written before CreateKey, with a provisioning id that is also a tag on the key. A call after a crash finds the key
 * by the ARN recorded once CreateKey answered, and only when that answer itself was lost does it scan the account
 * for the provisioning tag (ListKeys + ListResourceTags) - rare, and then exact - after waiting until AWS would list
 * the key (ListKeys is eventually consistent). A CreateKey whose answer was lost is never simply sent again.
 */
public final class TenantCmks {

  private static final Logger LOG = LoggerFactory.getLogger(TenantCmks.class);

  public static final String ALIAS_PREFIX = "alias/silo/tenant-";
  public static final String TENANT_TAG = "silo:tenant";
  public static final String PROVISIONING_TAG = "silo:provisioning-id";
  // Long enough for a throttled CreateKey + CreateAlias; a crashed instance's claim is taken over after it.
  private static final int CLAIM_SECONDS = 300;
  // AWS lists a new key after a short delay (ListKeys is eventually consistent): a scan for a key whose CreateKey went
  // out less than this long ago could miss it and make a second one, so such a call waits instead.
  private static final double LIST_SETTLE_SECONDS = 60;

  /** How a call came by the tenant's CMK. */
  public enum Outcome { CREATED, ADOPTED, EXISTING }

  /** A tenant's CMK. */
  public record Cmk(String arn, String alias, AwsLocation location, Outcome outcome) {
  }

  /** Result of a retirement: the key's ARN, when AWS will delete it, and whether that was already scheduled. */
  public record Retired(String arn, Instant deletionDate, boolean alreadyScheduled, long auditId) {
  }

  /** What runs between CreateKey and CreateAlias; tests put a crash there. */
  @FunctionalInterface
  interface Interruption {
    Future<Void> afterCreateKey(String tenant, String keyArn);
  }

  private final AwsKms kms;
  private final TenantCmkStore store;
  private final KeyAuditStore audit;
  private final KmsProviders.AwsCmkSettings settings;
  private final PerKeyQueue queue = new PerKeyQueue();
  private volatile Interruption interruption = (tenant, arn) -> Future.succeededFuture();
  private volatile double listSettleSeconds = LIST_SETTLE_SECONDS;

  public TenantCmks(AwsKms kms, TenantCmkStore store, KeyAuditStore audit) {
    this.kms = kms;
    this.store = store;
    this.audit = audit;
    this.settings = kms.providers().cmkSettings();
  }

  /** The alias of a tenant's CMK. */
  public static String alias(String slug) {
    return ALIAS_PREFIX + slug;
  }

  void interruptAfterCreateKey(Interruption interruption) {
    this.interruption = interruption;
  }

  /** Tests against the stub, whose ListKeys is immediately consistent, need not wait. */
  void listSettleSeconds(double seconds) {
    this.listSettleSeconds = seconds;
  }

  /**
   * The tenant's CMK at {@code at}: the key its alias points at (adopted and tagged if Silo did not make it), else one
   * an interrupted earlier call made, else a new one. Concurrent calls, in this process or others, leave one key.
   */
  public Future<Cmk> ensure(String slug, long tenantId, AwsLocation at, String caller) {
    String alias = alias(slug);
    String what = "the CMK of tenant '" + slug + "' (" + at + ")";
    return queue.run(at.provider() + "|" + at.region() + "|" + slug, () ->
        kms.describeKey(at, alias, "looking up " + what).compose(found -> {
          if (found.isPresent() && !pendingDeletion(found.get())) {
            return reuseOrAdopt(slug, tenantId, at, alias, found.get().arn(), caller, what);
          }
          // No alias yet, or it points at a retired key: make (or finish making) a new key.
          return provision(slug, tenantId, at, alias, found.isPresent(), caller, what);
        }));
  }

  private Future<Cmk> reuseOrAdopt(String slug, long tenantId, AwsLocation at, String alias, String arn, String caller,
                                   String what) {
    return store.get(at.provider(), at.region(), slug).compose(row -> {
      if (row.isPresent() && arn.equals(row.get().keyArn())) {
        if (row.get().state().equals("ACTIVE")) {
          return Future.succeededFuture(new Cmk(arn, alias, at, Outcome.EXISTING));
        }
        // Silo made the key and its alias, then stopped before recording that it was done.
        return store.activate(at.provider(), at.region(), slug, arn)
            .compose(v -> auditCmk(slug, "CMK_CREATE", at, arn, caller))
            .map(id -> new Cmk(arn, alias, at, Outcome.CREATED));
      }
      // Made by someone else, or by a Silo with another database: adopt it, unless it is tagged for another tenant.
      return kms.listTags(at, arn, "reading the tags of " + what).compose(tags -> {
        Optional<String> owner = tagValue(tags, TENANT_TAG);
        if (owner.isPresent() && !owner.get().equals(slug)) {
          return Future.failedFuture(SiloException.precondition(alias + " points at AWS KMS key " + arn
              + ", which is tagged " + TENANT_TAG + "=" + owner.get() + ", not '" + slug + "'; fix the alias"));
        }
        Future<Void> tagged = owner.isPresent() ? Future.succeededFuture()
            : kms.tag(at, arn, tags(slug, tenantId, null), "tagging " + what);
        return tagged.compose(v -> store.adopt(at.provider(), at.region(), slug, alias, arn))
            .compose(v -> auditCmk(slug, "CMK_ADOPT", at, arn, caller))
            .map(id -> {
              LOG.info("tenant CMK adopted tenant={} key={} location={}", slug, arn, at);
              return new Cmk(arn, alias, at, Outcome.ADOPTED);
            });
      });
    });
  }

  /** Where provisioning starts: the key an interrupted earlier call made, if any, and the provisioning id. */
  private record Start(Optional<String> arn, UUID provisioningId) {
  }

  private Future<Cmk> provision(String slug, long tenantId, AwsLocation at, String alias, boolean aliasExists,
                                String caller, String what) {
    return store.claim(at.provider(), at.region(), slug, alias, UUID.randomUUID(), CLAIM_SECONDS).compose(claimed -> {
      if (claimed.isEmpty()) {
        return Future.failedFuture(new SiloException(SiloException.Kind.ABORTED, "another Silo instance is creating "
            + what + "; retry shortly"));
      }
      TenantCmkStore.Cmk row = claimed.get();
      return start(row, at, slug, what)
          .compose(start -> start.arn().isPresent() ? Future.succeededFuture(start.arn().get())
              : sendCreateKey(slug, tenantId, at, start.provisioningId(), what)
                  // No answer: wait until AWS would list a key it made, then look for it; create only if there is none.
                  .recover(failure -> !(failure instanceof Unanswered) ? Future.failedFuture(failure)
                      : kms.after(settle()).compose(v -> findByProvisioningTag(at, start.provisioningId().toString(),
                              slug, what))
                          .compose(found -> found.isPresent() ? Future.succeededFuture(found.get())
                              : sendCreateKey(slug, tenantId, at, start.provisioningId(), what)))
                  .recover(failure -> Future.failedFuture(failure instanceof Unanswered u ? u.asUnavailable() : failure))
                  .compose(arn -> store.recordArn(at.provider(), at.region(), slug, arn).map(arn)))
          .compose(arn -> interruption.afterCreateKey(slug, arn).map(arn))
          .compose(arn -> pointAlias(at, alias, arn, aliasExists, what).map(arn))
          .compose(arn -> store.activate(at.provider(), at.region(), slug, arn)
              .compose(v -> auditCmk(slug, "CMK_CREATE", at, arn, caller))
              .map(id -> {
                LOG.info("tenant CMK created tenant={} key={} location={}", slug, arn, at);
                return new Cmk(arn, alias, at, Outcome.CREATED);
              }))
          .recover(failure -> store.release(at.provider(), at.region(), slug)
              .transform(ignored -> Future.failedFuture(failure)));
    });
  }

  private Future<Start> start(TenantCmkStore.Cmk row, AwsLocation at, String slug, String what) {
    if (row.keyArn() != null) {
      return kms.describeKey(at, row.keyArn(), "looking up " + what).compose(found -> {
        if (found.isPresent() && !pendingDeletion(found.get())) {
          return Future.succeededFuture(new Start(Optional.of(found.get().arn()), row.provisioningId()));
        }
        // The recorded key is gone or being deleted (it was retired): a new key, under a new provisioning id.
        UUID fresh = UUID.randomUUID();
        return store.restart(at.provider(), at.region(), slug, fresh).map(v -> new Start(Optional.empty(), fresh));
      });
    }
    Double since = row.secondsSinceCreateSent();
    if (since != null) {
      // An earlier call sent a CreateKey and never learned its answer: the key may exist.
      if (since < listSettleSeconds) {
        return Future.failedFuture(SiloException.unavailable(what + ": a CreateKey sent " + Math.round(since)
            + " s ago got no answer, and AWS lists new keys with a delay; retry in "
            + Math.round(Math.ceil(listSettleSeconds - since)) + " s to adopt the key it may have made", null));
      }
      return findByProvisioningTag(at, row.provisioningId().toString(), slug, what)
          .map(arn -> new Start(arn, row.provisioningId()));
    }
    return Future.succeededFuture(new Start(Optional.empty(), row.provisioningId()));
  }

  /** A CreateKey that may or may not have made a key: it left, and no answer came back. */
  private static final class Unanswered extends RuntimeException {
    Unanswered(String message) {
      super(message);
    }

    SiloException asUnavailable() {
      return new SiloException(SiloException.Kind.UNAVAILABLE, getMessage() + "; run the request again later, it "
          + "adopts a key this attempt may have made");
    }
  }

  private java.time.Duration settle() {
    return java.time.Duration.ofMillis(Math.round(listSettleSeconds * 1000));
  }

  /**
   * CreateKey with the record kept straight: create_sent_at set before it leaves, and cleared when AWS refuses it
   * (then no key was made and nothing needs to be looked for later).
   */
  private Future<String> sendCreateKey(String slug, long tenantId, AwsLocation at, UUID provisioningId, String what) {
    return store.markCreateSent(at.provider(), at.region(), slug)
        .compose(v -> createKey(slug, tenantId, at, provisioningId, what))
        .recover(failure -> answered(failure)
            ? store.clearCreateSent(at.provider(), at.region(), slug).transform(ignored -> Future.failedFuture(failure))
            : Future.failedFuture(failure));
  }

  private Future<String> createKey(String slug, long tenantId, AwsLocation at, UUID provisioningId, String what) {
    List<Tag> tags = tags(slug, tenantId, provisioningId);
    String policy = settings.keyPolicy();
    return kms.call(at, AwsKms.CREATE_KEY, "creating " + what, client -> client.createKey(b -> {
      b.keySpec(KeySpec.SYMMETRIC_DEFAULT).keyUsage(KeyUsageType.ENCRYPT_DECRYPT).tags(tags)
          .description("Silo: CSFLE master key of tenant " + slug);
      if (policy != null) {
        b.policy(policy);
      }
    }).handle((response, failure) -> {
      if (failure == null) {
        return response.keyMetadata().arn();
      }
      Throwable cause = failure instanceof CompletionException && failure.getCause() != null
          ? failure.getCause() : failure;
      if (cause instanceof SdkClientException && !KmsErrors.neverSent(cause)) {
        // No answer: the key may exist, and sending CreateKey again could make a second one. Not retried here.
        String detail = String.valueOf(cause.getMessage());
        throw new CompletionException(new Unanswered("creating " + what + ": AWS KMS did not answer CreateKey ("
            + cause.getClass().getSimpleName() + ": " + (detail.length() > 200 ? detail.substring(0, 200) : detail)
            + ")"));
      }
      throw failure instanceof CompletionException c ? c : new CompletionException(failure);
    }));
  }

  /** Whether AWS answered a CreateKey with a refusal (throttled, denied, over a limit): then it made no key. */
  private static boolean answered(Throwable failure) {
    int depth = 0;
    for (Throwable t = failure; t != null && depth < 16; t = t.getCause(), depth++) {
      if (t instanceof software.amazon.awssdk.awscore.exception.AwsServiceException) {
        return true;
      }
    }
    return false;
  }

  private Future<Void> pointAlias(AwsLocation at, String alias, String arn, boolean exists, String what) {
    if (exists) {
      return kms.call(at, AwsKms.UPDATE_ALIAS, "re-pointing " + alias + " for " + what,
          c -> c.updateAlias(b -> b.aliasName(alias).targetKeyId(arn))).mapEmpty();
    }
    return kms.call(at, AwsKms.CREATE_ALIAS, "creating " + alias + " for " + what,
            c -> c.createAlias(b -> b.aliasName(alias).targetKeyId(arn))).<Void>mapEmpty()
        .recover(failure -> {
          if (!(failure instanceof AlreadyExistsException)) {
            return Future.failedFuture(failure);
          }
          // The alias appeared since it was looked up (or an earlier attempt's answer was lost): fine if it is ours.
          return kms.describeKey(at, alias, "looking up " + alias).compose(found -> {
            if (found.isPresent() && arn.equals(found.get().arn())) {
              return Future.succeededFuture();
            }
            if (found.isPresent() && pendingDeletion(found.get())) {
              return pointAlias(at, alias, arn, true, what);
            }
            return Future.failedFuture(SiloException.precondition(alias + " already points at AWS KMS key "
                + found.map(KeyMetadata::arn).orElse("(unknown)") + "; the key Silo made, " + arn + " (tag "
                + PROVISIONING_TAG + "), stays unused"));
          });
        });
  }

  private Future<Optional<String>> findByProvisioningTag(AwsLocation at, String provisioningId, String slug,
                                                         String what) {
    return kms.listKeys(at, "listing keys to find " + what)
        .compose(keys -> scan(at, keys.iterator(), provisioningId, slug, what));
  }

  private Future<Optional<String>> scan(AwsLocation at, Iterator<KeyListEntry> keys, String provisioningId,
                                        String slug, String what) {
    if (!keys.hasNext()) {
      return Future.succeededFuture(Optional.empty());
    }
    KeyListEntry key = keys.next();
    return kms.listTags(at, key.keyArn(), "reading tags to find " + what)
        // A key deleted or closed to these credentials since ListKeys cannot be the one this tenant's call made.
        .recover(failure -> AwsKms.isNotFound(failure) || AwsKms.errorCode(failure).equals("AccessDeniedException")
            ? Future.succeededFuture(List.of()) : Future.failedFuture(failure))
        .compose(tags -> {
          if (tagValue(tags, PROVISIONING_TAG).filter(provisioningId::equals).isPresent()
              && tagValue(tags, TENANT_TAG).filter(slug::equals).isPresent()) {
            LOG.info("tenant CMK found by its provisioning tag tenant={} key={}", slug, key.keyArn());
            return Future.succeededFuture(Optional.of(key.keyArn()));
          }
          return scan(at, keys, provisioningId, slug, what);
        });
  }

  /**
   * Schedules the deletion of an AWS KMS key after {@code pendingWindowDays}, unless {@code referencesOf} (given the
   * key's ARN) names anything that still uses it; then FAILED_PRECONDITION listing them. A key already pending
   * deletion is reported as it is.
   */
  public Future<Retired> retire(AwsLocation at, String keyId, int pendingWindowDays,
                                Function<String, Future<List<String>>> referencesOf, String caller) {
    String what = "retiring AWS KMS key '" + keyId + "' (" + at + ")";
    return kms.describeKey(at, keyId, what).compose(found -> {
      if (found.isEmpty()) {
        return Future.failedFuture(SiloException.precondition("AWS KMS key '" + keyId + "' does not exist in "
            + at.region() + " (provider " + at.provider() + ")"));
      }
      KeyMetadata key = found.get();
      return queue.run("retire|" + key.arn(), () -> {
        if (pendingDeletion(key)) {
          return Future.succeededFuture(new Retired(key.arn(), key.deletionDate(), true, 0));
        }
        return referencesOf.apply(key.arn()).compose(references -> {
          if (!references.isEmpty()) {
            String refusal = "AWS KMS key " + key.arn() + " is still in use by " + references.size()
                + " data key(s) or bucket(s) (" + String.join(", ", references.subList(0, Math.min(10,
                references.size()))) + (references.size() > 10 ? ", ..." : "") + "); rotate data keys to another"
                + " master key, and roll back or re-encrypt buckets, first";
            return auditRetire(key.arn(), at, caller, false, refusal)
                .compose(id -> Future.failedFuture(SiloException.precondition(refusal)));
          }
          return kms.scheduleDeletion(at, key.arn(), pendingWindowDays, what)
              .compose(response -> store.markDeletionScheduled(key.arn(),
                      response.deletionDate().atOffset(ZoneOffset.UTC))
                  .compose(v -> auditRetire(key.arn(), at, caller, true, null))
                  .map(id -> {
                    LOG.warn("AWS KMS key deletion scheduled key={} deletionDate={} caller={}", key.arn(),
                        response.deletionDate(), caller);
                    return new Retired(key.arn(), response.deletionDate(), false, id);
                  }));
        });
      });
    });
  }

  private Future<Long> auditRetire(String arn, AwsLocation at, String caller, boolean ok, String error) {
    return store.byArn(arn).compose(row -> audit.record(new KeyAuditStore.Entry(row.map(TenantCmkStore.Cmk::tenant)
        .orElse(""), "CMK_SCHEDULE_DELETION", null, at.provider(), descriptor(at, arn), null, null, caller, ok, error)));
  }

  private Future<Long> auditCmk(String slug, String action, AwsLocation at, String arn, String caller) {
    return audit.record(new KeyAuditStore.Entry(slug, action, null, null, null, at.provider(), descriptor(at, arn),
        caller, true, null));
  }

  private static JsonObject descriptor(AwsLocation at, String arn) {
    return new JsonObject().put("key", arn).put("region", at.region());
  }

  /** Silo's tags and the configured ones ({slug} and {id} filled in); the provisioning tag only on keys Silo makes. */
  private List<Tag> tags(String slug, long tenantId, UUID provisioningId) {
    List<Tag> out = new ArrayList<>();
    out.add(Tag.builder().tagKey(TENANT_TAG).tagValue(slug).build());
    if (provisioningId != null) {
      out.add(Tag.builder().tagKey(PROVISIONING_TAG).tagValue(provisioningId.toString()).build());
    }
    for (String template : settings.tagTemplates()) {
      int eq = template.indexOf('=');
      String value = template.substring(eq + 1).replace("{slug}", slug).replace("{id}", Long.toString(tenantId));
      out.add(Tag.builder().tagKey(template.substring(0, eq)).tagValue(value).build());
    }
    return out;
  }

  private static Optional<String> tagValue(List<Tag> tags, String key) {
    return tags.stream().filter(t -> key.equals(t.tagKey())).map(Tag::tagValue).findFirst();
  }

  static boolean pendingDeletion(KeyMetadata key) {
    return key.keyState() == KeyState.PENDING_DELETION || key.keyState() == KeyState.PENDING_REPLICA_DELETION;
  }
}
