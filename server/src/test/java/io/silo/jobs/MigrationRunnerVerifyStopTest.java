package io.silo.jobs;

import static io.silo.jobs.TestStore.await;
import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.json.JsonObject;
import java.util.List;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The engine driven with stand-in phases (real PostgreSQL): a pause asked during the VERIFY phase, which
 * writes no checkpoints, reaches the runner through its heartbeat, cuts the verify short, and a resume verifies again.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MigrationRunnerVerifyStopTest {

  private TestStore db;
  private MigrationStore store;

  @BeforeAll
  void start() throws Exception {
    db = TestStore.open();
    store = db.store;
  }

  @AfterAll
  void stop() throws Exception {
    db.close();
  }

  /** A spec that only names its source and target. */
  private record Named(String source, String target) implements PhaseSpec {
    @Override
    public JsonObject toJson() {
      return new JsonObject().put("source", source).put("target", target);
    }
  }

  /** Binds a fixed key, like the KEYS phase, and nothing else. */
  private record FixedKey(UUID keyId) implements Phase {
    @Override
    public PhaseName name() {
      return PhaseName.KEYS;
    }

    @Override
    public boolean appliesTo(JobDefinition definition) {
      return true;
    }

    @Override
    public boolean rerunsOnResume() {
      return true;
    }

    @Override
    public PhaseSpec parse(JsonObject json) {
      throw new AssertionError("KEYS has no definition");
    }

    @Override
    public Future<Estimate> plan(String tenant, JobDefinition definition) {
      return Future.succeededFuture(new Estimate(PhaseName.KEYS, 0, 0, "", List.of(), keyId));
    }

    @Override
    public Future<Outcome> run(RunContext run) {
      return run.bindKey(new TenantKey(keyId, () -> Future.succeededFuture())).map(Outcome.COMPLETE);
    }

    @Override
    public Future<Verified> verify(TenantScope scope) {
      return Future.succeededFuture(new Verified(0, 0, 0));
    }

    @Override
    public Future<Removed> rollback(TenantScope scope) {
      return Future.succeededFuture(new Removed(0, 0));
    }

    @Override
    public Future<Removed> purge(TenantScope scope) {
      return Future.succeededFuture(new Removed(0, 0));
    }
  }

  /**
   * A copy phase that is already done (running it again is an error) and whose verify reports progress every 20 ms
   * until told to stop (by the sink throwing), or finishes fast on its second call.
   */
  private static final class SlowVerify implements Phase {
    final CountDownLatch started = new CountDownLatch(1);
    final AtomicBoolean cutShort = new AtomicBoolean();
    final AtomicInteger calls = new AtomicInteger();

    @Override
    public PhaseName name() {
      return PhaseName.MONGO;
    }

    @Override
    public PhaseSpec parse(JsonObject json) {
      return new Named(json.getString("source"), json.getString("target"));
    }

    @Override
    public Future<Estimate> plan(String tenant, JobDefinition definition) {
      return Future.succeededFuture(new Estimate(PhaseName.MONGO, 100, 0, "", List.of(), null));
    }

    @Override
    public Future<Outcome> run(RunContext run) {
      return Future.failedFuture(new AssertionError("the copy is done"));
    }

    @Override
    public Future<Verified> verify(TenantScope scope) {
      int call = calls.incrementAndGet();
      return Vertx.currentContext().owner().executeBlocking(() -> {
        started.countDown();
        long limit = call == 1 ? 1_000 : 5;
        for (long i = 1; i <= limit; i++) {
          try {
            scope.sink().checked(i * 10);
          } catch (java.util.concurrent.CancellationException e) {
            cutShort.set(true);
            throw e;
          }
          Thread.sleep(20);
        }
        return new Verified(100, 0, 0);
      }, false);
    }

    @Override
    public Future<Removed> rollback(TenantScope scope) {
      return Future.succeededFuture(new Removed(0, 0));
    }

    @Override
    public Future<Removed> purge(TenantScope scope) {
      return Future.succeededFuture(new Removed(0, 0));
    }
  }

  @Test
  void aPauseDuringVerifyStopsItWithinAHeartbeatAndResumeVerifiesAgainToCompletion() throws Exception {
    UUID id = await(store.startOrGetActive("verify-co", TestStore.ssnDefinition(), "", "test")).migration().id();
    // As if the copy were done: the job waits in its VERIFY phase.
    UUID keyId = UUID.randomUUID();
    db.sql("UPDATE silo.migrations SET phase = 'VERIFY', key_id = '" + keyId + "' WHERE id = '" + id
        + "' RETURNING id");
    db.sql("INSERT INTO silo.migration_phases (migration_id, phase, ordinal, total, done) VALUES ('" + id
        + "', 'MONGO', 1, 100, 100) RETURNING migration_id");

    SlowVerify verifier = new SlowVerify();
    ProgressBus bus = new ProgressBus();
    MigrationEngine engine = new MigrationEngine(db.vertx, store, bus,
        new Phases(List.of(new FixedKey(keyId), verifier)),
        new MigrationMetrics(new SimpleMeterRegistry(), () -> 0), new MigrationEngine.Settings(1, 1, 100, true));
    engine.start();
    try {
      assertThat(verifier.started.await(10, TimeUnit.SECONDS)).isTrue();
      MigrationRecord asked = await(store.request(id, "PAUSE"));
      assertThat(asked.requested()).isEqualTo("PAUSE");

      MigrationRecord paused = awaitState(id, "PAUSED", Duration.ofSeconds(10));
      assertThat(paused.phase()).isEqualTo("VERIFY");
      assertThat(paused.requested()).isNull();
      assertThat(paused.leaseToken()).isNull();
      assertThat(verifier.cutShort).isTrue();

      await(store.resume(id));
      MigrationRecord completed = awaitState(id, "COMPLETED", Duration.ofSeconds(10));
      assertThat(completed.verifyChecked()).isEqualTo(100);
      assertThat(verifier.calls).hasValue(2);
    } finally {
      await(engine.shutdown());
    }
  }

  private MigrationRecord awaitState(UUID id, String state, Duration timeout) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    MigrationRecord m;
    do {
      m = await(store.get(id)).orElseThrow();
      if (m.state().equals(state)) {
        return m;
      }
      Thread.sleep(50);
    } while (System.nanoTime() < deadline);
    throw new AssertionError("migration did not become " + state + "; it is " + m);
  }
}
