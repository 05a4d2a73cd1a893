package io.silo.jobs;

import io.silo.SiloException;
import io.silo.keys.TenantKeys;
import io.silo.mongo.EncryptionPlan;
import io.silo.mongo.MongoCopyPipeline;
import io.silo.mongo.SourceIds;
import io.vertx.core.Context;
import io.vertx.core.Future;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.bson.BsonValue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs one claimed job through its phases (KEYS, MONGO, VERIFY), resuming from the stored phase and checkpoint.
 * Every write to the job row is fenced by the lease token; losing the lease stops the run without touching state.
 */
final class MigrationRunner {

  private static final Logger LOG = LoggerFactory.getLogger(MigrationRunner.class);

  private final Context context;
  private final MigrationStore store;
  private final ProgressBus bus;
  private final Collaborators.Keys keys;
  private final Collaborators.Mongo mongo;
  private final Collaborators.Verifier verifier;
  private final MigrationMetrics metrics;
  private final int leaseSeconds;
  private final boolean verifyAfterCopy;
  private final long token;
  private MigrationRecord job;
  private final EncryptionPlan plan;
  private long timerId = -1;
  private volatile boolean leaseLost;
  private volatile boolean shuttingDown;
  /** A pause or cancel seen by a heartbeat; the VERIFY phase, which has no checkpoints, stops on it. */
  private volatile String stopRequested;
  private final RateMeter rate = new RateMeter();
  /** Findings of this run's verification that are not already failed items; set by the VERIFY phase. */
  private long problems;

  MigrationRunner(Context context, MigrationStore store, ProgressBus bus, Collaborators.Keys keys,
                  Collaborators.Mongo mongo, Collaborators.Verifier verifier, MigrationMetrics metrics,
                  int leaseSeconds, boolean verifyAfterCopy, MigrationRecord claimed) {
    this.context = context;
    this.store = store;
    this.bus = bus;
    this.keys = keys;
    this.mongo = mongo;
    this.verifier = verifier;
    this.metrics = metrics;
    this.leaseSeconds = leaseSeconds;
    this.verifyAfterCopy = verifyAfterCopy;
    this.job = claimed;
    this.token = claimed.leaseToken();
    this.plan = Definitions.fromJson(claimed.definition());
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
    return phases()
        .recover(this::onFailure)
        .eventually(() -> {
          context.owner().cancelTimer(timerId);
          return Future.succeededFuture();
        });
  }

