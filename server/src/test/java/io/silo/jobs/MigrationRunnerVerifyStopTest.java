package io.silo.jobs;

import static io.silo.jobs.TestStore.await;
import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.silo.mongo.EncryptionPlan;
import io.silo.mongo.MongoCopyPipeline;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongConsumer;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The engine driven with stand-in collaborators (real PostgreSQL): a pause asked during the VERIFY phase, which
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

  /** A verifier that reports progress every 20 ms until told to stop (by the callback throwing), or finishes fast. */
  private static final class SlowVerifier implements Collaborators.Verifier {
    final CountDownLatch started = new CountDownLatch(1);
    final AtomicBoolean cutShort = new AtomicBoolean();
    final AtomicInteger calls = new AtomicInteger();

    @Override
    public Future<Collaborators.VerifyResult> verify(String tenant, UUID keyId, EncryptionPlan plan,
                                                     LongConsumer checked) {
      int call = calls.incrementAndGet();
      return Vertx.currentContext().owner().executeBlocking(() -> {
        started.countDown();
        long limit = call == 1 ? 1_000 : 5;
        for (long i = 1; i <= limit; i++) {
          try {
            checked.accept(i * 10);
          } catch (java.util.concurrent.CancellationException e) {
            cutShort.set(true);
            throw e;
          }
          Thread.sleep(20);
        }
        return new Collaborators.VerifyResult(100, 0);
      }, false);
    }

    @Override
    public Future<Collaborators.ResyncResult> resync(String tenant, UUID keyId, EncryptionPlan plan,
                                                     java.util.function.BooleanSupplier stop) {
      return Future.succeededFuture(new Collaborators.ResyncResult(0, 0, 0, 0, 0, null));
    }
  }

  @Test
  void aPauseDuringVerifyStopsItWithinAHeartbeatAndResumeVerifiesAgainToCompletion() throws Exception {
    UUID id = await(store.startOrGetActive("verify-co", TestStore.ssnDefinition(), "", "test")).migration().id();
    // As if the copy were done: the job waits in its VERIFY phase.
    UUID keyId = UUID.randomUUID();
    db.sql("UPDATE silo.migrations SET phase = 'VERIFY', docs_total = 100, docs_done = 100,"
        + " key_id = '" + keyId + "' WHERE id = '" + id + "' RETURNING id");

    SlowVerifier verifier = new SlowVerifier();
    Collaborators.Keys keys = (tenant, caller) -> Future.succeededFuture(
        new Collaborators.TenantKey(keyId, () -> Future.succeededFuture()));
    Collaborators.Mongo noMongo = new Collaborators.Mongo() {
      @Override
      public Future<Void> prepareTarget(EncryptionPlan plan) {
        return Future.failedFuture(new AssertionError("the MONGO phase is done"));
      }

      @Override
      public Future<Long> countSource(EncryptionPlan plan, String tenant) {
        return Future.failedFuture(new AssertionError("the MONGO phase is done"));
      }

      @Override
      public MongoCopyPipeline pipeline(EncryptionPlan plan, Context context, Supplier<Future<Void>> permit,
                                        Runnable onThrottled, Runnable onSuccess) {
        throw new AssertionError("the MONGO phase is done");
      }
    };
    ProgressBus bus = new ProgressBus();
    MigrationEngine engine = new MigrationEngine(db.vertx, store, bus, keys, noMongo, verifier,
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
