package io.silo.s3;

import static io.silo.jobs.MigrationFixture.statusOf;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Duration;
import io.grpc.Status;
import io.silo.S3MockSilo;
import io.silo.TestServer;
import io.silo.api.v1.FindingKind;
import io.silo.api.v1.GetMigrationRequest;
import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationEvent;
import io.silo.api.v1.MigrationPhase;
import io.silo.api.v1.MigrationServiceGrpc;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.PhaseProgress;
import io.silo.api.v1.PlanMigrationRequest;
import io.silo.api.v1.PurgeSourceRequest;
import io.silo.api.v1.PurgeSourceResponse;
import io.silo.api.v1.RollbackMigrationRequest;
import io.silo.api.v1.RollbackMigrationResponse;
import io.silo.api.v1.StartMigrationRequest;
import io.silo.api.v1.TenantPlan;
import io.silo.api.v1.VerifyFinding;
import io.silo.api.v1.VerifySummary;
import io.silo.api.v1.VerifyTenantRequest;
import io.silo.api.v1.VerifyTenantResponse;
import io.silo.api.v1.WatchMigrationRequest;
import io.silo.api.v1.WatchMigrationResponse;
import io.silo.auth.TokenRegistry;
import io.silo.dev.DemoSeeder;
import io.silo.jobs.MigrationFixture;
import io.silo.store.AppDatabase;
import java.sql.Timestamp;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import software.amazon.awssdk.services.s3.S3AsyncClient;

