package io.silo.jobs;

import static io.silo.jobs.MigrationFixture.awaitDone;
import static io.silo.jobs.MigrationFixture.counter;
import static org.assertj.core.api.Assertions.assertThat;

import com.mongodb.client.MongoClient;
import io.silo.TestServer;
import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationEvent;
import io.silo.api.v1.MigrationServiceGrpc;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.StartMigrationRequest;
import io.silo.api.v1.WatchMigrationRequest;
import io.silo.api.v1.WatchMigrationResponse;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two Silo instances on one PostgreSQL and one MongoDB: a run claimed by one instance is not taken by the other, and
 * a watcher connected to the other instance still follows it to the end (through the store, not the local bus).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MigrationMultiInstanceTest {

  @TempDir
  static Path keyDir;

  private TestServer first;
  private TestServer second;
  private MongoClient mongo;

  @BeforeAll
  void start() throws Exception {
    // About 200 documents a second (a batch of 10 per KMS permit, 20 permits a second): long enough to watch.
    first = TestServer.startWithMongo(Map.of("migration.batchSize", 10, "migration.batchesInFlight", 1,
        "jobs.pollMillis", 100, "kms.budget.ratePerSecond", 20, "migration.verifyAfterCopy", false), keyDir);
    mongo = MigrationFixture.plainClient(first);
    MigrationFixture.registerTenants(first, "shared-co");
    MigrationFixture.seed(mongo, "legacy.patients", 1200, "shared-co");
  }

  @AfterAll
  void stop() throws Exception {
    mongo.close();
    if (second != null) {
      second.close();
    }
    first.close();
  }

  @Test
  void aWatcherOnAnotherInstanceFollowsTheRunToItsFinalStateAndThatInstanceDoesNotTakeItOver() throws Exception {
    Migration m = MigrationServiceGrpc.newBlockingStub(first.channel).withDeadlineAfter(60, TimeUnit.SECONDS)
        .startMigration(StartMigrationRequest.newBuilder().addTenants("shared-co").build()).getMigrations(0);
    awaitDone(first, m.getId(), 20);

    // The second instance shares the first one's database, MongoDB and master key; its engine polls for work too.
    Map<String, Object> shared = new HashMap<>(first.settings);
    shared.put("grpc.port", 0);
    second = TestServer.start(shared);

    List<WatchMigrationResponse> events = new java.util.ArrayList<>();
    MigrationServiceGrpc.newBlockingStub(second.channel).withDeadlineAfter(90, TimeUnit.SECONDS)
        .watchMigration(WatchMigrationRequest.newBuilder().setMigrationId(m.getId()).build())
        .forEachRemaining(events::add);

    MigrationEvent last = events.get(events.size() - 1).getEvent();
    assertThat(last.getFinal()).isTrue();
    assertThat(last.getMigration().getState()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
    assertThat(MigrationFixture.mongoProgress(last.getMigration()).getDone()).isEqualTo(1200);
    // Progress arrived while it ran, not only the first and the last snapshot.
    assertThat(events.stream().map(e -> MigrationFixture.mongoProgress(e.getEvent().getMigration()).getDone())
        .distinct().count()).isGreaterThanOrEqualTo(3);
    // The lease kept the second instance's engine away from the run.
    assertThat(counter(second, "silo.migration.documents", "result", "migrated")).isZero();
    assertThat(counter(first, "silo.migration.documents", "result", "migrated")).isEqualTo(1200);
  }
}
