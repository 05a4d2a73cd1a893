package io.silo.jobs;

import io.silo.mongo.EncryptionPlan;
import io.silo.mongo.MongoCopyPipeline;
import io.vertx.core.Context;
import io.vertx.core.Future;
import java.util.UUID;
import java.util.function.BooleanSupplier;
import java.util.function.LongConsumer;
import java.util.function.Supplier;

/** What a migration run needs from the other capabilities, as narrow interfaces so tests can drive the engine. */
public final class Collaborators {

  private Collaborators() {
  }

  /** The tenant's data key, created if missing, and the KMS budget permit source for its master key. */
  public record TenantKey(UUID keyId, Supplier<Future<Void>> kmsPermit, Runnable onThrottled, Runnable onSuccess) {
    public TenantKey(UUID keyId, Supplier<Future<Void>> kmsPermit) {
      this(keyId, kmsPermit, () -> { }, () -> { });
    }
  }

  /** The KEYS phase: ensures the tenant's DEK exists. */
  public interface Keys {
    Future<TenantKey> ensure(String tenant, String caller);
  }

  /** The MONGO phase's resources. */
  public interface Mongo {
    /** Makes the target ready (its tenant index), idempotently. */
    Future<Void> prepareTarget(EncryptionPlan plan);

    /** Number of the tenant's source documents. */
    Future<Long> countSource(EncryptionPlan plan, String tenant);

    /** A pipeline bound to {@code context}. */
    MongoCopyPipeline pipeline(EncryptionPlan plan, Context context, Supplier<Future<Void>> kmsPermit,
                               Runnable onThrottled, Runnable onSuccess);
  }

  /**
   * Result of verifying a tenant: {@code unfit} of the findings are source documents the plan does not fit, which
   * the copy already reported as failed items; the rest are problems.
   */
  public record VerifyResult(long checked, long findings, long unfit) {
    public VerifyResult(long checked, long findings) {
      this(checked, findings, 0);
    }

    public long problems() {
      return findings - unfit;
    }
  }

  /**
   * What a re-sync changed; {@code purgedAt} is set when the tenant's source was purged before, in which case target
   * documents without a source are the only copies and were kept.
   */
  public record ResyncResult(long inserted, long replaced, long deleted, long keptWithoutSource, long conflicts,
                             String purgedAt) {
  }

  /** The VERIFY phase, and the re-sync that ends a copy into a target that may already hold the tenant. */
  public interface Verifier {
    /** Checks the tenant's target against its source; {@code checked} reports progress. */
    Future<VerifyResult> verify(String tenant, UUID keyId, EncryptionPlan plan, LongConsumer checked);

    /**
     * Converges the tenant's target to its source as it is now (changed documents re-encrypted and replaced, deleted
     * ones removed unless the source was purged); {@code stop} is polled between batches.
     */
    Future<ResyncResult> resync(String tenant, UUID keyId, EncryptionPlan plan, BooleanSupplier stop);
  }
}
