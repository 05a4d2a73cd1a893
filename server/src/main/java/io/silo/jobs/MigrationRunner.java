package io.silo.jobs;

import io.silo.SiloException;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.sqlclient.SqlConnection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CancellationException;
import java.util.function.Function;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs one claimed job through its phases in order (each a {@link Phase} plug-in), then the VERIFY stage over every
 * phase that ran, resuming from the stored phase and its checkpoint. Every write to the job is fenced by the lease
 * token; losing the lease stops the run without touching state.
 */
final class MigrationRunner {

  private static final Logger LOG = LoggerFactory.getLogger(MigrationRunner.class);

  private final Context context;
  private final MigrationStore store;
  private final ProgressBus bus;
  /** The phases of this job's definition, in order. */
  private final List<Phase> phases;
  private final MigrationMetrics metrics;
  private final int leaseSeconds;
  private final boolean verifyAfterCopy;
  private final long token;
  private final JobDefinition definition;
  private MigrationRecord job;
  private TenantKey key;
  private long timerId = -1;
  private volatile boolean leaseLost;
  private volatile boolean shuttingDown;
  /** A pause or cancel seen by a heartbeat; the VERIFY stage, which has no checkpoints, stops on it. */
  private volatile String stopRequested;
  private RateMeter rate = new RateMeter();
  /** Findings of this run's verification that are not already failed items; set by the VERIFY stage. */
  private long problems;

  MigrationRunner(Context context, MigrationStore store, ProgressBus bus, Phases all, MigrationMetrics metrics,
                  int leaseSeconds, boolean verifyAfterCopy, MigrationRecord claimed) {
    this.context = context;
    this.store = store;
    this.bus = bus;
    this.metrics = metrics;
    this.leaseSeconds = leaseSeconds;
    this.verifyAfterCopy = verifyAfterCopy;
    this.job = claimed;
    this.token = claimed.leaseToken();
    this.definition = all.parse(claimed.definition());
    this.phases = all.applicable(definition);
  }

  UUID id() {
    return job.id();
  }

  /** Whether the run stopped because its lease was taken over or its job was changed under it. */
  boolean leaseLost() {
    return leaseLost;
  }

  /** Asks the run to stop after its current batch and hand the lease back (orderly shutdown). */
  void shutdown() {
    shuttingDown = true;
  }

  private boolean stopping() {
    return stopRequested != null || shuttingDown || leaseLost;
  }

  /** Runs to the end of the job or until stopped; never fails (failures are recorded on the job). */
  Future<Void> run() {
    long period = Math.max(200, leaseSeconds * 1000L / 3);
    timerId = context.owner().setPeriodic(period, t -> store.heartbeat(job.id(), token, leaseSeconds)
        .onSuccess(lease -> {
          if (!lease.held()) {
            leaseLost = true;
          } else if (lease.requested() != null) {
            stopRequested = lease.requested();
          }
        }));
    LOG.info("migration {} tenant={} claimed (phase {}, token {})", job.id(), job.tenant(), job.phase(), token);
    publish(job);
    return workPhases(0)
        .compose(stopped -> stopped ? Future.succeededFuture() : verifyStage()
            .compose(verifyStopped -> verifyStopped ? applyStop(stopRequested) : finish()))
        .recover(this::onFailure)
        .eventually(() -> {
          context.owner().cancelTimer(timerId);
          return Future.succeededFuture();
        });
  }

  /** Position of the stored phase among this job's phases; past the end once they are all done. */
  private int resumeIndex() {
    for (int i = 0; i < phases.size(); i++) {
      if (phases.get(i).name().name().equals(job.phase())) {
        return i;
      }
    }
    return phases.size();
  }

