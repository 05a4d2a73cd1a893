package io.silo.jobs;

import static io.silo.jobs.MigrationFixture.awaitDone;
import static io.silo.jobs.MigrationFixture.awaitFinal;
import static io.silo.jobs.MigrationFixture.count;
import static io.silo.jobs.MigrationFixture.counter;
import static io.silo.jobs.MigrationFixture.migrationRows;
import static io.silo.jobs.MigrationFixture.mongoProgress;
import static io.silo.jobs.MigrationFixture.rawDocuments;
import static io.silo.jobs.MigrationFixture.statusOf;
import static org.assertj.core.api.Assertions.assertThat;

import com.mongodb.client.MongoClient;
import io.grpc.Status;
import io.silo.TestServer;
import io.silo.api.v1.CancelMigrationRequest;
import io.silo.api.v1.GetMigrationRequest;
import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationDefinition;
import io.silo.api.v1.MigrationServiceGrpc;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.PauseMigrationRequest;
import io.silo.api.v1.PurgeSourceRequest;
import io.silo.api.v1.PurgeSourceResponse;
import io.silo.api.v1.ResumeMigrationRequest;
import io.silo.api.v1.RollbackMigrationRequest;
import io.silo.api.v1.RollbackMigrationResponse;
import io.silo.api.v1.StartMigrationRequest;
import io.silo.api.v1.VerifyTenantRequest;
import io.silo.api.v1.VerifyTenantResponse;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.bson.BsonValue;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Pause, resume, cancel, idempotent and repeated starts, rollback and purge through the API. Batches are small, one
 * is in flight at a time, and the KMS budget (one permit per batch) holds a run to about 200 documents a second, so
 * a run of a thousand documents lasts long enough to be paused or cancelled half-way. The copy is not verified by the
 * run itself here, so purge sees a tenant that nobody has verified yet.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MigrationLifecycleTest {

  private static final int BATCH = 10;
  private static final String SOURCE = "legacy.patients";
  private static final String TARGET = "medical.patients";

  @TempDir
  static Path keyDir;

  private TestServer server;
  private MongoClient mongo;

  @BeforeAll
  void start() throws Exception {
    server = TestServer.startWithMongo(Map.of("migration.batchSize", BATCH, "migration.batchesInFlight", 1,
        "jobs.pollMillis", 100, "kms.budget.ratePerSecond", 20, "migration.verifyAfterCopy", false), keyDir);
    mongo = MigrationFixture.plainClient(server);
    MigrationFixture.registerTenants(server, "pause-co", "cancel-co", "idem-co", "dup-co", "rerun-co", "rb-a", "rb-b",
        "purge-co", "purge-other", "idem-hash");
    MigrationFixture.seed(mongo, SOURCE, 1000, "pause-co");
    MigrationFixture.seed(mongo, SOURCE, 600, "cancel-co");
    MigrationFixture.seed(mongo, SOURCE, 300, "dup-co");
    MigrationFixture.seed(mongo, SOURCE, 40, "idem-co");
    MigrationFixture.seed(mongo, SOURCE, 120, "rerun-co");
    MigrationFixture.seed(mongo, SOURCE, 60, "rb-a", "rb-b", "purge-co", "purge-other");
  }

  @AfterAll
  void stop() throws Exception {
    if (mongo != null) {
      mongo.close();
    }
    if (server != null) {
      server.close();
    }
  }

  private MigrationServiceGrpc.MigrationServiceBlockingStub api() {
    return MigrationServiceGrpc.newBlockingStub(server.channel).withDeadlineAfter(60, TimeUnit.SECONDS);
  }

  private Migration start(String tenant) {
    return api().startMigration(StartMigrationRequest.newBuilder().addTenants(tenant).build()).getMigrations(0);
  }

  private Migration get(String id) {
    return api().getMigration(GetMigrationRequest.newBuilder().setMigrationId(id).build()).getMigration();
  }

  private Migration completed(String tenant) throws InterruptedException {
    Migration done = awaitFinal(server, start(tenant).getId());
    assertThat(done.getState()).as(done.getLastError()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
    return done;
  }

  private VerifyTenantResponse verify(String tenant) {
    Iterator<VerifyTenantResponse> stream = api().verifyTenant(
        VerifyTenantRequest.newBuilder().setTenant(tenant).build());
    VerifyTenantResponse last = null;
    while (stream.hasNext()) {
      last = stream.next();
      assertThat(last.hasFinding()).as("finding %s", last).isFalse();
    }
    return last;
  }

  @Test
  void pauseStopsWithinOneBatchAndResumeFinishesWithoutDuplicates() throws Exception {
    Map<BsonValue, ByteBuffer> source = rawDocuments(mongo, SOURCE, "pause-co");
    String id = start("pause-co").getId();
    long before = mongoProgress(awaitDone(server, id, 100)).getDone();

    Migration paused = api().pauseMigration(PauseMigrationRequest.newBuilder().setMigrationId(id).build())
        .getMigration();
    if (paused.getState() != MigrationState.MIGRATION_STATE_PAUSED) {
      paused = get(id);
    }
    assertThat(paused.getState()).isEqualTo(MigrationState.MIGRATION_STATE_PAUSED);
    long atPause = mongoProgress(paused).getDone();
    // The batch being copied when the request landed is finished and checkpointed, then the run stops. Batches take
    // about 50 ms, so allow two more for the round trip between reading `before` and the request landing on busy
    // cores; a run that ignored the pause would be hundreds of documents further.
    assertThat(atPause - before).isBetween(0L, 3L * BATCH);
    assertThat(count(mongo, TARGET, "pause-co")).as("nothing written past the checkpoint").isEqualTo(atPause);
    assertThat(atPause).isLessThan(1000);

    // Nothing moves while paused: neither the count nor the target.
    long targetAtPause = count(mongo, TARGET, "pause-co");
    Thread.sleep(1000);
    Migration still = get(id);
    assertThat(still.getState()).isEqualTo(MigrationState.MIGRATION_STATE_PAUSED);
    assertThat(mongoProgress(still).getDone()).isEqualTo(atPause);
    assertThat(count(mongo, TARGET, "pause-co")).isEqualTo(targetAtPause);
    // Every verb is idempotent: a retried pause answers with the paused migration.
    assertThat(api().pauseMigration(PauseMigrationRequest.newBuilder().setMigrationId(id).build()).getMigration()
        .getState()).isEqualTo(MigrationState.MIGRATION_STATE_PAUSED);
    assertThat(mongoProgress(get(id)).getDone()).isEqualTo(atPause);

    Migration resumed = api().resumeMigration(ResumeMigrationRequest.newBuilder().setMigrationId(id).build())
        .getMigration();
    // Resumed jobs wait as PLANNED until a runner claims them.
    assertThat(resumed.getState()).isIn(MigrationState.MIGRATION_STATE_PLANNED, MigrationState.MIGRATION_STATE_RUNNING);
    Migration retried = api().resumeMigration(ResumeMigrationRequest.newBuilder().setMigrationId(id).build())
        .getMigration();
    assertThat(retried.getState())
        .isIn(MigrationState.MIGRATION_STATE_PLANNED, MigrationState.MIGRATION_STATE_RUNNING);
    Migration done = awaitFinal(server, id);
    assertThat(done.getState()).as(done.getLastError()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
    assertThat(mongoProgress(done).getDone()).isEqualTo(1000);
    assertThat(mongoProgress(done).getTotal()).isEqualTo(1000);
    assertThat(mongoProgress(done).getFailed()).isZero();

    // Exactly the source's documents, each once; the source itself is byte-for-byte what it was.
    assertThat(count(mongo, TARGET, "pause-co")).isEqualTo(1000);
    assertThat(rawDocuments(mongo, TARGET, "pause-co").keySet()).containsExactlyElementsOf(source.keySet());
    assertThat(rawDocuments(mongo, SOURCE, "pause-co")).isEqualTo(source);
    assertThat(verify("pause-co").getSummary().getClean()).isTrue();
    assertThat(migrationRows(server, "pause-co")).isEqualTo(1);
  }

  @Test
  void cancelStopsTheRunForGoodAndLeavesTheSourceUntouched() throws Exception {
    Map<BsonValue, ByteBuffer> source = rawDocuments(mongo, SOURCE, "cancel-co");
    String id = start("cancel-co").getId();
    awaitDone(server, id, 50);

    // A running migration cannot be rolled back underneath its runner.
    Status running = statusOf(() -> api().rollbackMigration(
        RollbackMigrationRequest.newBuilder().setTenant("cancel-co").setMigrationId(id).build()));
    assertThat(running.getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(running.getDescription()).contains("RUNNING");

    Migration cancelled = api().cancelMigration(CancelMigrationRequest.newBuilder().setMigrationId(id).build())
        .getMigration();
    if (cancelled.getState() != MigrationState.MIGRATION_STATE_CANCELLED) {
      cancelled = get(id);
    }
    assertThat(cancelled.getState()).isEqualTo(MigrationState.MIGRATION_STATE_CANCELLED);
    assertThat(cancelled.hasCompleteTime()).isTrue();
    long done = mongoProgress(cancelled).getDone();
    assertThat(done).isLessThan(600);

    Thread.sleep(600);
    assertThat(mongoProgress(get(id)).getDone()).isEqualTo(done);
    assertThat(count(mongo, TARGET, "cancel-co")).isLessThan(600);
    assertThat(rawDocuments(mongo, SOURCE, "cancel-co")).isEqualTo(source);

    // A retried cancel answers with the cancelled migration; cancelled is final, so resume and pause are refused.
    assertThat(api().cancelMigration(CancelMigrationRequest.newBuilder().setMigrationId(id).build()).getMigration()
        .getState()).isEqualTo(MigrationState.MIGRATION_STATE_CANCELLED);
    for (Runnable call : List.<Runnable>of(
        () -> api().resumeMigration(ResumeMigrationRequest.newBuilder().setMigrationId(id).build()),
        () -> api().pauseMigration(PauseMigrationRequest.newBuilder().setMigrationId(id).build()))) {
      Status refused = statusOf(call);
      assertThat(refused.getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
      assertThat(refused.getDescription()).contains("CANCELLED");
    }
  }

  @Test
  void theSameIdempotencyKeyReturnsTheSameMigrationAndRefusesADifferentRequest() throws Exception {
    StartMigrationRequest request = StartMigrationRequest.newBuilder().addTenants("idem-co")
        .setIdempotencyKey("deploy-4711").build();
    Migration first = api().startMigration(request).getMigrations(0);
    Migration again = api().startMigration(request).getMigrations(0);
    assertThat(again.getId()).isEqualTo(first.getId());
    assertThat(again.getIdempotencyKey()).isEqualTo("deploy-4711");

    Migration done = awaitFinal(server, first.getId());
    assertThat(done.getState()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
    // A retry after the run finished still answers with that run, not a new one.
    assertThat(api().startMigration(request).getMigrationsList()).extracting(Migration::getId)
        .containsExactly(first.getId());
    assertThat(migrationRows(server, "idem-co")).isEqualTo(1);

    StartMigrationRequest other = request.toBuilder()
        .setDefinition(MigrationDefinition.newBuilder().setBatchSize(7)).build();
    Status reused = statusOf(() -> api().startMigration(other));
    assertThat(reused.getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(reused.getDescription()).contains("idempotency_key");
    Status otherTenant = statusOf(() -> api().startMigration(request.toBuilder().clearTenants()
        .addTenants("dup-co").build()));
    assertThat(otherTenant.getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(migrationRows(server, "idem-co")).isEqualTo(1);
    assertThat(migrationRows(server, "dup-co")).isZero();
  }

  @Test
  void anIdempotencyKeyIsBoundToTheExactRequestNotToItsHash() throws Exception {
    // "Aa" and "BB" have the same String.hashCode, so definitions that differ only there hash alike.
    StartMigrationRequest first = StartMigrationRequest.newBuilder().addTenants("idem-hash")
        .setIdempotencyKey("release-2026-11").setDefinition(MigrationDefinition.newBuilder().setTenantField("Aa"))
        .build();
    Migration started = api().startMigration(first).getMigrations(0);
    assertThat(started.getDefinition().getTenantField()).isEqualTo("Aa");
    awaitFinal(server, started.getId());

    StartMigrationRequest other = first.toBuilder()
        .setDefinition(MigrationDefinition.newBuilder().setTenantField("BB")).build();
    assertThat(other.getDefinition().hashCode()).isEqualTo(first.getDefinition().hashCode());
    Status reused = statusOf(() -> api().startMigration(other));
    assertThat(reused.getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(reused.getDescription()).contains("idempotency_key");
    assertThat(api().startMigration(first).getMigrationsList()).extracting(Migration::getId)
        .containsExactly(started.getId());
    assertThat(migrationRows(server, "idem-hash")).isEqualTo(1);
  }

  @Test
  void startingARunningTenantAgainReturnsTheRunningMigration() throws Exception {
    Migration first = start("dup-co");
    Migration second = start("dup-co");
    Migration keyed = api().startMigration(StartMigrationRequest.newBuilder().addTenants("dup-co")
        .setIdempotencyKey("another-key").build()).getMigrations(0);
    assertThat(second.getId()).isEqualTo(first.getId());
    assertThat(keyed.getId()).isEqualTo(first.getId());
    assertThat(second.getState()).isIn(MigrationState.MIGRATION_STATE_RUNNING, MigrationState.MIGRATION_STATE_PLANNED);
    assertThat(migrationRows(server, "dup-co")).isEqualTo(1);

    Migration done = awaitFinal(server, first.getId());
    assertThat(done.getState()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
    assertThat(count(mongo, TARGET, "dup-co")).isEqualTo(300);
  }

  @Test
  void aRerunAfterCompletionFindsEverythingInPlaceAndWritesNothing() throws Exception {
    Migration first = completed("rerun-co");
    Map<BsonValue, ByteBuffer> target = rawDocuments(mongo, TARGET, "rerun-co");
    assertThat(target).hasSize(120);
    double migrated = counter(server, "silo.migration.documents", "result", "migrated");
    double present = counter(server, "silo.migration.documents", "result", "already_present");

    Migration second = completed("rerun-co");
    assertThat(second.getId()).isNotEqualTo(first.getId());
    assertThat(mongoProgress(second).getDone()).isEqualTo(120);
    assertThat(mongoProgress(second).getTotal()).isEqualTo(120);
    assertThat(mongoProgress(second).getFailed()).isZero();
    assertThat(rawDocuments(mongo, TARGET, "rerun-co")).isEqualTo(target);
    assertThat(counter(server, "silo.migration.documents", "result", "migrated")).isEqualTo(migrated);
    assertThat(counter(server, "silo.migration.documents", "result", "already_present")).isEqualTo(present + 120);
    assertThat(migrationRows(server, "rerun-co")).isEqualTo(2);
  }

  @Test
  void rollbackRemovesOnlyThatTenantsTargetAndIsHarmlessTwice() throws Exception {
    Migration a = completed("rb-a");
    completed("rb-b");
    Map<BsonValue, ByteBuffer> otherTarget = rawDocuments(mongo, TARGET, "rb-b");
    Map<BsonValue, ByteBuffer> sourceA = rawDocuments(mongo, SOURCE, "rb-a");
    assertThat(otherTarget).hasSize(60);

    RollbackMigrationResponse rolled = api().rollbackMigration(
        RollbackMigrationRequest.newBuilder().setTenant("rb-a").build());
    assertThat(rolled.getMigration().getId()).isEqualTo(a.getId());
    assertThat(rolled.getMigration().getState()).isEqualTo(MigrationState.MIGRATION_STATE_ROLLED_BACK);
    assertThat(rolled.getDocumentsRemoved()).isEqualTo(60);
    assertThat(count(mongo, TARGET, "rb-a")).isZero();
    assertThat(rawDocuments(mongo, TARGET, "rb-b")).isEqualTo(otherTarget);
    assertThat(rawDocuments(mongo, SOURCE, "rb-a")).isEqualTo(sourceA);
    assertThat(get(a.getId()).getState()).isEqualTo(MigrationState.MIGRATION_STATE_ROLLED_BACK);

    RollbackMigrationResponse again = api().rollbackMigration(
        RollbackMigrationRequest.newBuilder().setTenant("rb-a").setMigrationId(a.getId()).build());
    assertThat(again.getMigration().getState()).isEqualTo(MigrationState.MIGRATION_STATE_ROLLED_BACK);
    assertThat(again.getDocumentsRemoved()).isZero();
    assertThat(rawDocuments(mongo, TARGET, "rb-b")).isEqualTo(otherTarget);
    assertThat(count(mongo, SOURCE, "rb-a")).isEqualTo(60);
    assertThat(server.queryOne("SELECT count(*) FROM silo.data_audit WHERE tenant_slug = 'rb-a'"
        + " AND action = 'ROLLBACK' AND outcome = 'OK'")).isEqualTo(2L);

    // A migration id of another tenant is refused, naming the field.
    Status foreign = statusOf(() -> api().rollbackMigration(
        RollbackMigrationRequest.newBuilder().setTenant("rb-b").setMigrationId(a.getId()).build()));
    assertThat(foreign.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(foreign.getDescription()).startsWith("migration_id");
    assertThat(count(mongo, TARGET, "rb-b")).isEqualTo(60);
  }

  @Test
  void purgeNeedsACleanVerifyAndTheSlugThenDeletesExactlyTheTenantsSource() throws Exception {
    completed("purge-co");
    Map<BsonValue, ByteBuffer> otherSource = rawDocuments(mongo, SOURCE, "purge-other");
    PurgeSourceRequest purge = PurgeSourceRequest.newBuilder().setTenant("purge-co").setConfirm("purge-co").build();

    Status unverified = statusOf(() -> api().purgeSource(purge));
    assertThat(unverified.getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(unverified.getDescription()).contains("verif");
    assertThat(count(mongo, SOURCE, "purge-co")).isEqualTo(60);

    assertThat(verify("purge-co").getSummary().getClean()).isTrue();
    for (String confirm : List.of("purge-other", "PURGE-CO", "")) {
      Status wrong = statusOf(() -> api().purgeSource(purge.toBuilder().setConfirm(confirm).build()));
      // A missing confirmation is a bad request (issue 11); a wrong one fails the purge's own guard.
      assertThat(wrong.getCode()).as(confirm).isEqualTo(confirm.isEmpty() ? Status.Code.INVALID_ARGUMENT
          : Status.Code.FAILED_PRECONDITION);
      assertThat(wrong.getDescription()).contains("confirm");
    }
    assertThat(count(mongo, SOURCE, "purge-co")).isEqualTo(60);

    PurgeSourceResponse purged = api().purgeSource(purge);
    assertThat(purged.getDocumentsDeleted()).isEqualTo(60);
    assertThat(count(mongo, SOURCE, "purge-co")).isZero();
    assertThat(rawDocuments(mongo, SOURCE, "purge-other")).isEqualTo(otherSource);
    assertThat(count(mongo, TARGET, "purge-co")).isEqualTo(60);
    assertThat(server.queryOne("SELECT documents_deleted FROM silo.data_audit WHERE id = " + purged.getAuditId()
        + " AND tenant_slug = 'purge-co' AND action = 'PURGE_SOURCE' AND outcome = 'OK'")).isEqualTo(60L);
    assertThat(server.queryOne("SELECT namespace FROM silo.data_audit WHERE id = " + purged.getAuditId()))
        .isEqualTo(SOURCE);

    // The target now holds the only copy: rolling it back is refused and removes nothing.
    Status rollback = statusOf(() -> api().rollbackMigration(
        RollbackMigrationRequest.newBuilder().setTenant("purge-co").build()));
    assertThat(rollback.getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(rollback.getDescription()).contains("purged");
    assertThat(count(mongo, TARGET, "purge-co")).isEqualTo(60);
  }
}