  private Future<Void> phases() {
    return keysPhase().compose(key -> mongoPhase(key)).compose(stopped -> {
      if (stopped) {
        return Future.succeededFuture();
      }
      return verifyPhase().compose(verifyStopped -> verifyStopped ? applyStop(stopRequested) : finish());
    });
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

  private Future<Collaborators.TenantKey> keysPhase() {
    return keys.ensure(job.tenant(), "migration " + job.id()).compose(key -> {
      if (job.keyId() != null && !job.keyId().equals(key.keyId())) {
        // A run is bound to the key it started with: after a shred and re-create, writing on under the new key would
        // leave one tenant's target under two keys, half of it undecryptable.
        return Future.failedFuture(SiloException.precondition("migration " + job.id() + " started with data key "
            + job.keyId() + " but the tenant's key is now " + key.keyId() + "; nothing was written. Roll back this"
            + " migration and start a new one to migrate under the new key"));
      }
      if (!job.phase().equals("KEYS")) {
        return Future.succeededFuture(key);
      }
      return store.enterPhase(job.id(), token, "MONGO", key.keyId(), null).map(updated -> {
        job = updated;
        publish(job);
        return key;
      });
    });
  }

  /** Copies documents; true when the run stopped early (pause, cancel, shutdown or lost lease). */
  private Future<Boolean> mongoPhase(Collaborators.TenantKey key) {
    if (!job.phase().equals("MONGO")) {
      return Future.succeededFuture(false);
    }
    // A first copy of the tenant into this target skips asking the target what it holds (on a stand-in without
    // secondary indexes that is a collection scan); whatever is there anyway is caught as a duplicate _id on insert.
    Future<Boolean> mayOverlap = job.checkpointId() != null ? Future.succeededFuture(true)
        : store.copiedBefore(job.tenant(), plan.target().toString(), job.id());
    return mongo.prepareTarget(plan)
        .compose(v -> mongo.countSource(plan, job.tenant()))
        .compose(total -> store.enterPhase(job.id(), token, "MONGO", key.keyId(), total))
        .compose(updated -> mayOverlap.compose(overlap -> {
          job = updated;
          publish(job);
          BsonValue after = job.checkpointId() == null ? null : SourceIds.decode(job.checkpointId());
          MongoCopyPipeline pipeline = mongo.pipeline(plan, context, key.kmsPermit(), key.onThrottled(),
              key.onSuccess());
          return pipeline.run(job.tenant(), TenantKeys.uuidBinary(key.keyId()), after, overlap, this::committed);
        }))
        .compose(outcome -> {
          if (outcome == MongoCopyPipeline.Outcome.SOURCE_EXHAUSTED) {
            return mayOverlap.compose(overlap -> overlap ? resync(key) : Future.succeededFuture(false))
                .compose(stopped -> stopped ? applyStop(stopRequested != null ? stopRequested : job.requested())
                    .map(true)
                    : store.enterPhase(job.id(), token, verifyAfterCopy ? "VERIFY" : "DONE", null, null)
                    .map(updated -> {
                      job = updated;
                      publish(job);
                      return false;
                    }));
          }
          return applyStop(job.requested()).map(true);
        });
  }

  /**
   * After copying into a target that may already hold the tenant (a re-run or a resumed run): re-encrypts what
   * changed in the source since, removes what was deleted there, and records what it did as the run's notice.
   * True when it stopped early for a pause, cancel or shutdown (it runs again on resume).
   */
  private Future<Boolean> resync(Collaborators.TenantKey key) {
    return verifier.resync(job.tenant(), key.keyId(), plan, () -> stopRequested != null || shuttingDown || leaseLost)
        .compose(r -> {
          StringBuilder notice = new StringBuilder();
          if (r.inserted() + r.replaced() + r.deleted() > 0) {
            notice.append("re-sync: ").append(r.inserted()).append(" inserted, ").append(r.replaced())
                .append(" changed and re-encrypted, ").append(r.deleted()).append(" deleted from the target");
          }
          if (r.purgedAt() != null) {
            notice.append(notice.length() > 0 ? "; " : "").append("the source was purged on ").append(r.purgedAt())
                .append(": ").append(r.keptWithoutSource()).append(" target document(s) without a source are the only"
                    + " copies and were kept");
          }
          if (r.conflicts() > 0) {
            notice.append(notice.length() > 0 ? "; " : "").append(r.conflicts())
                .append(" _id(s) held by another tenant's document were left alone");
          }
          return notice.length() == 0 ? Future.succeededFuture(false)
              : store.notice(job.id(), token, notice.toString()).map(updated -> {
                job = updated;
                publish(job);
                return false;
              });
        })
        .recover(failure -> failure instanceof java.util.concurrent.CancellationException
            && (stopRequested != null || shuttingDown) && !leaseLost
            ? Future.succeededFuture(true) : Future.failedFuture(failure));
  }

  /** One batch is written: checkpoint it (fenced) and decide whether to go on. */
  private Future<Boolean> committed(MongoCopyPipeline.BatchResult batch) {
    if (leaseLost) {
      return Future.failedFuture(new MigrationStore.LeaseLostException(job.id()));
    }
    List<MigrationStore.Failure> failures = new ArrayList<>();
    for (MongoCopyPipeline.ItemFailure f : batch.failures()) {
      failures.add(new MigrationStore.Failure("MONGO", SourceIds.display(f.id()), null, null, f.code(), null,
          f.message(), 0, null));
    }
    long done = job.done() + batch.copied() + batch.alreadyPresent();
    return store.checkpoint(job.id(), token, "MONGO",
            new MigrationStore.Checkpoint(SourceIds.encode(batch.lastId()), done, job.bytes() + batch.bytes(), failures,
                List.copyOf(batch.plaintextFields())))
        .compose(updated -> updated.retryAttempts() == 0 ? Future.succeededFuture(updated)
            : store.progressed(job.id(), token))
        .map(updated -> {
          metrics.batch(batch.copied(), batch.alreadyPresent(), batch.failures().size());
          rate.record(batch.processed());
          job = updated;
          publish(job);
          return updated.requested() == null && !shuttingDown && !leaseLost;
        });
  }

  /** After the pipeline stopped early: apply a requested pause/cancel, or hand the lease back on shutdown. */
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
        LOG.info("migration {} tenant={} {} at {} / {}", job.id(), job.tenant(), state, job.done(), job.total());
        return null;
      });
    }
    return store.releaseLease(job.id(), token);
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

  /** Verifies the copy; true when it stopped early for a pause, cancel or shutdown (it starts over on resume). */
  private Future<Boolean> verifyPhase() {
    if (!job.phase().equals("VERIFY")) {
      return Future.succeededFuture(false);
    }
    long[] lastPublish = {0};
    RateMeter verifyRate = new RateMeter();
    long[] lastChecked = {0};
    return verifier.verify(job.tenant(), job.keyId(), plan, checked -> {
          // Runs on the verifier's thread after each batch: throwing here is how the verify is cut short.
          if (stopRequested != null || shuttingDown || leaseLost) {
            throw new java.util.concurrent.CancellationException("migration stop requested");
          }
          context.runOnContext(v -> publishVerifyProgress(checked, verifyRate, lastChecked, lastPublish));
        })
        .compose(result -> store.recordVerification(job.tenant(), job.id(), job.definition(), result.checked(),
                result.findings(), "migration " + job.id())
            .compose(id -> store.verified(job.id(), token, result.checked(), result.findings()))
            .map(updated -> {
              job = updated;
              problems = result.problems();
              return false;
            }))
        .recover(failure -> {
          if (failure instanceof java.util.concurrent.CancellationException && (stopRequested != null || shuttingDown)
              && !leaseLost) {
            return Future.succeededFuture(true);
          }
          return Future.failedFuture(failure);
        });
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
    double perSecond = record.state().equals("RUNNING") && record.phase().equals("MONGO") ? rate.perSecond() : 0;
    Duration eta = null;
    if (perSecond > 0 && record.phase().equals("MONGO")) {
      long left = Math.max(0, record.total() - record.done() - record.failed());
      eta = Duration.ofMillis((long) (left / perSecond * 1000));
    }
    bus.publish(new ProgressBus.Snapshot(record, perSecond, eta));
  }

  /**
   * Failure text for the job row and watchers: class, a reason and the cause chain's first message, cut short.
   * Driver and libmongocrypt messages name collections, keys and ids, not field values.
   */
  static String safeMessage(Throwable failure) {
    if (failure instanceof SiloException s) {
      return s.getMessage();
    }
    String message = failure.getMessage() == null ? "" : failure.getMessage();
    String text = failure.getClass().getSimpleName() + (message.isEmpty() ? "" : ": " + message);
    return text.length() > 400 ? text.substring(0, 400) + "…" : text;
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
