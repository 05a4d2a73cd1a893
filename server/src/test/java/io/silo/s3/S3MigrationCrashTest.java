package io.silo.s3;

import static org.assertj.core.api.Assertions.assertThat;

import io.silo.SiloProcess;
import io.silo.TestPostgres;
import io.silo.TestServer;
import io.silo.api.v1.FindingKind;
import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationPhase;
import io.silo.api.v1.MigrationServiceGrpc;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.PhaseProgress;
import io.silo.api.v1.StartMigrationRequest;
import io.silo.api.v1.VerifyTenantRequest;
import io.silo.api.v1.VerifyTenantResponse;
import io.silo.dev.DemoSeeder;
import io.silo.dev.DevS3;
import io.silo.dev.mongo.DevMongoServer;
import io.silo.jobs.MigrationFixture;
import io.silo.store.AppDatabase;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.services.s3.S3AsyncClient;

/**
 * Silo as a separate JVM, killed with SIGKILL while its S3 phase copies objects and started again on the same
 * PostgreSQL, MongoDB stand-in and S3Mock (all in this JVM, so they outlive it): the restart takes the job over once
 * the dead lease expires, resumes from the S3 checkpoint, and every object ends up in its tenant's bucket exactly
 * once, one version per key, although the killed process had made copies it never checkpointed.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class S3MigrationCrashTest {

  private static final int TENANTS = 2;
  private static final int OBJECTS = 300;
  private static final Path LOGS = Path.of("target", "s3-migration-crash-test").toAbsolutePath();

  private final Map<String, Object> settings = new LinkedHashMap<>();
  private DevMongoServer mongo;
  private DevS3 s3mock;
  private S3AsyncClient s3;
  private AppDatabase app;
  private final List<SiloProcess> children = new ArrayList<>();

  @BeforeAll
  void startStoresAndSeed() throws Exception {
    Files.createDirectories(LOGS);
    Path dir = Files.createTempDirectory("silo-s3-crash-test");
    mongo = DevMongoServer.start(null, "127.0.0.1", 0);
    s3mock = DevS3.start(dir.resolve("s3"), "127.0.0.1", 0, List.of(), List.of());
    s3 = S3Clients.async(URI.create(s3mock.endpoint()), DevS3.REGION, StaticCredentialsProvider.create(
        AwsBasicCredentials.create(DevS3.ACCESS_KEY_ID, DevS3.SECRET_ACCESS_KEY)), 16, null);
    app = AppDatabase.createWithoutSilo();
    new DemoSeeder(DemoSeeder.Options.defaults().withCounts(TENANTS, 20, OBJECTS), null)
        .seed(app::connect, mongo.connectionString(), s3);

    settings.putAll(app.settings);
    settings.put("mongo.uri", mongo.connectionString());
    settings.put("kms.local.keyBase64", TestServer.LOCAL_KEY_BASE64);
    settings.put("grpc.host", "127.0.0.1");
    settings.put("grpc.port", 0);
    settings.put("log.format", "text");
    settings.put("s3.enabled", true);
    settings.put("s3.endpoint", s3mock.endpoint());
    settings.put("s3.region", DevS3.REGION.id());
    settings.put("s3.pathStyle", true);
    settings.put("s3.accessKeyId", DevS3.ACCESS_KEY_ID);
    settings.put("s3.secretAccessKey", DevS3.SECRET_ACCESS_KEY);
    settings.put("s3.strict", false);
    // Small batches and few copies in flight: dozens of checkpoints per tenant, so a kill lands between two of them
    // with copies made that no checkpoint covers. A short lease lets the restart take over quickly.
    settings.put("s3.batchSize", 10);
    settings.put("s3.copyConcurrency", 8);
    settings.put("jobs.leaseSeconds", 2);
    settings.put("jobs.pollMillis", 100);
    // The test calls VerifyTenant itself at the end; verifying inside the run as well would double that part.
    settings.put("migration.verifyAfterCopy", false);
  }

  @AfterAll
  void stopEverything() throws Exception {
    children.forEach(SiloProcess::close);
    for (AutoCloseable store : new AutoCloseable[] {s3, s3mock, mongo}) {
      if (store != null) {
        store.close();
      }
    }
  }

  @Test
  void serverKilledWhileCopyingObjectsResumesAndLeavesExactlyOneVersionOfEveryObject() throws Throwable {
    SiloProcess.explainingFailures(children, this::run);
  }

  private void run() throws Exception {
    long t0 = System.nanoTime();
    List<String> tenants = app.rows("SELECT slug FROM tenants ORDER BY slug").stream()
        .map(r -> (String) r.get(0)).toList();
    SiloProcess silo = launch("first");
    List<String> ids = new ArrayList<>();
    MigrationServiceGrpc.newBlockingStub(silo.channel).withDeadlineAfter(60, TimeUnit.SECONDS)
        .startMigration(StartMigrationRequest.newBuilder().addAllTenants(tenants).build())
        .getMigrationsList().forEach(m -> ids.add(m.getId()));
    assertThat(ids).hasSize(TENANTS);

    // The larger tenant's copy is the one the kills aim at; the other one is wherever it is at that moment.
    String target = ids.get(0);
    long floor = 0;
    int kills = 0;
    for (String name : List.of("second", "third")) {
      long after = floor;
      Migration m = MigrationFixture.await(silo.channel, target, Duration.ofSeconds(120),
          x -> midCopy(x, after) || x.getState() == MigrationState.MIGRATION_STATE_COMPLETED
              || x.getState() == MigrationState.MIGRATION_STATE_FAILED, "S3 copies under way");
      if (!midCopy(m, after)) {
        break; // finished before a kill could land mid-copy; the first kill (asserted below) is the one that counts
      }
      silo.killWithSigkill();
      kills++;
      long checkpointed = s3Checkpointed(target);
      long total = s3Progress(m).getTotal();
      assertThat(TestPostgres.queryOne(settings, "SELECT state FROM silo.migrations WHERE id = '" + target + "'"))
          .isEqualTo("RUNNING");
      assertThat(TestPostgres.queryOne(settings, "SELECT lease_owner FROM silo.migrations WHERE id = '" + target
          + "'")).as("nobody handed the lease back").isNotNull();
      assertThat(checkpointed).as("objects checkpointed at kill %d", kills).isPositive().isLessThan(total);
      // Copies beyond the checkpoint are what the restart must recognise instead of making again.
      String bucket = bucketOf(tenants.get(0));
      System.out.println("kill " + kills + " after " + seconds(t0) + " s: S3 checkpoint at " + checkpointed + " of "
          + total + ", " + BucketContents.keys(s3, bucket).size() + " objects in " + bucket);
      floor = checkpointed;
      silo = launch(name);
    }
    assertThat(kills).as("kills that landed while objects were being copied").isPositive();

    for (String id : ids) {
      Migration done = MigrationFixture.await(silo.channel, id, Duration.ofSeconds(180),
          m -> Set.of(MigrationState.MIGRATION_STATE_COMPLETED, MigrationState.MIGRATION_STATE_VERIFY_FAILED,
              MigrationState.MIGRATION_STATE_FAILED, MigrationState.MIGRATION_STATE_CANCELLED).contains(m.getState()),
          "a final state");
      assertThat(done.getState()).as(done.getLastError()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
      assertThat(s3Progress(done).getDone()).isEqualTo(s3Progress(done).getTotal());
      assertThat(s3Progress(done).getFailed()).isZero();
    }
    System.out.println("completed after " + seconds(t0) + " s and " + kills + " kill(s)");

    for (String tenant : tenants) {
      assertVerifiesClean(silo, tenant);
      assertEveryObjectOnceInItsBucket(tenant);
    }
    assertThat(app.rows("SELECT silo_status, count(*) FROM documents GROUP BY silo_status"))
        .containsExactly(List.of("COPIED", (long) OBJECTS));
  }

  /** The S3 phase has copied (checkpointed) some objects, more than {@code after}, and not yet all of them. */
  private static boolean midCopy(Migration m, long after) {
    PhaseProgress p = s3Progress(m);
    return m.getState() == MigrationState.MIGRATION_STATE_RUNNING && m.getPhase() == MigrationPhase.MIGRATION_PHASE_S3
        && p.getDone() > after && p.getDone() < p.getTotal();
  }

  private static PhaseProgress s3Progress(Migration m) {
    return m.getProgressList().stream().filter(p -> p.getPhase() == MigrationPhase.MIGRATION_PHASE_S3).findFirst()
        .orElse(PhaseProgress.getDefaultInstance());
  }

  private long s3Checkpointed(String id) throws Exception {
    return ((Number) TestPostgres.queryOne(settings, "SELECT done FROM silo.migration_phases WHERE phase = 'S3'"
        + " AND migration_id = '" + id + "'")).longValue();
  }

  private static void assertVerifiesClean(SiloProcess silo, String tenant) {
    List<VerifyTenantResponse> stream = new ArrayList<>();
    MigrationServiceGrpc.newBlockingStub(silo.channel).withDeadlineAfter(120, TimeUnit.SECONDS)
        .verifyTenant(VerifyTenantRequest.newBuilder().setTenant(tenant).build()).forEachRemaining(stream::add);
    assertThat(stream.stream().filter(VerifyTenantResponse::hasFinding).map(VerifyTenantResponse::getFinding)
        .filter(f -> f.getKind() != FindingKind.FINDING_KIND_CONTROL_UNSUPPORTED).toList())
        .as("verify findings of %s", tenant).isEmpty();
    assertThat(stream.get(stream.size() - 1).getSummary().getClean()).isTrue();
  }

  /** Byte-identical at its key, and exactly one version of each key: no copy was made twice. */
  private void assertEveryObjectOnceInItsBucket(String tenant) throws Exception {
    String bucket = bucketOf(tenant);
    Map<String, Integer> versions = BucketContents.versions(s3, bucket);
    List<List<Object>> docs = app.rows("SELECT d.id, d.filename, d.s3_key FROM documents d JOIN tenants t"
        + " ON t.id = d.tenant_id WHERE t.slug = '" + tenant + "' ORDER BY d.id");
    List<String> keys = new ArrayList<>();
    for (List<Object> doc : docs) {
      String key = FilenameSanitizer.key(doc.get(0).toString(), (String) doc.get(1));
      keys.add(key);
      assertThat(BucketContents.get(s3, bucket, key)).as("%s in %s", key, bucket)
          .isEqualTo(BucketContents.get(s3, DemoSeeder.SHARED_BUCKET, (String) doc.get(2)));
    }
    assertThat(versions.keySet()).containsExactlyInAnyOrderElementsOf(keys);
    assertThat(versions).as("versions per key in %s", bucket)
        .allSatisfy((key, count) -> assertThat(count).as(key).isEqualTo(1));
  }

  private String bucketOf(String tenant) throws Exception {
    return (String) app.rows("SELECT bucket FROM silo.tenant_buckets WHERE tenant_slug = '" + tenant
        + "' AND purpose = 'TENANT' AND state <> 'DELETED'").get(0).get(0);
  }

  private static long seconds(long since) {
    return TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - since);
  }

  private SiloProcess launch(String name) throws Exception {
    SiloProcess process = SiloProcess.start(name, settings, LOGS.resolve(name + ".log"), "-Xmx512m");
    children.add(process);
    return process;
  }
}
