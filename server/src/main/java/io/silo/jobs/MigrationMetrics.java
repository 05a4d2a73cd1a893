package io.silo.jobs;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/** Micrometer meters of the migration engine: documents by result, batches in flight, leases held and lost. */
public final class MigrationMetrics {

  private final Counter migrated;
  private final Counter skipped;
  private final Counter failed;
  private final Counter leasesLost;
  private final AtomicInteger batchesInFlight = new AtomicInteger();
  private final AtomicInteger leasesHeld = new AtomicInteger();

  public MigrationMetrics(MeterRegistry registry, Supplier<Number> watchers) {
    migrated = Counter.builder("silo.migration.documents").tag("result", "migrated")
        .description("Documents written to the encrypted target").register(registry);
    skipped = Counter.builder("silo.migration.documents").tag("result", "already_present")
        .description("Documents found already migrated (replayed batches, re-runs)").register(registry);
    failed = Counter.builder("silo.migration.documents").tag("result", "failed")
        .description("Documents that did not fit the field plan").register(registry);
    leasesLost = Counter.builder("silo.migration.leases.lost")
        .description("Runs stopped because another instance took over their lease").register(registry);
    Gauge.builder("silo.migration.batches.inflight", batchesInFlight, AtomicInteger::get)
        .description("Batches being encrypted or written").register(registry);
    Gauge.builder("silo.migration.leases.held", leasesHeld, AtomicInteger::get)
        .description("Migration jobs this instance holds a lease on").register(registry);
    // Strong reference: the supplier is a lambda nobody else holds, and a weakly held one reads NaN after a GC.
    Gauge.builder("silo.watchers.active", watchers, s -> s.get().doubleValue()).strongReference(true)
        .description("Open WatchMigration streams").register(registry);
  }

  void batch(int copied, int alreadyPresent, int failures) {
    migrated.increment(copied);
    skipped.increment(alreadyPresent);
    failed.increment(failures);
  }

  public void batchStarted() {
    batchesInFlight.incrementAndGet();
  }

  public void batchFinished() {
    batchesInFlight.decrementAndGet();
  }

  void leaseAcquired() {
    leasesHeld.incrementAndGet();
  }

  void leaseReleased(boolean lost) {
    leasesHeld.decrementAndGet();
    if (lost) {
      leasesLost.increment();
    }
  }
}
