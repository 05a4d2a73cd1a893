package io.silo.jobs;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Claims PLANNED jobs (and RUNNING ones whose runner's lease expired) from PostgreSQL with leases and runs up to
 * {@code maxConcurrent} of them. A single instance
 * uses the same claim path as a fleet, so a crashed instance's jobs are picked up by whoever polls after its lease
 * expires — including the same process restarted.
 */
public final class MigrationEngine {

  private static final Logger LOG = LoggerFactory.getLogger(MigrationEngine.class);

  /** Engine tuning, from the jobs.* and migration.* settings. */
  public record Settings(int maxConcurrent, int leaseSeconds, int pollMillis, boolean verifyAfterCopy) {
  }

  private final Vertx vertx;
  private final Context context;
  private final MigrationStore store;
  private final ProgressBus bus;
  private final Phases phases;
  private final MigrationMetrics metrics;
  private final Settings settings;
  private final String owner;
  private final Map<UUID, MigrationRunner> running = new ConcurrentHashMap<>();
  private final List<Future<Void>> runs = new ArrayList<>();
  private long pollTimer = -1;
  private boolean claiming;
  private boolean stopped;

  public MigrationEngine(Vertx vertx, MigrationStore store, ProgressBus bus, Phases phases, MigrationMetrics metrics,
                         Settings settings) {
    this.vertx = vertx;
    // One context for all runs: pipeline state is single-threaded, heavy work goes to worker pools anyway.
    this.context = vertx.getOrCreateContext();
    this.store = store;
    this.bus = bus;
    this.phases = phases;
    this.metrics = metrics;
    this.settings = settings;
    this.owner = ManagementFactory.getRuntimeMXBean().getName() + "/" + UUID.randomUUID().toString().substring(0, 8);
  }

  /** Starts polling for claimable jobs. */
  public void start() {
    context.runOnContext(v -> {
      pollTimer = vertx.setPeriodic(settings.pollMillis(), t -> claimMore());
      claimMore();
    });
  }

  /** Looks for work now instead of at the next poll; called after Start and Resume. */
  public void wake() {
    context.runOnContext(v -> claimMore());
  }

  private void claimMore() {
    if (stopped || claiming || running.size() >= settings.maxConcurrent()) {
      return;
    }
    claiming = true;
    store.claim(owner, settings.leaseSeconds(), java.util.Set.copyOf(running.keySet())).onComplete(claimed -> {
      claiming = false;
      if (claimed.failed()) {
        LOG.warn("claiming a migration failed: {}", claimed.cause().toString());
        return;
      }
      if (claimed.result().isEmpty() || stopped) {
        claimed.result().ifPresent(job -> store.releaseLease(job.id(), job.leaseToken()));
        return;
      }
      launch(claimed.result().get());
      claimMore();
    });
  }

  private void launch(MigrationRecord job) {
    MigrationRunner runner;
    try {
      runner = new MigrationRunner(context, store, bus, phases, metrics, settings.leaseSeconds(),
          settings.verifyAfterCopy(), job);
    } catch (RuntimeException e) {
      // A stored definition this server cannot parse (a phase it does not run): the job needs an operator.
      LOG.error("migration {} tenant={}: {}", job.id(), job.tenant(), e.getMessage());
      store.finishRun(job.id(), job.leaseToken(), "FAILED", null, "needs an operator: " + e.getMessage());
      return;
    }
    running.put(job.id(), runner);
    metrics.leaseAcquired();
    Future<Void> run = runner.run().onComplete(done -> {
      running.remove(job.id());
      metrics.leaseReleased(runner.leaseLost());
      claimMore();
    });
    runs.add(run);
    run.onComplete(done -> runs.remove(run));
  }

  /**
   * Stops claiming, asks every run to stop after its current batch and hand back its lease, and waits for them, so
   * a restart (or another instance) continues at once instead of waiting for the leases to expire.
   */
  public Future<Void> shutdown() {
    Promise<Void> done = Promise.promise();
    context.runOnContext(v -> {
      stopped = true;
      if (pollTimer >= 0) {
        vertx.cancelTimer(pollTimer);
      }
      running.values().forEach(MigrationRunner::shutdown);
      Future.join(new ArrayList<>(runs)).onComplete(x -> done.complete());
    });
    return done.future();
  }
}
