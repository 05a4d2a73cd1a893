package io.silo.jobs;

import java.util.UUID;
import java.util.function.BooleanSupplier;

/**
 * What verify, rollback and purge of one phase work on: the tenant, the definition's part for the phase, the data
 * key the migration wrote with (null when none exists), whether the tenant's source was purged before (then items
 * only in the target are the only copies), where findings go, and a stop flag polled between batches.
 */
public record TenantScope(String tenant, UUID migrationId, PhaseSpec spec, UUID keyId, String sourcePurgedAt,
                          FindingSink sink, BooleanSupplier stop) {

  public boolean sourcePurged() {
    return sourcePurgedAt != null;
  }

  public <T extends PhaseSpec> T spec(Class<T> type) {
    return type.cast(spec);
  }

  /** Receives a verification's findings and progress, possibly from a worker thread. */
  public interface FindingSink {
    void finding(Finding finding);

    void checked(long soFar);

    /** A sink that counts nothing (rollback, purge, or a run's VERIFY stage that only needs the totals). */
    FindingSink NONE = new FindingSink() {
      @Override
      public void finding(Finding finding) {
      }

      @Override
      public void checked(long soFar) {
      }
    };
  }
}