/**
 * The S3 phase driven only through the gRPC API of a running Silo (s3.enabled, S3Mock in-process), over the demo
 * seeder's estate: three tenants with their documents rows, their patients in MongoDB and ~200 objects with hostile
 * names in the shared bucket. Every tenant is migrated once in set-up; the tests that change a tenant afterwards
 * (verify after a deletion, purge, rollback) each use a tenant of their own and run after the read-only ones.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class S3MigrationApiTest {

  private static final String ADMIN = "s3-api-admin-token-0001";
  private static final String ACME = "acme-health";
  private static final String GLOBEX = "globex-clinic";
  private static final String INITECH = "initech-care";
  private static final List<String> TENANTS = List.of(ACME, GLOBEX, INITECH);
  private static final int OBJECTS = 200;
  private static final int BATCH = 10;

  private S3MockSilo silo;
  private S3AsyncClient s3;
  private TestServer server;
  private AppDatabase app;
  private final Map<String, TenantPlan> plans = new HashMap<>();
  private final Map<String, Migration> completed = new HashMap<>();
  /** Every snapshot the watch streams delivered during the first migration, per tenant. */
  private final Map<String, List<MigrationEvent>> watched = new ConcurrentHashMap<>();
  /** Every tenants.silo_status seen while the first migration ran, per tenant slug. */
  private final Map<String, Set<String>> statusesSeen = new ConcurrentHashMap<>();

  @BeforeAll
  void migrateTheDemoEstateThroughTheApi() throws Exception {
    Map<String, Object> settings = new HashMap<>();
    settings.put("s3.enabled", true);
    // S3Mock lacks five bucket controls; dev mode reports them and goes on, as the dev stack does.
    settings.put("s3.strict", false);
    // Small batches, so a tenant's S3 phase has several checkpoints a watcher and the status poller can see.
    settings.put("s3.batchSize", BATCH);
    settings.put("s3.copyConcurrency", 4);
    settings.put("auth.tokens", List.of("root:admin:" + TokenRegistry.hashHex(ADMIN)));
    settings.put("jobs.pollMillis", 100);
    settings.put("watch.minIntervalMillis", 0);
    silo = S3MockSilo.start("silo-s3-api-test", settings);
    s3 = silo.s3;
    server = silo.server;
    app = AppDatabase.of(server.settings);
    new DemoSeeder(DemoSeeder.Options.defaults().withCounts(TENANTS.size(), 60, OBJECTS), null)
        .seed(app::connect, server.mongo.connectionString(), s3);

    for (TenantPlan plan : migrations().planMigration(PlanMigrationRequest.newBuilder().addAllTenants(TENANTS)
        .build()).getPlansList()) {
      plans.put(plan.getTenant(), plan);
    }
    assertThat(BucketContents.buckets(s3)).as("buckets after a plan, which changes nothing")
        .containsExactly(DemoSeeder.SHARED_BUCKET);

    AtomicBoolean running = new AtomicBoolean(true);
    Thread poller = new Thread(() -> pollTenantStatuses(running), "silo-status-poller");
    poller.start();
    List<MigrationFixture.Recorder<WatchMigrationResponse>> watches = new ArrayList<>();
    try {
      List<Migration> started = migrations().startMigration(StartMigrationRequest.newBuilder().addAllTenants(TENANTS)
          .setIdempotencyKey("s3-api-first").build()).getMigrationsList();
      for (Migration m : started) {
        MigrationFixture.Recorder<WatchMigrationResponse> recorder = new MigrationFixture.Recorder<>();
        MigrationServiceGrpc.newStub(server.withToken(ADMIN)).withDeadlineAfter(240, TimeUnit.SECONDS).watchMigration(
            WatchMigrationRequest.newBuilder().setMigrationId(m.getId()).setMinInterval(Duration.getDefaultInstance())
                .build(), recorder);
        watches.add(recorder);
      }
      for (Migration m : started) {
        completed.put(m.getTenant(), awaitFinal(m.getId()));
      }
      for (int i = 0; i < started.size(); i++) {
        // A watch of one migration ends by itself with the final snapshot.
        assertThat(watches.get(i).done.get(60, TimeUnit.SECONDS)).as("watch stream error").isNull();
        watched.put(started.get(i).getTenant(), watches.get(i).items.stream().map(WatchMigrationResponse::getEvent)
            .toList());
      }
    } finally {
      running.set(false);
      poller.join();
    }
  }

  /** Polls the application's tenants table as a support engineer would, recording each status seen. */
  private void pollTenantStatuses(AtomicBoolean running) {
    while (running.get()) {
      try {
        for (List<Object> row : app.rows("SELECT slug, silo_status FROM tenants")) {
          statusesSeen.computeIfAbsent((String) row.get(0), k -> ConcurrentHashMap.newKeySet())
              .add(String.valueOf(row.get(1)));
        }
        Thread.sleep(5);
      } catch (Exception e) {
        // Before the S3 phase adds silo_status the query fails; keep polling.
        try {
          Thread.sleep(20);
        } catch (InterruptedException interrupted) {
          return;
        }
      }
    }
  }

  @AfterAll
  void stop() throws Exception {
    if (silo != null) {
      silo.close();
    }
  }

  private MigrationServiceGrpc.MigrationServiceBlockingStub migrations() {
    return MigrationServiceGrpc.newBlockingStub(server.withToken(ADMIN)).withDeadlineAfter(120, TimeUnit.SECONDS);
  }

  private Migration awaitFinal(String id) throws InterruptedException {
    return MigrationFixture.await(server.withToken(ADMIN), id, java.time.Duration.ofSeconds(240),
        m -> Set.of(MigrationState.MIGRATION_STATE_COMPLETED, MigrationState.MIGRATION_STATE_VERIFY_FAILED,
            MigrationState.MIGRATION_STATE_FAILED, MigrationState.MIGRATION_STATE_CANCELLED).contains(m.getState()),
        "a final state");
  }

  private static PhaseProgress progress(Migration m, MigrationPhase phase) {
    return m.getProgressList().stream().filter(p -> p.getPhase() == phase).findFirst()
        .orElseThrow(() -> new AssertionError("no " + phase + " progress in " + m));
  }

  /** {id, filename, s3_key, size_bytes} of each of the tenant's documents, in id order. */
  private List<List<Object>> documentsOf(String tenant) throws Exception {
    return app.rows("SELECT d.id, d.filename, d.s3_key, d.size_bytes FROM documents d JOIN tenants t"
        + " ON t.id = d.tenant_id WHERE t.slug = '" + tenant + "' ORDER BY d.id");
  }

  private long bytesOf(String tenant) throws Exception {
    return documentsOf(tenant).stream().mapToLong(r -> ((Number) r.get(3)).longValue()).sum();
  }

  private String bucketOf(String tenant) throws Exception {
    List<List<Object>> rows = app.rows("SELECT bucket FROM silo.tenant_buckets WHERE tenant_slug = '" + tenant
        + "' AND purpose = 'TENANT' AND state <> 'DELETED'");
    return rows.isEmpty() ? null : (String) rows.get(0).get(0);
  }

  /** The tenant's copies by key, checked byte for byte against the shared bucket's originals. */
  private void assertEveryObjectByteIdenticalInItsOwnBucket(String tenant) throws Exception {
    String bucket = bucketOf(tenant);
    List<String> expected = new ArrayList<>();
    for (List<Object> doc : documentsOf(tenant)) {
      String key = FilenameSanitizer.key(doc.get(0).toString(), (String) doc.get(1));
      expected.add(key);
      assertThat(BucketContents.get(s3, bucket, key)).as("%s in %s", key, bucket)
          .isEqualTo(BucketContents.get(s3, DemoSeeder.SHARED_BUCKET, (String) doc.get(2)));
    }
    // Exactly the tenant's own documents: nothing of another tenant, nothing left over.
    assertThat(BucketContents.keys(s3, bucket)).containsExactlyInAnyOrderElementsOf(expected);
  }

  private List<VerifyTenantResponse> verify(String tenant, MigrationPhase... phases) {
    Iterator<VerifyTenantResponse> stream = migrations().verifyTenant(VerifyTenantRequest.newBuilder()
        .setTenant(tenant).addAllPhases(List.of(phases)).build());
    List<VerifyTenantResponse> out = new ArrayList<>();
    stream.forEachRemaining(out::add);
    assertThat(out).isNotEmpty();
    assertThat(out.get(out.size() - 1).hasSummary()).as("the stream ends with its summary").isTrue();
    return out;
  }

  private static VerifySummary summaryOf(List<VerifyTenantResponse> stream) {
    return stream.get(stream.size() - 1).getSummary();
  }

  private static List<VerifyFinding> findingsOf(List<VerifyTenantResponse> stream) {
    return stream.stream().filter(VerifyTenantResponse::hasFinding).map(VerifyTenantResponse::getFinding).toList();
  }

  @Test
  @Order(1)
  void planMigrationCountsEachTenantsObjectsAndBytesAndNamesTheBucketTheRunThenCreates() throws Exception {
    assertThat(plans.keySet()).containsExactlyInAnyOrderElementsOf(TENANTS);
    long objects = 0;
    for (String tenant : TENANTS) {
      TenantPlan plan = plans.get(tenant);
      assertThat(plan.getObjects()).as(tenant).isEqualTo(documentsOf(tenant).size()).isPositive();
      assertThat(plan.getObjectBytes()).as(tenant).isEqualTo(bytesOf(tenant)).isPositive();
      assertThat(plan.getDocuments()).as("%s patients", tenant).isPositive();
      assertThat(plan.getTargetBucket()).matches("dataroom-saas-" + tenant + "-[0-9a-f]{8}")
          .isEqualTo(bucketOf(tenant));
      objects += plan.getObjects();
    }
    assertThat(objects).isEqualTo(OBJECTS);
  }

  @Test
  @Order(2)
  void startMigrationRunsKeysMongoS3AndVerifyToCompletedWithEachObjectByteIdenticalInItsTenantsBucketOnly()
      throws Exception {
    Set<String> buckets = new HashSet<>();
    for (String tenant : TENANTS) {
      Migration m = completed.get(tenant);
      assertThat(m.getState()).as(m.getLastError()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
      assertThat(m.getProgressList()).extracting(PhaseProgress::getPhase).containsExactly(
          MigrationPhase.MIGRATION_PHASE_KEYS, MigrationPhase.MIGRATION_PHASE_MONGO, MigrationPhase.MIGRATION_PHASE_S3,
          MigrationPhase.MIGRATION_PHASE_VERIFY);
      // The phases ran one after another, in order, and the run's VERIFY stage checked both data phases clean.
      List<List<Object>> phases = app.rows("SELECT phase, started_at, ended_at FROM silo.migration_phases"
          + " WHERE migration_id = '" + m.getId() + "' ORDER BY ordinal");
      assertThat(phases).extracting(r -> r.get(0)).containsExactly("KEYS", "MONGO", "S3");
      for (int i = 1; i < phases.size(); i++) {
        assertThat((Timestamp) phases.get(i).get(1)).as("%s starts after %s ended", phases.get(i).get(0),
            phases.get(i - 1).get(0)).isAfterOrEqualTo((Timestamp) phases.get(i - 1).get(2));
      }
      assertThat(app.rows("SELECT clean, array_to_string(phases, ',') FROM silo.verifications WHERE migration_id = '"
          + m.getId() + "'")).containsExactly(List.of(true, "KEYS,MONGO,S3"));
      assertEveryObjectByteIdenticalInItsOwnBucket(tenant);
      buckets.add(bucketOf(tenant));
    }
    assertThat(buckets).hasSize(TENANTS.size());
    assertThat(app.rows("SELECT DISTINCT silo_status FROM documents")).containsExactly(List.of("COPIED"));
    assertThat(app.rows("SELECT slug, silo_status FROM tenants ORDER BY slug")).containsExactly(
        List.of(ACME, "ISOLATED"), List.of(GLOBEX, "ISOLATED"), List.of(INITECH, "ISOLATED"));
    // Every tenant passed through MIGRATING while its copies were being made.
    for (String tenant : TENANTS) {
      assertThat(statusesSeen.get(tenant)).as(tenant).contains("MIGRATING", "ISOLATED");
    }
  }

  @Test
  @Order(3)
  void theSeedGuidesSupportQueryShowsOneCompletedRowPerTenant() throws Exception {
    // The migration guide's query, verbatim (as in S3DemoEstateTest).
    List<List<Object>> rows = app.rows("SELECT t.name, sm.status, sm.documents_migrated, sm.completed_at FROM tenants t"
        + " LEFT JOIN s3_migrations sm ON t.id = sm.tenant_id ORDER BY t.name;");
    assertThat(rows).hasSize(TENANTS.size());
    Map<String, String> expected = new LinkedHashMap<>();
    Map<String, String> actual = new LinkedHashMap<>();
    for (List<Object> row : rows) {
      assertThat(row.get(3)).as("completed_at of %s", row.get(0)).isNotNull();
      actual.put((String) row.get(0), row.get(1) + " " + row.get(2));
    }
    for (List<Object> t : app.rows("SELECT name, slug FROM tenants ORDER BY name")) {
      expected.put((String) t.get(0), "COMPLETED " + documentsOf((String) t.get(1)).size());
    }
    assertThat(actual).containsExactlyEntriesOf(expected);
  }

  @Test
  @Order(4)
  void watchAndGetMigrationReportTheS3PhasesDoneTotalAndBytes() throws Exception {
    for (String tenant : TENANTS) {
      long objects = documentsOf(tenant).size();
      PhaseProgress end = progress(migrations().getMigration(GetMigrationRequest.newBuilder()
          .setMigrationId(completed.get(tenant).getId()).build()).getMigration(), MigrationPhase.MIGRATION_PHASE_S3);
      assertThat(end.getDone()).isEqualTo(objects);
      assertThat(end.getTotal()).isEqualTo(objects);
      assertThat(end.getBytes()).isEqualTo(bytesOf(tenant));
      assertThat(end.getFailed()).isZero();

      List<MigrationEvent> events = watched.get(tenant);
      assertThat(events.get(events.size() - 1).getFinal()).isTrue();
      assertThat(events.get(events.size() - 1).getMigration().getState())
          .isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
      List<PhaseProgress> s3Progress = events.stream().map(MigrationEvent::getMigration)
          .filter(m -> m.getPhase() == MigrationPhase.MIGRATION_PHASE_S3)
          .map(m -> progress(m, MigrationPhase.MIGRATION_PHASE_S3)).toList();
      // With batches of 10 the watcher saw the copy part-way, the total known and the bytes growing with it.
      assertThat(s3Progress).as("S3 snapshots of %s", tenant)
          .anySatisfy(p -> {
            assertThat(p.getDone()).isPositive().isLessThan(objects);
            assertThat(p.getTotal()).isEqualTo(objects);
            assertThat(p.getBytes()).isPositive().isLessThan(bytesOf(tenant));
          });
      for (int i = 1; i < s3Progress.size(); i++) {
        assertThat(s3Progress.get(i).getDone()).isGreaterThanOrEqualTo(s3Progress.get(i - 1).getDone());
        assertThat(s3Progress.get(i).getBytes()).isGreaterThanOrEqualTo(s3Progress.get(i - 1).getBytes());
      }
      // Phases only ever move forward in what a watcher sees.
      List<Integer> phases = events.stream().map(e -> e.getMigration().getPhaseValue()).toList();
      assertThat(phases).isSorted();
    }
  }

  @Test
  @Order(10)
  void verifyTenantSelectsPhasesAndReportsAnObjectDeletedBehindSilosBackAsMissing() throws Exception {
    List<List<Object>> docs = documentsOf(GLOBEX);
    String key = FilenameSanitizer.key(docs.get(0).get(0).toString(), (String) docs.get(0).get(1));
    String bucket = bucketOf(GLOBEX);
    s3.deleteObject(b -> b.bucket(bucket).key(key)).get(30, TimeUnit.SECONDS);

    List<VerifyTenantResponse> s3Only = verify(GLOBEX, MigrationPhase.MIGRATION_PHASE_S3);
    List<VerifyFinding> problems = findingsOf(s3Only).stream()
        .filter(f -> f.getKind() != FindingKind.FINDING_KIND_CONTROL_UNSUPPORTED).toList();
    assertThat(problems).singleElement().satisfies(f -> {
      assertThat(f.getKind()).isEqualTo(FindingKind.FINDING_KIND_OBJECT_MISSING);
      assertThat(f.getSourceId() + " " + f.getMessage()).contains(key);
      assertThat(f.getPhase()).isEqualTo(MigrationPhase.MIGRATION_PHASE_S3);
    });
    assertThat(findingsOf(s3Only)).allSatisfy(f -> assertThat(f.getPhase())
        .isEqualTo(MigrationPhase.MIGRATION_PHASE_S3));
    assertThat(summaryOf(s3Only).getClean()).isFalse();
    assertThat(summaryOf(s3Only).getChecked()).isEqualTo(docs.size());

    // The MONGO phase alone knows nothing of buckets: clean, and none of its findings is about S3.
    List<VerifyTenantResponse> mongoOnly = verify(GLOBEX, MigrationPhase.MIGRATION_PHASE_MONGO);
    assertThat(findingsOf(mongoOnly)).isEmpty();
    assertThat(summaryOf(mongoOnly).getClean()).isTrue();
    assertThat(summaryOf(mongoOnly).getChecked()).isEqualTo(plans.get(GLOBEX).getDocuments());

    // Both phases: the missing object is still reported.
    List<VerifyTenantResponse> both = verify(GLOBEX);
    assertThat(summaryOf(both).getClean()).isFalse();
    assertThat(summaryOf(both).getChecked()).isEqualTo(docs.size() + plans.get(GLOBEX).getDocuments());
    assertThat(findingsOf(both)).extracting(VerifyFinding::getKind).contains(FindingKind.FINDING_KIND_OBJECT_MISSING);
    Status refused = statusOf(() -> migrations().purgeSource(PurgeSourceRequest.newBuilder().setTenant(GLOBEX)
        .setConfirm(GLOBEX).build()));
    assertThat(refused.getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(BucketContents.get(s3, DemoSeeder.SHARED_BUCKET, (String) docs.get(0).get(2)))
        .as("the only copy left is the source, which the refused purge kept").isNotEmpty();
  }

  @Test
  @Order(11)
  void purgeSourceIsRefusedUntilACleanVerifyCoversBothPhasesAndRollbackIsRefusedAfterIt() throws Exception {
    PurgeSourceRequest purge = PurgeSourceRequest.newBuilder().setTenant(INITECH).setConfirm(INITECH).build();
    assertThat(summaryOf(verify(INITECH, MigrationPhase.MIGRATION_PHASE_MONGO)).getClean()).isTrue();
    Status mongoOnly = statusOf(() -> migrations().purgeSource(purge));
    assertThat(mongoOnly.getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(mongoOnly.getDescription()).contains("no clean verification", "[MONGO]", "[MONGO, S3]");

    assertThat(summaryOf(verify(INITECH, MigrationPhase.MIGRATION_PHASE_S3)).getClean()).isTrue();
    Status s3Only = statusOf(() -> migrations().purgeSource(purge));
    assertThat(s3Only.getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(s3Only.getDescription()).contains("[S3]", "[MONGO, S3]");
    List<List<Object>> docs = documentsOf(INITECH);
    assertThat(BucketContents.keys(s3, DemoSeeder.SHARED_BUCKET)).as("nothing was purged by refused calls")
        .containsAll(docs.stream().map(r -> (String) r.get(2)).toList());

    // Naming both data phases is a verification of every phase with data (KEYS has nothing to verify).
    assertThat(summaryOf(verify(INITECH, MigrationPhase.MIGRATION_PHASE_MONGO, MigrationPhase.MIGRATION_PHASE_S3))
        .getClean()).isTrue();
    PurgeSourceResponse purged = migrations().purgeSource(purge);
    assertThat(purged.getObjectsDeleted()).isEqualTo(docs.size());
    assertThat(purged.getObjectsKept()).isZero();
    assertThat(purged.getDocumentsDeleted()).isEqualTo(plans.get(INITECH).getDocuments());
    List<String> shared = BucketContents.keys(s3, DemoSeeder.SHARED_BUCKET);
    assertThat(shared).doesNotContainAnyElementsOf(docs.stream().map(r -> (String) r.get(2)).toList());
    assertThat(shared).as("the other tenants' sources").containsAll(documentsOf(ACME).stream()
        .map(r -> (String) r.get(2)).toList());
    // The tenant's bucket now holds the only copy of each document, intact.
    for (List<Object> doc : docs) {
      String key = FilenameSanitizer.key(doc.get(0).toString(), (String) doc.get(1));
      assertThat(BucketContents.get(s3, bucketOf(INITECH), key)).hasSize(((Number) doc.get(3)).intValue());
    }

    Status rollback = statusOf(() -> migrations().rollbackMigration(RollbackMigrationRequest.newBuilder()
        .setTenant(INITECH).build()));
    assertThat(rollback.getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(rollback.getDescription()).contains("purged", "only copy");
    assertThat(BucketContents.keys(s3, bucketOf(INITECH))).hasSize(docs.size());
  }

  @Test
  @Order(12)
  void rollbackThenStartAgainConvergesWithOneVersionPerKey() throws Exception {
    List<List<Object>> docs = documentsOf(ACME);
    String firstBucket = bucketOf(ACME);
    RollbackMigrationResponse rolled = migrations().rollbackMigration(RollbackMigrationRequest.newBuilder()
        .setTenant(ACME).build());
    assertThat(rolled.getMigration().getState()).isEqualTo(MigrationState.MIGRATION_STATE_ROLLED_BACK);
    assertThat(rolled.getObjectsRemoved()).isEqualTo(docs.size());
    assertThat(app.rows("SELECT silo_status FROM tenants WHERE slug = '" + ACME + "'"))
        .containsExactly(List.of("POOLED"));
    assertThat(app.rows("SELECT count(*) FROM documents d JOIN tenants t ON t.id = d.tenant_id WHERE t.slug = '"
        + ACME + "' AND d.silo_status IS NOT NULL")).containsExactly(List.of(0L));
    assertThat(BucketContents.buckets(s3)).as("the bucket Silo created, emptied, is deleted")
        .doesNotContain(firstBucket);

    Migration again = migrations().startMigration(StartMigrationRequest.newBuilder().addTenants(ACME)
        .setIdempotencyKey("s3-api-again").build()).getMigrations(0);
    Migration done = awaitFinal(again.getId());
    assertThat(done.getState()).as(done.getLastError()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
    assertThat(progress(done, MigrationPhase.MIGRATION_PHASE_S3).getDone()).isEqualTo(docs.size());
    assertEveryObjectByteIdenticalInItsOwnBucket(ACME);
    Map<String, Integer> versions = BucketContents.versions(s3, bucketOf(ACME));
    assertThat(versions).hasSize(docs.size());
    assertThat(versions).allSatisfy((key, count) -> assertThat(count).as(key).isEqualTo(1));
    assertThat(app.rows("SELECT silo_status FROM tenants WHERE slug = '" + ACME + "'"))
        .containsExactly(List.of("ISOLATED"));

    // A third run over a migrated tenant copies nothing again: still one version per key.
    Migration third = migrations().startMigration(StartMigrationRequest.newBuilder().addTenants(ACME)
        .setIdempotencyKey("s3-api-third").build()).getMigrations(0);
    assertThat(awaitFinal(third.getId()).getState()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
    assertThat(BucketContents.versions(s3, bucketOf(ACME))).isEqualTo(versions);
  }
}
