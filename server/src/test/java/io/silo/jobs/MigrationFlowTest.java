package io.silo.jobs;

import static io.silo.jobs.MigrationFixture.awaitFinal;
import static io.silo.jobs.MigrationFixture.count;
import static org.assertj.core.api.Assertions.assertThat;

import com.mongodb.ClientEncryptionSettings;
import com.mongodb.client.MongoClient;
import com.mongodb.client.model.Filters;
import com.mongodb.client.vault.ClientEncryption;
import com.mongodb.client.vault.ClientEncryptions;
import io.silo.TestServer;
import io.silo.api.v1.GetCompletionReportRequest;
import io.silo.api.v1.GetCompletionReportResponse;
import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationPhase;
import io.silo.api.v1.MigrationServiceGrpc;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.PhaseProgress;
import io.silo.api.v1.StartMigrationRequest;
import io.silo.api.v1.StartMigrationResponse;
import io.silo.api.v1.VerifyTenantRequest;
import io.silo.api.v1.VerifyTenantResponse;
import io.silo.mongo.MongoClientFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.bson.BsonDocument;
import org.bson.BsonInt32;
import org.bson.BsonValue;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/** The MONGO phase end to end through the API: real PostgreSQL, the MongoDB-wire dev server, libmongocrypt. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MigrationFlowTest {

  @TempDir
  static Path keyDir;

  private TestServer server;
  private MongoClient mongo;
  private MigrationServiceGrpc.MigrationServiceBlockingStub api;

  @BeforeAll
  void start() throws Exception {
    server = TestServer.startWithMongo(Map.of("migration.batchSize", 50, "jobs.pollMillis", 100), keyDir);
    mongo = MigrationFixture.plainClient(server);
    api = MigrationServiceGrpc.newBlockingStub(server.channel).withDeadlineAfter(60, TimeUnit.SECONDS);
    MigrationFixture.registerTenants(server, "acme", "globex", "misfit-co");
    MigrationFixture.seed(mongo, "legacy.patients", 260, "acme", "globex");
  }

  @AfterAll
  void stop() throws Exception {
    mongo.close();
    server.close();
  }

  private StartMigrationResponse start(String... tenants) {
    return api.withDeadlineAfter(60, TimeUnit.SECONDS)
        .startMigration(StartMigrationRequest.newBuilder().addAllTenants(List.of(tenants)).build());
  }

  @Test
  void planNamesTheEncryptionPathTheRunWouldTakeBeforeTheTenantHasAKey() {
    MigrationFixture.registerTenants(server, "plan-co");
    io.silo.api.v1.TenantPlan plan = api.planMigration(io.silo.api.v1.PlanMigrationRequest.newBuilder()
        .addTenants("plan-co").build()).getPlans(0);
    assertThat(plan.getKeyExists()).isFalse();
    // The key the KEYS phase would create goes under kms.defaultProvider (local here), which Java unwraps.
    assertThat(plan.getEncryptionPath()).isEqualTo("java (data key under provider 'local';"
        + " migration.encryptionPath=auto)");
  }

  @Test
  void twoTenantsMigrateConcurrentlyEachUnderItsOwnKeyAndVerifyClean() throws Exception {
    StartMigrationResponse started = start("acme", "globex");
    assertThat(started.getMigrationsList()).hasSize(2);
    List<UUID> keyIds = new ArrayList<>();
    for (Migration m : started.getMigrationsList()) {
      Migration done = awaitFinal(server, m.getId());
      assertThat(done.getState()).as(done.getLastError()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
      PhaseProgress mongoPhase = done.getProgressList().stream()
          .filter(p -> p.getPhase() == MigrationPhase.MIGRATION_PHASE_MONGO).findFirst().orElseThrow();
      assertThat(mongoPhase.getTotal()).isEqualTo(260);
      assertThat(mongoPhase.getDone()).isEqualTo(260);
      // Status says which path encrypted the values, and why (the tenant's key is under the 'local' provider).
      assertThat(mongoPhase.getDetail()).isEqualTo("values encrypted by java (data key under provider 'local';"
          + " migration.encryptionPath=auto)");
      assertThat(mongoPhase.getFailed()).isZero();
      assertThat(count(mongo, "medical.patients", m.getTenant())).isEqualTo(260);

      // Every planned field is ciphertext under this tenant's key; the unplanned ones are untouched.
      BsonDocument sample = MigrationFixture.collection(mongo, "medical.patients")
          .find(Filters.eq("_id", m.getTenant() + "-000007")).first();
      assertThat(sample.getString("tenantId").getValue()).isEqualTo(m.getTenant());
      assertThat(sample.getInt32("visits")).isEqualTo(new BsonInt32(7));
      UUID key = null;
      for (String field : List.of("ssn", "name", "diagnosis")) {
        BsonValue v = sample.get(field);
        assertThat(v.isBinary() && v.asBinary().getType() == 6).as(field).isTrue();
        byte[] bytes = v.asBinary().getData();
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(bytes, 1, 16);
        UUID fieldKey = new UUID(b.getLong(), b.getLong());
        assertThat(bytes[0]).as(field + " algorithm tag").isEqualTo(field.equals("ssn") ? (byte) 1 : (byte) 2);
        key = key == null ? fieldKey : key;
        assertThat(fieldKey).isEqualTo(key);
      }
      keyIds.add(key);
      assertThat(verify(m.getTenant()).getSummary().getClean()).isTrue();
    }
    assertThat(keyIds.get(0)).isNotEqualTo(keyIds.get(1));

    // The source is untouched.
    assertThat(count(mongo, "legacy.patients", "acme")).isEqualTo(260);
    assertThat(MigrationFixture.collection(mongo, "legacy.patients").find(Filters.eq("_id", "acme-000007")).first()
        .getString("ssn").getValue()).isEqualTo(MigrationFixture.patient("acme", 7).getString("ssn").getValue());

    // Encrypted fields decrypt to the source values.
    try (ClientEncryption encryption = ClientEncryptions.create(ClientEncryptionSettings.builder()
        .keyVaultMongoClientSettings(MongoClientFactory.settings(server.mongo.connectionString()))
        .keyVaultNamespace("encryption.__keyVault")
        .kmsProviders(Map.of("local", Map.of("key", Base64.getDecoder().decode(TestServer.LOCAL_KEY_BASE64))))
        .build())) {
      BsonDocument target = MigrationFixture.collection(mongo, "medical.patients")
          .find(Filters.eq("_id", "globex-000123")).first();
      assertThat(encryption.decrypt(target.getBinary("ssn")))
          .isEqualTo(MigrationFixture.patient("globex", 123).get("ssn"));
    }
  }

  @Test
  void itemsThatDoNotFitThePlanAreReportedAndTheRestMigrates() throws Exception {
    MigrationFixture.seed(mongo, "legacy.patients", 30, "misfit-co");
    var legacy = MigrationFixture.collection(mongo, "legacy.patients");
    legacy.updateOne(Filters.eq("_id", "misfit-co-000003"),
        new BsonDocument("$set", new BsonDocument("ssn", new BsonInt32(123456789))));
    legacy.updateOne(Filters.eq("_id", "misfit-co-000011"),
        new BsonDocument("$set", new BsonDocument("name", new BsonDocument("first", new org.bson.BsonString("x")))));
    Migration m = start("misfit-co").getMigrations(0);
    Migration done = awaitFinal(server, m.getId());
    assertThat(done.getState()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
    assertThat(count(mongo, "medical.patients", "misfit-co")).isEqualTo(28);
    GetCompletionReportResponse report = api.getCompletionReport(
        GetCompletionReportRequest.newBuilder().setMigrationId(m.getId()).build());
    assertThat(report.getItemsList()).extracting(i -> i.getSourceId())
        .containsExactlyInAnyOrder("misfit-co-000003", "misfit-co-000011");
    assertThat(report.getItemsList()).allSatisfy(i -> {
      assertThat(i.getErrorCode()).isEqualTo("FIELD_TYPE_MISMATCH");
      assertThat(i.getMessage()).doesNotContain("123456789");
    });
  }

  private VerifyTenantResponse verify(String tenant) {
    Iterator<VerifyTenantResponse> stream = MigrationServiceGrpc.newBlockingStub(server.channel)
        .withDeadlineAfter(60, TimeUnit.SECONDS)
        .verifyTenant(VerifyTenantRequest.newBuilder().setTenant(tenant).build());
    VerifyTenantResponse last = null;
    List<VerifyTenantResponse> findings = new ArrayList<>();
    while (stream.hasNext()) {
      last = stream.next();
      if (last.hasFinding()) {
        findings.add(last);
      }
    }
    assertThat(findings).isEmpty();
    return last;
  }
}
