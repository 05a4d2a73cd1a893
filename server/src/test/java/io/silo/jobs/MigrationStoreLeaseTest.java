package io.silo.jobs;

import static io.silo.jobs.TestStore.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/** Leases and fencing against real PostgreSQL: a runner whose lease was taken over can no longer write. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MigrationStoreLeaseTest {

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

  @Test
  void aRunnerWhoseLeaseExpiredAndWasTakenOverIsFencedOutOfEveryWrite() throws Exception {
    MigrationRecord created = await(store.startOrGetActive("fence-co", TestStore.ssnDefinition(), "", "test")).migration();
    assertThat(created.state()).isEqualTo("PLANNED");

    MigrationRecord stale = await(store.claim("instance-a", 30)).orElseThrow();
    assertThat(stale.id()).isEqualTo(created.id());
    assertThat(stale.state()).isEqualTo("RUNNING");
    // While the lease is live nobody else can claim the job.
    assertThat(await(store.claim("instance-b", 30))).isEmpty();

    // Instance A stalls past its lease (a long GC pause, a partition); B takes the job over.
    db.sql("UPDATE silo.migrations SET lease_expires_at = now() - interval '1 second'"
        + " WHERE id = '" + created.id() + "' RETURNING id");
    MigrationRecord fresh = await(store.claim("instance-b", 30)).orElseThrow();
    assertThat(fresh.leaseToken()).isGreaterThan(stale.leaseToken());

    await(store.enterPhase(fresh.id(), fresh.leaseToken(), PhaseName.MONGO, 1, "medical.patients"));
    RunContext.Batch b = new RunContext.Batch("{\"v\": \"p-20\"}", 20, 2000, List.of());
    await(store.checkpoint(fresh.id(), fresh.leaseToken(), PhaseName.MONGO, b, null));

    // A wakes up and tries to write its older progress: every fenced write is refused and B's checkpoint stands.
    RunContext.Batch a = new RunContext.Batch("{\"v\": \"p-10\"}", 10, 1000, List.of(
        new RunContext.ItemFailure("p-3", null, null, "FIELD_TYPE_MISMATCH", null, "x")));
    Throwable checkpoint = catchThrowable(() -> await(store.checkpoint(stale.id(), stale.leaseToken(),
        PhaseName.MONGO, a, null)));
    assertThat(checkpoint).isInstanceOf(ExecutionException.class)
        .hasCauseInstanceOf(MigrationStore.LeaseLostException.class);
    Throwable heartbeat = catchThrowable(() -> {
      if (!await(store.heartbeat(stale.id(), stale.leaseToken(), 30)).held()) {
        throw new IllegalStateException("heartbeat refused");
      }
    });
    assertThat(heartbeat).hasMessageContaining("heartbeat refused");
    Throwable finish = catchThrowable(() -> await(store.finishRun(stale.id(), stale.leaseToken(), "FAILED", null, "x")));
    assertThat(finish).hasCauseInstanceOf(MigrationStore.LeaseLostException.class);

    Optional<MigrationRecord> now = await(store.get(created.id()));
    assertThat(now.orElseThrow().progress(PhaseName.MONGO).orElseThrow().checkpoint()).isEqualTo("{\"v\": \"p-20\"}");
    assertThat(now.get().done()).isEqualTo(20);
    assertThat(now.get().state()).isEqualTo("RUNNING");
    assertThat(now.get().leaseOwner()).isEqualTo("instance-b");
    // The refused checkpoint's failure rows were rolled back with it.
    assertThat(await(store.failures(created.id(), 0, 10))).isEmpty();
  }
}