  /**
   * Runs the phases from the stored one on, one after the other (iteratively, so a long list cannot grow the stack).
   * Phases before it are done, except those that re-run on every claim (KEYS re-checks the key the run is bound to).
   * True when the run stopped early.
   */
  private Future<Boolean> workPhases(int i) {
    if (i >= phases.size()) {
      return Future.succeededFuture(false);
    }
    Phase phase = phases.get(i);
    int from = resumeIndex();
    if (i < from && !phase.rerunsOnResume()) {
      return workPhases(i + 1);
    }
    Future<Boolean> ran = i < from ? runOnce(phase).map(outcome -> outcome == Phase.Outcome.STOPPED)
        : runPhase(phase, i);
    return ran.compose(stopped -> stopped ? Future.succeededFuture(true) : workPhases(i + 1));
  }

  /**
   * Runs a phase with a context of its own, which stops taking job rows from writes once the phase has returned: a
   * write the phase left behind (a late total) must not put back the state an applied pause or failure replaced.
   */
  private Future<Phase.Outcome> runOnce(Phase phase) {
    Run run = new Run(phase);
    return phase.run(run).andThen(done -> run.ended = true);
  }

  private Future<Boolean> runPhase(Phase phase, int ordinal) {
    Future<MigrationRecord> entered = job.phase().equals(phase.name().name()) && job.progress(phase.name()).isPresent()
        ? Future.succeededFuture(job)
        : store.enterPhase(job.id(), token, phase.name(), ordinal, target(phase));
    return entered.compose(updated -> {
      job = updated;
      rate = new RateMeter();
      publish(job);
      return runOnce(phase);
    }).compose(outcome -> {
      if (outcome == Phase.Outcome.COMPLETE) {
        return Future.succeededFuture(false);
      }
      return applyStop(stopRequested != null ? stopRequested : job.requested()).map(true);
    });
  }

  private String target(Phase phase) {
    return definition.part(phase.name()).map(PhaseSpec::target).orElse(null);
  }

  /** COMPLETED only when verified clean (or verification is off); otherwise VERIFY_FAILED, which purge refuses. */
  private Future<Void> finish() {
    boolean clean = problems == 0;
    String state = clean ? "COMPLETED" : "VERIFY_FAILED";
    String error = clean ? null : "verification found " + problems + " problem(s); run `silo verify "
        + job.tenant() + "` for details, then `silo migrate " + job.tenant() + "` to re-sync";
    return store.finishRun(job.id(), token, state, "DONE", error).map(done -> {
      publish(done);
      LOG.info("migration {} tenant={} {}: {} done, {} failed, {} findings", done.id(), done.tenant(), state,
          done.done(), done.failed(), done.verifyFindings());
      return null;
    });
  }

  /** After a phase stopped early: apply a requested pause/cancel, or hand the lease back on shutdown. */
  private Future<Void> applyStop(String requested) {
    if (leaseLost) {
      LOG.warn("migration {} tenant={}: lease lost, stopping without changing state", job.id(), job.tenant());
      return Future.succeededFuture();
    }
    if (requested != null) {
      String state = requested.equals("PAUSE") ? "PAUSED" : "CANCELLED";
      return store.finishRun(job.id(), token, state, null, null).map(updated -> {
        job = updated;
        publish(job);
        LOG.info("migration {} tenant={} {} in phase {} at {} / {}", job.id(), job.tenant(), state, job.phase(),
            job.done(), job.total());
        return null;
      });
    }
    return store.releaseLease(job.id(), token);
  }

