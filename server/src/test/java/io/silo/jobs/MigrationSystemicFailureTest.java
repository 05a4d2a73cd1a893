package io.silo.jobs;

import static io.silo.jobs.MigrationFixture.awaitDone;
import static io.silo.jobs.MigrationFixture.awaitFinal;
import static io.silo.jobs.MigrationFixture.count;
import static io.silo.jobs.MigrationFixture.mongoProgress;
import static org.assertj.core.api.Assertions.assertThat;

import com.mongodb.client.MongoClient;
import io.silo.TestServer;
import io.silo.api.v1.CreateTenantKeyRequest;
import io.silo.api.v1.KeyServiceGrpc;
import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationServiceGrpc;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.ResumeMigrationRequest;
import io.silo.api.v1.ShredTenantKeyRequest;
import io.silo.api.v1.StartMigrationRequest;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Systemic errors stop a migration (FAILED, with the reason, source untouched) instead of being reported per item:
 * a tenant whose key was shredded, and a key shredded while its tenant is being copied.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MigrationSystemicFailureTest {

  @TempDir
  static Path keyDir;

  private TestServer server;
  private MongoClient mongo;

  @BeforeAll
  void start() throws Exception {
    // A one-second DEK cache so a shred takes effect in the running copy quickly; 20 batches of 10 per second.
    server = TestServer.startWithMongo(Map.of("migration.batchSize", 10, "migration.batchesInFlight", 1,
        "jobs.pollMillis", 100, "kms.budget.ratePerSecond", 20, "kms.keyExpirationSeconds", 1,
        "migration.verifyAfterCopy", false), keyDir);
    mongo = MigrationFixture.plainClient(server);
    MigrationFixture.registerTenants(server, "shredded-co", "midway-co");
    MigrationFixture.seed(mongo, "legacy.patients", 40, "shredded-co");
    MigrationFixture.seed(mongo, "legacy.patients", 2000, "midway-co");
  }

  @AfterAll
  void stop() throws Exception {
    mongo.close();
    server.close();
  }

  private MigrationServiceGrpc.MigrationServiceBlockingStub api() {
    return MigrationServiceGrpc.newBlockingStub(server.channel).withDeadlineAfter(60, TimeUnit.SECONDS);
  }

  private KeyServiceGrpc.KeyServiceBlockingStub keys() {
    return KeyServiceGrpc.newBlockingStub(server.channel).withDeadlineAfter(60, TimeUnit.SECONDS);
  }

  @Test
  void aTenantWhoseKeyWasShreddedFailsInTheKeysPhaseWithoutANewKeyOrAnyCopy() throws Exception {
    keys().createTenantKey(CreateTenantKeyRequest.newBuilder().setTenant("shredded-co").build());
    keys().shredTenantKey(ShredTenantKeyRequest.newBuilder().setTenant("shredded-co").setConfirm("shredded-co").build());

    Migration m = api().startMigration(StartMigrationRequest.newBuilder().addTenants("shredded-co").build())
        .getMigrations(0);
    Migration done = awaitFinal(server, m.getId());
    assertThat(done.getState()).isEqualTo(MigrationState.MIGRATION_STATE_FAILED);
    assertThat(done.getLastError()).contains("shredded");
    assertThat(count(mongo, "medical.patients", "shredded-co")).isZero();
    assertThat(count(mongo, "legacy.patients", "shredded-co")).isEqualTo(40);
    // Silo did not quietly make a new key: ciphertext under it would look like the old data was recoverable.
    assertThat(keys().listTenantKeys(io.silo.api.v1.ListTenantKeysRequest.newBuilder().setTenant("shredded-co")
        .build()).getKeysList()).isEmpty();
  }

  @Test
  void aKeyShreddedMidwayFailsTheRunAtItsCheckpointAndResumeFailsAgainRatherThanWritingUnderAnotherKey()
      throws Exception {
    Migration m = api().startMigration(StartMigrationRequest.newBuilder().addTenants("midway-co").build())
        .getMigrations(0);
    awaitDone(server, m.getId(), 100);
    keys().shredTenantKey(ShredTenantKeyRequest.newBuilder().setTenant("midway-co").setConfirm("midway-co").build());

    Migration failed = awaitFinal(server, m.getId());
    assertThat(failed.getState()).isEqualTo(MigrationState.MIGRATION_STATE_FAILED);
    assertThat(failed.getLastError()).contains("no longer in the key vault").doesNotContain("Patient midway-co");
    long copied = mongoProgress(failed).getDone();
    assertThat(copied).isBetween(100L, 1999L);
    // The checkpoint covers exactly what was written; nothing was written after the failure.
    assertThat(count(mongo, "medical.patients", "midway-co")).isGreaterThanOrEqualTo(copied);
    assertThat(count(mongo, "legacy.patients", "midway-co")).isEqualTo(2000);

    Migration resumed = api().resumeMigration(ResumeMigrationRequest.newBuilder().setMigrationId(m.getId()).build())
        .getMigration();
    assertThat(resumed.getState()).isIn(MigrationState.MIGRATION_STATE_PLANNED, MigrationState.MIGRATION_STATE_RUNNING);
    Migration again = awaitFinal(server, m.getId());
    assertThat(again.getState()).isEqualTo(MigrationState.MIGRATION_STATE_FAILED);
    assertThat(again.getLastError()).contains("shredded");
  }
}
