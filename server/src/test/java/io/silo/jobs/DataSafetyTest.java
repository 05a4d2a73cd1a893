package io.silo.jobs;

import static io.silo.jobs.MigrationFixture.awaitFinal;
import static io.silo.jobs.MigrationFixture.collection;
import static io.silo.jobs.MigrationFixture.count;
import static io.silo.jobs.MigrationFixture.statusOf;
import static org.assertj.core.api.Assertions.assertThat;

import com.mongodb.client.MongoClient;
import com.mongodb.client.model.Filters;
import com.mongodb.client.model.Updates;
import io.grpc.Status;
import io.silo.TestServer;
import io.silo.api.v1.CreateTenantKeyRequest;
import io.silo.api.v1.KeyServiceGrpc;
import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationServiceGrpc;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.PauseMigrationRequest;
import io.silo.api.v1.PurgeSourceRequest;
import io.silo.api.v1.PurgeSourceResponse;
import io.silo.api.v1.ResumeMigrationRequest;
import io.silo.api.v1.RollbackMigrationRequest;
import io.silo.api.v1.ShredTenantKeyRequest;
import io.silo.api.v1.StartMigrationRequest;
import io.silo.api.v1.VerifyTenantRequest;
import io.silo.api.v1.VerifyTenantResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.bson.BsonDocument;
import org.bson.BsonString;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Sequences of operations that used to lose, hide or corrupt a tenant's data (issue "data safety"), each replayed
 * through the API against real PostgreSQL and the MongoDB-wire dev server, with the data checked afterwards.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DataSafetyTest {

  private static final String SOURCE = "legacy.patients";
  private static final String TARGET = "medical.patients";
  private static final int DOCS = 40;

  @TempDir
  static Path keyDir;

  private TestServer server;
  private MongoClient mongo;

  @BeforeAll
  void start() throws Exception {
    server = TestServer.startWithMongo(Map.of("migration.batchSize", 10, "jobs.pollMillis", 100,
        "kms.keyExpirationSeconds", 1), keyDir);
    mongo = MigrationFixture.plainClient(server);
    MigrationFixture.registerTenants(server, "purged-co", "update-co", "resync-co", "extra-co", "conflict-a",
        "conflict-b", "pinned-co", "fate-copy", "fate-drop", "fate-fail", "locked-co");
    MigrationFixture.seed(mongo, SOURCE, DOCS, "locked-co");
    MigrationFixture.seed(mongo, SOURCE, DOCS, "purged-co", "update-co", "resync-co", "extra-co", "conflict-a",
        "fate-copy", "fate-drop", "fate-fail");
    MigrationFixture.seed(mongo, SOURCE, 600, "pinned-co");
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

  private Migration migrate(String tenant) throws InterruptedException {
    String id = api().startMigration(StartMigrationRequest.newBuilder().addTenants(tenant).build())
        .getMigrations(0).getId();
    return awaitFinal(server, id);
  }

  private Migration migrateCleanly(String tenant) throws InterruptedException {
    Migration m = migrate(tenant);
    assertThat(m.getState()).as(m.getLastError()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
    return m;
  }

  private List<VerifyTenantResponse> verify(String tenant) {
    Iterator<VerifyTenantResponse> stream = api().verifyTenant(VerifyTenantRequest.newBuilder().setTenant(tenant)
        .build());
    List<VerifyTenantResponse> all = new ArrayList<>();
    stream.forEachRemaining(all::add);
    return all;
  }

  private boolean verifiesClean(String tenant) {
    List<VerifyTenantResponse> all = verify(tenant);
    return all.get(all.size() - 1).getSummary().getClean();
  }

  private PurgeSourceResponse purge(String tenant) {
    return api().purgeSource(PurgeSourceRequest.newBuilder().setTenant(tenant).setConfirm(tenant).build());
  }

  @Test
  void rollbackAfterAPurgeAndARerunIsRefusedAndTheRerunReportsThePurgeInsteadOfFailures() throws Exception {
    migrateCleanly("purged-co");
    assertThat(verifiesClean("purged-co")).isTrue();
    assertThat(purge("purged-co").getDocumentsDeleted()).isEqualTo(DOCS);

    Migration rerun = migrate("purged-co");
    assertThat(rerun.getState()).as(rerun.getLastError()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
    assertThat(MigrationFixture.mongoProgress(rerun).getFailed()).isZero();
    assertThat(rerun.getNotice()).contains("purged").contains(DOCS + " target document(s) without a source");

    for (String migrationId : List.of(rerun.getId(), "")) {
      Status refused = statusOf(() -> api().rollbackMigration(RollbackMigrationRequest.newBuilder()
          .setTenant("purged-co").setMigrationId(migrationId).build()));
      assertThat(refused.getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
      assertThat(refused.getDescription()).contains("was purged").contains("only copy");
    }
    assertThat(count(mongo, TARGET, "purged-co")).isEqualTo(DOCS);
    assertThat(verifiesClean("purged-co")).isTrue();
  }

  @Test
  void purgeKeepsADocumentTheApplicationChangedAfterTheVerification() throws Exception {
    migrateCleanly("update-co");
    assertThat(verifiesClean("update-co")).isTrue();
    String changedId = "update-co-000007";
    collection(mongo, SOURCE).updateOne(Filters.eq("_id", changedId), Updates.set("diagnosis", "changed later"));

    PurgeSourceResponse purged = purge("update-co");

    assertThat(purged.getDocumentsDeleted()).isEqualTo(DOCS - 1);
    assertThat(purged.getDocumentsKept()).isEqualTo(1);
    BsonDocument kept = collection(mongo, SOURCE).find(Filters.eq("tenantId", "update-co")).first();
    assertThat(kept).isNotNull();
    assertThat(kept.getString("_id").getValue()).isEqualTo(changedId);
    assertThat(kept.getString("diagnosis").getValue()).isEqualTo("changed later");
  }

  @Test
  void compareAndDeleteKeepsADocumentChangedBetweenTheComparisonAndTheDelete() throws Exception {
    BsonDocument doc = MigrationFixture.patient("cad-co", 1);
    collection(mongo, "cad.source").insertOne(doc);
    collection(mongo, "cad.source").updateOne(Filters.eq("_id", doc.get("_id")), Updates.set("name", "renamed"));

    assertThat(collection(mongo, "cad.source").deleteOne(
        io.silo.mongo.TenantReconciler.unchanged(doc, "cad-co")).getDeletedCount()).isZero();
    BsonDocument now = collection(mongo, "cad.source").find().first();
    assertThat(collection(mongo, "cad.source").deleteOne(
        io.silo.mongo.TenantReconciler.unchanged(now, "cad-co")).getDeletedCount()).isEqualTo(1);
  }

  @Test
  void aRerunBringsTheTargetToTheSourceAsItIsNow() throws Exception {
    migrateCleanly("resync-co");
    var source = collection(mongo, SOURCE);
    source.updateOne(Filters.eq("_id", "resync-co-000001"), Updates.set("ssn", "999-99-9999"));
    source.updateOne(Filters.eq("_id", "resync-co-000002"), Updates.set("visits", 42));
    source.deleteOne(Filters.eq("_id", "resync-co-000003"));
    source.insertOne(MigrationFixture.patient("resync-co", 500));
    assertThat(verifiesClean("resync-co")).isFalse();

    Migration rerun = migrateCleanly("resync-co");

    // The new document is copied by the copy itself; the re-sync replaces the changed and removes the deleted ones.
    assertThat(rerun.getNotice()).contains("2 changed").contains("1 deleted");
    assertThat(verifiesClean("resync-co")).isTrue();
    assertThat(count(mongo, TARGET, "resync-co")).isEqualTo(DOCS);
    assertThat(collection(mongo, TARGET).countDocuments(Filters.eq("_id", "resync-co-000003"))).isZero();
  }

  @Test
  void aRunWhoseVerificationFindsProblemsEndsVerifyFailedAndCannotBePurged() throws Exception {
    // A document of the tenant in the target that no source document backs: the copy leaves it, verify finds it.
    collection(mongo, TARGET).insertOne(new BsonDocument("_id", new BsonString("extra-co-stray"))
        .append("tenantId", new BsonString("extra-co")));

    Migration first = migrate("extra-co");

    assertThat(first.getState()).isEqualTo(MigrationState.MIGRATION_STATE_VERIFY_FAILED);
    assertThat(first.getLastError()).contains("verification found 1 problem");
    Status purge = statusOf(() -> purge("extra-co"));
    assertThat(purge.getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(count(mongo, SOURCE, "extra-co")).isEqualTo(DOCS);

    Migration rerun = migrateCleanly("extra-co");
    assertThat(rerun.getNotice()).contains("1 deleted");
  }

  @Test
  void anotherTenantsDocumentUnderTheSameIdIsAConflictNotAMigratedDocument() throws Exception {
    migrateCleanly("conflict-a");
    // The id sorts inside conflict-a's copied range, so a re-run asks the target whether it is already there.
    String id = "conflict-a-000005-x";
    collection(mongo, TARGET).insertOne(new BsonDocument("_id", new BsonString(id))
        .append("tenantId", new BsonString("conflict-b")));
    collection(mongo, SOURCE).insertOne(MigrationFixture.patient("conflict-a", 5).append("_id", new BsonString(id)));

    Migration rerun = migrate("conflict-a");

    assertThat(MigrationFixture.mongoProgress(rerun).getFailed()).isEqualTo(1);
    var report = api().getCompletionReport(io.silo.api.v1.GetCompletionReportRequest.newBuilder()
        .setMigrationId(rerun.getId()).build());
    assertThat(report.getItemsList()).anySatisfy(item -> assertThat(item.toString())
        .contains("TARGET_ID_CONFLICT").contains(id));
    BsonDocument foreign = collection(mongo, TARGET).find(Filters.eq("_id", id)).first();
    assertThat(foreign.getString("tenantId").getValue()).isEqualTo("conflict-b");
    assertThat(foreign.containsKey("ssn")).isFalse();
  }

  private Migration migrateWith(String tenant, io.silo.api.v1.UnplannedFieldPolicy policy) throws Exception {
    String id = api().startMigration(StartMigrationRequest.newBuilder().addTenants(tenant)
        .setDefinition(io.silo.api.v1.MigrationDefinition.newBuilder().setUnplannedFields(policy)).build())
        .getMigrations(0).getId();
    return awaitFinal(server, id);
  }

  @Test
  void everySourceFieldHasAStatedFateInThePlanTheStatusAndTheTarget() throws Exception {
    var plan = api().planMigration(io.silo.api.v1.PlanMigrationRequest.newBuilder().addTenants("fate-copy").build())
        .getPlans(0);
    assertThat(plan.getFieldsList()).extracting(f -> f.getPath()).containsExactly("ssn", "name", "diagnosis");
    assertThat(plan.getPlaintextFieldsList()).containsExactly("notes", "visits");
    var dropPlan = api().planMigration(io.silo.api.v1.PlanMigrationRequest.newBuilder().addTenants("fate-drop")
        .setDefinition(io.silo.api.v1.MigrationDefinition.newBuilder()
            .setUnplannedFields(io.silo.api.v1.UnplannedFieldPolicy.UNPLANNED_FIELD_POLICY_DROP)).build()).getPlans(0);
    assertThat(dropPlan.getDroppedFieldsList()).containsExactly("notes", "visits");
    assertThat(dropPlan.getPlaintextFieldsList()).isEmpty();

    Migration copied = migrateWith("fate-copy", io.silo.api.v1.UnplannedFieldPolicy.UNPLANNED_FIELD_POLICY_COPY);
    assertThat(copied.getState()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
    assertThat(copied.getPlaintextFieldsList()).containsExactly("notes", "visits");

    Migration dropped = migrateWith("fate-drop", io.silo.api.v1.UnplannedFieldPolicy.UNPLANNED_FIELD_POLICY_DROP);
    assertThat(dropped.getState()).as(dropped.getLastError()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
    assertThat(dropped.getPlaintextFieldsList()).isEmpty();
    BsonDocument target = collection(mongo, TARGET).find(Filters.eq("tenantId", "fate-drop")).first();
    assertThat(target.keySet()).doesNotContain("notes", "visits").contains("ssn", "name", "diagnosis");

    Migration failed = migrateWith("fate-fail", io.silo.api.v1.UnplannedFieldPolicy.UNPLANNED_FIELD_POLICY_FAIL);
    assertThat(MigrationFixture.mongoProgress(failed).getFailed()).isEqualTo(DOCS);
    assertThat(count(mongo, TARGET, "fate-fail")).isZero();
    var report = api().getCompletionReport(io.silo.api.v1.GetCompletionReportRequest.newBuilder()
        .setMigrationId(failed.getId()).build());
    assertThat(report.getItemsList()).allSatisfy(item -> assertThat(item.toString()).contains("UNPLANNED_FIELD"));
  }

  @Test
  void aReSyncThatMeetsAPurgeOrRollbackInProgressWaitsForItInsteadOfFailing() throws Exception {
    migrateCleanly("locked-co");
    var s = server.settings;
    String url = "jdbc:postgresql://" + s.get("postgres.host") + ":" + s.get("postgres.port") + "/"
        + s.get("postgres.database");
    try (java.sql.Connection lock = java.sql.DriverManager.getConnection(url, (String) s.get("postgres.user"),
        (String) s.get("postgres.password"))) {
      // The same advisory lock purge and rollback take for the tenant.
      lock.createStatement().execute("SELECT pg_advisory_lock(" + 0x5110 + ", hashtext('locked-co'))");
      String id = api().startMigration(StartMigrationRequest.newBuilder().addTenants("locked-co").build())
          .getMigrations(0).getId();
      Migration waiting = MigrationFixture.await(server.channel, id, Duration.ofSeconds(60),
          m -> m.getRetryAttempts() > 0 || m.getState() != MigrationState.MIGRATION_STATE_RUNNING
              && m.getState() != MigrationState.MIGRATION_STATE_PLANNED, "a requeue or a final state");
      assertThat(waiting.getState()).isEqualTo(MigrationState.MIGRATION_STATE_RUNNING);
      assertThat(waiting.getLastError()).startsWith("transient").contains("in progress");
      lock.createStatement().execute("SELECT pg_advisory_unlock(" + 0x5110 + ", hashtext('locked-co'))");
      Migration done = awaitFinal(server, id);
      assertThat(done.getState()).as(done.getLastError()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
    }
  }

  @Test
  void aResumedRunRefusesADifferentKeyThanTheOneItStartedWith() throws Exception {
    var keys = KeyServiceGrpc.newBlockingStub(server.channel).withDeadlineAfter(60, TimeUnit.SECONDS);
    String id = api().startMigration(StartMigrationRequest.newBuilder().addTenants("pinned-co")
        .setDefinition(io.silo.api.v1.MigrationDefinition.newBuilder().setBatchSize(5)).build())
        .getMigrations(0).getId();
    MigrationFixture.awaitDone(server, id, 20);
    Migration paused = api().pauseMigration(PauseMigrationRequest.newBuilder().setMigrationId(id).build())
        .getMigration();
    MigrationFixture.await(server, id, Duration.ofSeconds(30), Set.of(MigrationState.MIGRATION_STATE_PAUSED));
    long before = count(mongo, TARGET, "pinned-co");
    assertThat(paused.getState()).isIn(MigrationState.MIGRATION_STATE_PAUSED, MigrationState.MIGRATION_STATE_RUNNING);
    keys.shredTenantKey(ShredTenantKeyRequest.newBuilder().setTenant("pinned-co").setConfirm("pinned-co").build());
    String newKey = keys.createTenantKey(CreateTenantKeyRequest.newBuilder().setTenant("pinned-co")
        .setAllowAfterShred(true).build()).getKey().getKeyId();

    api().resumeMigration(ResumeMigrationRequest.newBuilder().setMigrationId(id).build());
    Migration failed = awaitFinal(server, id);

    assertThat(failed.getState()).isEqualTo(MigrationState.MIGRATION_STATE_FAILED);
    assertThat(failed.getLastError()).contains(newKey).contains("started with data key");
    assertThat(count(mongo, TARGET, "pinned-co")).isEqualTo(before);
  }
}