  /**
   * Verifies every phase that ran, one after the other, and records the result with the definition it answered.
   * True when it stopped early for a pause, cancel or shutdown (it starts over on resume).
   */
  private Future<Boolean> verifyStage() {
    if (!verifyAfterCopy) {
      return job.phase().equals("DONE") ? Future.succeededFuture(false)
          : store.enterPhase(job.id(), token, PhaseName.DONE, phases.size(), null).map(updated -> {
            job = updated;
            return false;
          });
    }
    Future<MigrationRecord> entered = job.phase().equals("VERIFY") ? Future.succeededFuture(job)
        : store.enterPhase(job.id(), token, PhaseName.VERIFY, phases.size(), null);
    return entered.compose(updated -> {
      job = updated;
      publish(job);
      long[] totals = new long[3];
      RateMeter verifyRate = new RateMeter();
      long[] lastChecked = {0};
      long[] lastPublish = {0};
      Future<Void> chain = Sequentially.forEach(phases, phase -> sourcePurgedAt(phase).compose(purgedAt -> {
        long base = totals[0];
        TenantScope scope = new TenantScope(job.tenant(), job.id(), definition.part(phase.name()).orElse(null),
            job.keyId(), purgedAt.orElse(null), new TenantScope.FindingSink() {
              @Override
              public void finding(Finding finding) {
              }

              @Override
              public void checked(long soFar) {
                // Runs on the verifier's thread after each batch: throwing here is how the verify is cut short.
                if (stopping()) {
                  throw new CancellationException("migration stop requested");
                }
                context.runOnContext(v -> publishVerifyProgress(base + soFar, verifyRate, lastChecked, lastPublish));
              }
            }, this::stopping);
        return phase.verify(scope).map(result -> {
          totals[0] += result.checked();
          totals[1] += result.findings();
          totals[2] += result.unfit();
          return null;
        });
      }));
      List<PhaseName> names = phases.stream().map(Phase::name).toList();
      return chain.compose(v -> store.recordVerification(job.tenant(), job.id(), job.definition(), names,
              describe(PhaseSpec::source), describe(PhaseSpec::target), totals[0], totals[1], "migration " + job.id())
          .compose(id -> store.verified(job.id(), token, totals[0], totals[1]))
          .map(verified -> {
            job = verified;
            problems = totals[1] - totals[2];
            return false;
          }));
    }).recover(failure -> failure instanceof CancellationException && (stopRequested != null || shuttingDown)
        && !leaseLost ? Future.succeededFuture(true) : Future.failedFuture(failure));
  }

  private String describe(Function<PhaseSpec, String> side) {
    return String.join(", ", definition.parts().values().stream().map(side).toList());
  }

  private Future<Optional<String>> sourcePurgedAt(Phase phase) {
    Optional<PhaseSpec> spec = definition.part(phase.name());
    if (spec.isEmpty()) {
      return Future.succeededFuture(Optional.empty());
    }
    return store.lastPurge(job.tenant(), spec.get().source())
        .map(p -> p.map(purge -> purge.time() + " (audit #" + purge.auditId() + ")"));
  }

  private void publishVerifyProgress(long checked, RateMeter verifyRate, long[] lastChecked, long[] lastPublish) {
    verifyRate.record(checked - lastChecked[0]);
    lastChecked[0] = checked;
    long now = System.nanoTime();
    if (now - lastPublish[0] > 500_000_000L) {
      lastPublish[0] = now;
      double perSecond = verifyRate.perSecond();
      long left = Math.max(0, job.done() + job.failed() - checked);
      bus.publish(new ProgressBus.Snapshot(job.withVerifyProgress(checked), perSecond,
          perSecond > 0 ? Duration.ofMillis((long) (left / perSecond * 1000)) : null));
    }
  }

  private Future<Void> onFailure(Throwable failure) {
    if (failure instanceof MigrationStore.LeaseLostException || leaseLost) {
      leaseLost = true;
      LOG.warn("migration {} tenant={}: lease lost ({}); another runner or an operator owns it", job.id(),
          job.tenant(), failure.getMessage());
      return Future.succeededFuture();
    }
    String message = safeMessage(failure);
    if (message.contains("not all keys requested were satisfied")) {
      // libmongocrypt's wording points at configuration; the usual cause during a run is a shredded or deleted key.
      message = "the tenant's data key " + job.keyId() + " is no longer in the key vault (shredded or deleted?); "
          + "libmongocrypt: not all keys requested were satisfied";
    }
    if (Transient.is(failure) && job.retryAttempts() < Transient.MAX_ATTEMPTS) {
      double delay = Transient.backoffSeconds(job.retryAttempts());
      String reason = "transient (retry " + (job.retryAttempts() + 1) + " of " + Transient.MAX_ATTEMPTS + " in "
          + String.format(java.util.Locale.ROOT, "%.1f", delay) + " s, from the last checkpoint): " + message;
      LOG.warn("migration {} tenant={} phase {}: {}", job.id(), job.tenant(), job.phase(), reason);
      return store.retryLater(job.id(), token, delay, reason)
          .map(updated -> {
            publish(updated);
            return (Void) null;
          })
          .recover(e -> {
            // PostgreSQL itself may be what is down: the lease then simply expires and the run is claimed again.
            LOG.warn("migration {}: could not requeue after a transient fault ({}); it resumes when its lease expires",
                job.id(), e.toString());
            return Future.succeededFuture();
          });
    }
    String kind = Transient.is(failure) ? "transient fault persisted after " + Transient.MAX_ATTEMPTS
        + " retries: " : "needs an operator (a retry cannot fix this): ";
    String recorded = kind + message;
    LOG.error("migration {} tenant={} failed in phase {}: {}", job.id(), job.tenant(), job.phase(), recorded);
    return store.finishRun(job.id(), token, "FAILED", null, recorded)
        .map(updated -> {
          publish(updated);
          return (Void) null;
        })
        .recover(e -> {
          LOG.warn("migration {}: could not record the failure: {}", job.id(), e.toString());
          return Future.succeededFuture();
        });
  }

