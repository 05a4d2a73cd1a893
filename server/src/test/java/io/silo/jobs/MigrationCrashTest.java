package io.silo.jobs;

import static io.silo.jobs.MigrationFixture.mongoProgress;
import static org.assertj.core.api.Assertions.assertThat;

import com.mongodb.ClientEncryptionSettings;
import com.mongodb.client.MongoClient;
import com.mongodb.client.model.Filters;
import com.mongodb.client.vault.ClientEncryption;
import com.mongodb.client.vault.ClientEncryptions;
import io.silo.SiloProcess;
import io.silo.TestPostgres;
import io.silo.TestServer;
import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationServiceGrpc;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.RegisterTenantRequest;
import io.silo.api.v1.StartMigrationRequest;
import io.silo.api.v1.TenantServiceGrpc;
import io.silo.api.v1.VerifyTenantRequest;
import io.silo.api.v1.VerifyTenantResponse;
import io.silo.dev.mongo.DevMongoServer;
import io.silo.mongo.MongoClientFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.bson.BsonDocument;
import org.bson.BsonValue;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Silo as a separate JVM, killed with SIGKILL in the middle of a migration and started again on the same PostgreSQL
 * and MongoDB: the new process takes the job over once the dead one's lease expires, resumes from the last
 * checkpoint, and the tenants end up migrated exactly once.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MigrationCrashTest {

  private static final List<String> TENANTS = List.of("acme", "globex");
  private static final int PER_TENANT = 10_000;
  private static final List<String> ENCRYPTED = List.of("ssn", "name", "diagnosis");
  private static final Path LOGS = Path.of("target", "migration-crash-test").toAbsolutePath();

  private Map<String, Object> settings;
  private DevMongoServer mongoServer;
  private MongoClient mongo;
  private final List<SiloProcess> children = new ArrayList<>();

  @BeforeAll
  void startStores() throws Exception {
    Files.createDirectories(LOGS);
    // The stores live in this JVM, so they outlive every server process the test kills.
    mongoServer = DevMongoServer.start(null, "127.0.0.1", 0);
    mongo = MongoClientFactory.sync(mongoServer.connectionString());
    MigrationFixture.seed(mongo, "legacy.patients", PER_TENANT, TENANTS.toArray(new String[0]));
    settings = new LinkedHashMap<>(TestPostgres.freshDatabase());
    settings.put("mongo.uri", mongoServer.connectionString());
    settings.put("kms.local.keyBase64", TestServer.LOCAL_KEY_BASE64);
    settings.put("grpc.host", "127.0.0.1");
    settings.put("grpc.port", 0);
    // Batches small enough for dozens of checkpoints per tenant; a short lease lets the restart take over quickly.
    settings.put("migration.batchSize", 200);
    settings.put("jobs.leaseSeconds", 2);
    settings.put("jobs.pollMillis", 100);
    settings.put("log.format", "text");
    // The test calls VerifyTenant itself at the end; verifying inside the run too would double the slowest part (the
    // dev MongoDB answers the verifier's {tenant, _id: {$in}} lookups by scanning the collection).
    settings.put("migration.verifyAfterCopy", false);
  }

  @AfterAll
  void stopEverything() {
    children.forEach(SiloProcess::close);
    if (mongo != null) {
      mongo.close();
    }
    if (mongoServer != null) {
      mongoServer.close();
    }
  }

  @Test
  void serverKilledWithSigkillMidMigrationIsRestartedAndTheMigrationCompletesExactlyOnce() throws Throwable {
    SiloProcess.explainingFailures(children, this::run);
  }

  private void run() throws Exception {
    long t0 = System.nanoTime();
    SiloProcess first = launch("first");
    TenantServiceGrpc.TenantServiceBlockingStub tenants = TenantServiceGrpc.newBlockingStub(first.channel);
    for (String tenant : TENANTS) {
      tenants.withDeadlineAfter(30, TimeUnit.SECONDS).registerTenant(
          RegisterTenantRequest.newBuilder().setSlug(tenant).setDisplayName(tenant).build());
    }
    List<String> ids = new ArrayList<>();
    MigrationServiceGrpc.newBlockingStub(first.channel).withDeadlineAfter(60, TimeUnit.SECONDS)
        .startMigration(StartMigrationRequest.newBuilder().addAllTenants(TENANTS).build())
        .getMigrationsList().forEach(m -> ids.add(m.getId()));
    assertThat(ids).hasSize(TENANTS.size());

    // Kill as soon as every tenant has a checkpoint, so each one is part-way through its MONGO phase.
    for (String id : ids) {
      MigrationFixture.await(first.channel, id, Duration.ofSeconds(120), m -> mongoProgress(m).getDone() > 0,
          "its first checkpoint");
    }
    first.killWithSigkill();

    // What the dead process left behind: the checkpoints a restart must resume from.
    Map<String, Long> doneAtKill = new HashMap<>();
    for (String id : ids) {
      String where = " FROM silo.migrations WHERE id = '" + id + "'";
      String state = (String) TestPostgres.queryOne(settings, "SELECT state" + where);
      Object leaseOwner = TestPostgres.queryOne(settings, "SELECT lease_owner" + where);
      long done = ((Number) TestPostgres.queryOne(settings, "SELECT done FROM silo.migration_phases"
          + " WHERE phase = 'MONGO' AND migration_id = '" + id + "'")).longValue();
      assertThat(state).as("state of %s after the kill", id).isEqualTo("RUNNING");
      // Nobody handed the lease back: the restart can only take over once it expires.
      assertThat(leaseOwner).as("lease owner of %s after the kill", id).isNotNull();
      assertThat(done).as("checkpointed documents of %s at the kill", id).isPositive().isLessThan(PER_TENANT);
      doneAtKill.put(id, done);
    }
    System.out.println("killed the first server after " + seconds(t0) + " s with checkpoints at " + doneAtKill
        + " of " + PER_TENANT);

    SiloProcess second = launch("second");
    for (String id : ids) {
      Migration done = MigrationFixture.await(second.channel, id, Duration.ofSeconds(180),
          m -> MigrationFixture.FINAL.contains(m.getState()), "a final state");
      assertThat(done.getState()).as(done.getLastError()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
      assertThat(mongoProgress(done).getDone()).isEqualTo(PER_TENANT);
      assertThat(mongoProgress(done).getFailed()).isZero();
    }

    // The restarted process resumed from the checkpoints: it read only what came after them (documents the dead
    // process wrote without checkpointing show up as already_present), never the tenants' whole collections again.
    Map<String, Double> documents = second.metric("silo_migration_documents_total", "result");
    long expectedAfterCheckpoints = 0;
    for (long done : doneAtKill.values()) {
      expectedAfterCheckpoints += PER_TENANT - done;
    }
    assertThat(documents.getOrDefault("migrated", 0.0) + documents.getOrDefault("already_present", 0.0))
        .as("documents processed by the restarted server: %s", documents)
        .isEqualTo((double) expectedAfterCheckpoints);
    assertThat(documents.getOrDefault("failed", 0.0)).isZero();
    System.out.println("the restarted server completed after " + seconds(t0) + " s and processed " + documents);

    for (String tenant : TENANTS) {
      assertTargetMatchesSource(tenant);
      VerifyTenantResponse summary = verify(second, tenant);
      assertThat(summary.getSummary().getClean()).isTrue();
      assertThat(summary.getSummary().getChecked()).isEqualTo(PER_TENANT);
    }
    System.out.println("checked and verified after " + seconds(t0) + " s");
  }

  private static long seconds(long since) {
    return TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - since);
  }

  /** Same count, same _ids with none twice, every encrypted field decrypts to the source value, the rest is copied. */
  private void assertTargetMatchesSource(String tenant) {
    Map<BsonValue, BsonDocument> source = new HashMap<>();
    MigrationFixture.collection(mongo, "legacy.patients").find(Filters.eq("tenantId", tenant))
        .forEach(d -> source.put(d.get("_id"), d));
    assertThat(source).hasSize(PER_TENANT);
    assertThat(MigrationFixture.count(mongo, "medical.patients", tenant)).isEqualTo(PER_TENANT);

    List<BsonDocument> target = new ArrayList<>();
    MigrationFixture.collection(mongo, "medical.patients").find(Filters.eq("tenantId", tenant)).into(target);
    Set<BsonValue> seen = new HashSet<>();
    List<BsonValue> duplicates = new ArrayList<>();
    for (BsonDocument doc : target) {
      if (!seen.add(doc.get("_id"))) {
        duplicates.add(doc.get("_id"));
      }
    }
    assertThat(duplicates).as("duplicate _ids in the target").isEmpty();
    assertThat(seen).isEqualTo(source.keySet());

    try (ClientEncryption encryption = ClientEncryptions.create(ClientEncryptionSettings.builder()
        .keyVaultMongoClientSettings(MongoClientFactory.settings(mongoServer.connectionString()))
        .keyVaultNamespace("encryption.__keyVault")
        .kmsProviders(Map.of("local", Map.of("key", Base64.getDecoder().decode(TestServer.LOCAL_KEY_BASE64))))
        .build())) {
      List<String> mismatches = new ArrayList<>();
      for (BsonDocument doc : target) {
        BsonDocument original = source.get(doc.get("_id"));
        for (String field : original.keySet()) {
          BsonValue stored = doc.get(field);
          boolean encrypted = ENCRYPTED.contains(field);
          if (encrypted && !(stored != null && stored.isBinary() && stored.asBinary().getType() == 6)) {
            mismatches.add(doc.get("_id") + "." + field + " is not ciphertext");
            continue;
          }
          BsonValue plain = encrypted ? encryption.decrypt(stored.asBinary()) : stored;
          if (!original.get(field).equals(plain)) {
            mismatches.add(doc.get("_id") + "." + field + " differs from the source");
          }
        }
        if (mismatches.size() > 20) {
          break;
        }
      }
      assertThat(mismatches).as("fields of %s", tenant).isEmpty();
    }
  }

  private static VerifyTenantResponse verify(SiloProcess silo, String tenant) {
    Iterator<VerifyTenantResponse> stream = MigrationServiceGrpc.newBlockingStub(silo.channel)
        .withDeadlineAfter(120, TimeUnit.SECONDS)
        .verifyTenant(VerifyTenantRequest.newBuilder().setTenant(tenant).build());
    VerifyTenantResponse last = null;
    List<String> findings = new ArrayList<>();
    while (stream.hasNext()) {
      last = stream.next();
      if (last.hasFinding()) {
        findings.add(last.getFinding().toString());
      }
    }
    assertThat(findings).as("verify findings of %s", tenant).isEmpty();
    assertThat(last).isNotNull();
    assertThat(last.hasSummary()).isTrue();
    return last;
  }

  private SiloProcess launch(String name) throws Exception {
    SiloProcess process = SiloProcess.start(name, settings, LOGS.resolve(name + ".log"), "-Xmx512m");
    children.add(process);
    return process;
  }
}
