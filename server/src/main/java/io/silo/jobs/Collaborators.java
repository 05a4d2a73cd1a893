package io.silo.jobs;

import io.silo.mongo.EncryptionPlan;
import io.silo.mongo.MongoCopyPipeline;
import io.vertx.core.Context;
import io.vertx.core.Future;
import java.util.UUID;
import java.util.function.LongConsumer;
import java.util.function.Supplier;

/** What a migration run needs from the other capabilities, as narrow interfaces so tests can drive the engine. */
public final class Collaborators {

  private Collaborators() {
  }

  /** The tenant's data key, created if missing, and the KMS budget permit source for its master key. */
  public record TenantKey(UUID keyId, Supplier<Future<Void>> kmsPermit) {
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
    MongoCopyPipeline pipeline(EncryptionPlan plan, Context context, Supplier<Future<Void>> kmsPermit);
  }

  /** Result of verifying a tenant. */
  public record VerifyResult(long checked, long findings) {
  }

  /** The VERIFY phase: checks the tenant's target against its source; {@code checked} reports progress. */
  public interface Verifier {
    Future<VerifyResult> verify(String tenant, UUID keyId, EncryptionPlan plan, LongConsumer checked);
  }
}