  private void publish(MigrationRecord record) {
    Optional<PhaseProgress> current = Optional.empty();
    for (Phase phase : phases) {
      if (phase.name().name().equals(record.phase())) {
        current = record.progress(phase.name());
      }
    }
    double perSecond = record.state().equals("RUNNING") && current.isPresent() ? rate.perSecond() : 0;
    // No ETA while the phase's total is still being counted (the copy starts without waiting for it).
    Duration eta = perSecond > 0 && current.get().total() > 0
        ? Duration.ofMillis((long) (current.get().left() / perSecond * 1000)) : null;
    bus.publish(new ProgressBus.Snapshot(record, perSecond, eta));
  }

  /**
   * Failure text for the job row and watchers: class, a reason and the cause chain's first message, cut short.
   * Driver, libmongocrypt and S3 messages name collections, keys, buckets and ids, not field values.
   */
  static String safeMessage(Throwable failure) {
    if (failure instanceof SiloException s) {
      return s.getMessage();
    }
    String message = failure.getMessage() == null ? "" : failure.getMessage();
    String text = failure.getClass().getSimpleName() + (message.isEmpty() ? "" : ": " + message);
    return text.length() > 400 ? text.substring(0, 400) + "…" : text;
  }

  /** The run as one phase sees it: fenced writes go through the runner, which keeps the job row current. */
  private final class Run implements RunContext {
    private final Phase phase;
    /**
     * The last of this run's job writes (total, batch, notice). Each returns the whole job row, which becomes
     * {@link #job}; were two in flight at once, the one answered last could carry the older counters and status would
     * step back. So each write waits for the one before it (all on the run's context).
     */
    private Future<?> lastWrite = Future.succeededFuture();
    /** Set when the phase returned; see {@link #runOnce}. */
    private boolean ended;

    Run(Phase phase) {
      this.phase = phase;
    }

    /** Takes the job row a write returned as the current one and tells watchers. */
    private Void adopt(MigrationRecord updated) {
      if (!ended) {
        job = updated;
        publish(job);
      }
      return null;
    }

    private <T> Future<T> afterLastWrite(Supplier<Future<T>> write) {
      Future<T> next = lastWrite.transform(ignored -> write.get());
      lastWrite = next;
      return next;
    }

    @Override
    public UUID migrationId() {
      return job.id();
    }

    @Override
    public String tenant() {
      return job.tenant();
    }

    @Override
    public JobDefinition definition() {
      return definition;
    }

    @Override
    public <T extends PhaseSpec> T spec(Class<T> type) {
      return definition.part(phase.name(), type);
    }

    @Override
    public Context context() {
      return context;
    }

    @Override
    public TenantKey key() {
      return key;
    }

    @Override
    public Future<Void> bindKey(TenantKey bound) {
      if (job.keyId() != null && !job.keyId().equals(bound.keyId())) {
        // A run is bound to the key it started with: after a shred and re-create, writing on under the new key would
        // leave one tenant's target under two keys, half of it undecryptable.
        return Future.failedFuture(SiloException.precondition("migration " + job.id() + " started with data key "
            + job.keyId() + " but the tenant's key is now " + bound.keyId() + "; nothing was written. Roll back this"
            + " migration and start a new one to migrate under the new key"));
      }
      key = bound;
      if (job.keyId() != null) {
        return Future.succeededFuture();
      }
      return store.bindKey(job.id(), token, bound.keyId()).map(updated -> {
        job = updated;
        return null;
      });
    }

    @Override
    public String checkpoint() {
      return job.progress(phase.name()).map(PhaseProgress::checkpoint).orElse(null);
    }

    @Override
    public Future<Boolean> targetMayHoldTenant(String target) {
      // A first copy of the tenant into this target skips asking the target what it holds (on a stand-in without
      // secondary indexes that is a scan); whatever is there anyway is caught when writing.
      return checkpoint() != null ? Future.succeededFuture(true)
          : store.copiedBefore(job.tenant(), phase.name(), target, job.id());
    }

    @Override
    public Future<Optional<String>> sourcePurgedAt(String source) {
      return store.lastPurge(job.tenant(), source)
          .map(p -> p.map(purge -> purge.time() + " (audit #" + purge.auditId() + ")"));
    }

    @Override
    public Future<Void> total(long items, long bytes) {
      return afterLastWrite(() -> store.phaseTotal(job.id(), token, phase.name(), items, bytes).map(this::adopt));
    }

    @Override
    public Future<Void> detail(String text) {
      return afterLastWrite(() -> store.phaseDetail(job.id(), token, phase.name(), text).map(this::adopt));
    }

    @Override
    public boolean totalRecorded() {
      // 0 is also what an empty tenant counts, but such a phase has no checkpoint to resume from, so it counts again.
      return job.progress(phase.name()).map(p -> p.total() > 0).orElse(false);
    }

    @Override
    public Future<Boolean> commit(Batch batch, Function<SqlConnection, Future<Void>> alsoInTransaction) {
      if (leaseLost) {
        return Future.failedFuture(new MigrationStore.LeaseLostException(job.id()));
      }
      return afterLastWrite(() -> store.checkpoint(job.id(), token, phase.name(), batch, alsoInTransaction)
          .compose(updated -> updated.retryAttempts() == 0 ? Future.succeededFuture(updated)
              : store.progressed(job.id(), token))
          .map(updated -> {
            int failed = batch.failures().size();
            metrics.batch((int) (batch.done() - batch.alreadyPresent()), (int) batch.alreadyPresent(), failed);
            rate.record(batch.done() + failed);
            job = updated;
            publish(job);
            return updated.requested() == null && !shuttingDown && !leaseLost;
          }));
    }

    @Override
    public boolean stopRequested() {
      return stopping() || job.requested() != null;
    }

    @Override
    public Future<Void> notice(String text) {
      return afterLastWrite(() -> store.notice(job.id(), token, text).map(this::adopt));
    }

    @Override
    public <T> Future<T> exclusive(Supplier<Future<T>> work) {
      return store.withTenantLock(job.tenant(), work);
    }
  }

  /**
   * Items per second over a sliding window of recent batches. Batches finish in bursts (several land together when
   * their writes complete), so a per-batch rate jumps; a few seconds of history gives a steady figure and ETA.
   */
  static final class RateMeter {
    private static final long WINDOW_NANOS = 5_000_000_000L;
    private final java.util.ArrayDeque<long[]> samples = new java.util.ArrayDeque<>();
    private long total;

    void record(long items) {
      long now = System.nanoTime();
      total += items;
      samples.addLast(new long[] {now, total});
      while (samples.size() > 2 && now - samples.peekFirst()[0] > WINDOW_NANOS) {
        samples.pollFirst();
      }
    }

    double perSecond() {
      if (samples.size() < 2) {
        return 0;
      }
      long[] first = samples.peekFirst();
      long[] last = samples.peekLast();
      double seconds = (last[0] - first[0]) / 1e9;
      return seconds <= 0 ? 0 : (last[1] - first[1]) / seconds;
    }
  }
}
