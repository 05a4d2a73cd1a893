package io.silo.keys;

import static org.assertj.core.api.Assertions.assertThat;

import com.mongodb.client.MongoClient;
import com.mongodb.client.model.Filters;
import com.mongodb.client.vault.ClientEncryption;
import io.silo.TestServer;
import io.silo.api.v1.CreateTenantKeyRequest;
import io.silo.api.v1.KeyServiceGrpc;
import io.silo.api.v1.MasterKey;
import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationServiceGrpc;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.PlanMigrationRequest;
import io.silo.api.v1.StartMigrationRequest;
import io.silo.api.v1.TenantPlan;
import io.silo.api.v1.VerifyTenantRequest;
import io.silo.api.v1.VerifyTenantResponse;
import io.silo.jobs.MigrationFixture;
import io.silo.mongo.DocumentEncryptor;
import io.vertx.core.Vertx;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.bson.BsonDocument;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A tenant whose data key is wrapped by AWS KMS (the stub) is copied on the Java path: with
 * {@code migration.encryptionPath=java}, which fails a run whose key the Java path cannot unwrap, the run completes,
 * the key is unwrapped by one KMS Decrypt for the whole copy, plan and status name the path, and libmongocrypt
 * decrypts every migrated document back to its source.
 */
class AwsDataKeyJavaPathTest {

  private static final String TENANT = "aws-java";
  private static final int DOCUMENTS = 600;
  private static final List<String> ENCRYPTED = List.of("ssn", "name", "diagnosis");

  @TempDir
  Path dir;

  @Test
  void anAwsWrappedDataKeyIsUnwrappedOnceByKmsDecryptAndItsDocumentsDecryptThroughLibmongocryptToTheirSource()
      throws Exception {
    Vertx stubVertx = Vertx.vertx();
    try (AwsKmsStub stub = new AwsKmsStub(stubVertx).start()) {
      Path ca = stub.writeCaPem(dir.resolve("kms-pki"));
      Map<String, Object> settings = new java.util.HashMap<>(KmsTestSupport.awsSettings(stub, ca));
      settings.putAll(Map.of("migration.encryptionPath", "java", "migration.batchSize", 50,
          // Checked below by VerifyTenant, so the KMS requests of the copy can be counted on their own.
          "migration.verifyAfterCopy", false, "jobs.pollMillis", 100));
      try (TestServer server = TestServer.startWithMongo(settings, dir);
           MongoClient mongo = MigrationFixture.plainClient(server)) {
        MigrationFixture.registerTenants(server, TENANT);
        KeyServiceGrpc.newBlockingStub(server.channel).withDeadlineAfter(60, TimeUnit.SECONDS).createTenantKey(
            CreateTenantKeyRequest.newBuilder().setTenant(TENANT).setMasterKey(MasterKey.newBuilder()
                .setProvider("aws").setDescriptorJson("{\"key\":\"" + KmsTestSupport.KEY_ARN + "\"}")).build());
        MigrationFixture.seed(mongo, "legacy.patients", DOCUMENTS, TENANT);
        MigrationServiceGrpc.MigrationServiceBlockingStub api = MigrationServiceGrpc.newBlockingStub(server.channel)
            .withDeadlineAfter(120, TimeUnit.SECONDS);

        TenantPlan plan = api.planMigration(PlanMigrationRequest.newBuilder().addTenants(TENANT).build()).getPlans(0);
        assertThat(plan.getEncryptionPath()).isEqualTo("java (data key under provider 'aws';"
            + " migration.encryptionPath=java)");

        long decryptsBefore = stub.requests("TrentService.Decrypt");
        String id = api.startMigration(StartMigrationRequest.newBuilder().addTenants(TENANT).build())
            .getMigrations(0).getId();
        Migration done = MigrationFixture.awaitFinal(server, id);
        assertThat(done.getState()).as(done.getLastError()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
        assertThat(MigrationFixture.mongoProgress(done).getDone()).isEqualTo(DOCUMENTS);
        assertThat(MigrationFixture.mongoProgress(done).getDetail()).isEqualTo("values encrypted by java (data key"
            + " under provider 'aws'; migration.encryptionPath=java)");
        // Twelve batches over two crypto threads, one unwrap: the key is cached for kms.keyExpirationSeconds.
        assertThat(stub.requests("TrentService.Decrypt") - decryptsBefore).as("KMS Decrypts during the copy")
            .isEqualTo(1);

        List<VerifyTenantResponse> verified = new ArrayList<>();
        api.verifyTenant(VerifyTenantRequest.newBuilder().setTenant(TENANT).build()).forEachRemaining(verified::add);
        assertThat(verified.get(verified.size() - 1).getSummary().getClean()).isTrue();
        assertThat(verified.get(verified.size() - 1).getSummary().getChecked()).isEqualTo(DOCUMENTS);

        // Independently of Silo: another process's libmongocrypt decrypts each migrated value to the source's.
        try (ClientEncryption other = KmsTestSupport.awsClientEncryption(server.mongo.connectionString(),
            stub.clientSslContext())) {
          int compared = 0;
          for (BsonDocument target : MigrationFixture.collection(mongo, "medical.patients")
              .find(Filters.eq("tenantId", TENANT))) {
            BsonDocument source = MigrationFixture.collection(mongo, "legacy.patients")
                .find(Filters.eq("_id", target.get("_id"))).first();
            for (String field : ENCRYPTED) {
              assertThat(DocumentEncryptor.isCiphertext(target.get(field))).as(field).isTrue();
              assertThat(other.decrypt(target.getBinary(field))).as(field).isEqualTo(source.get(field));
            }
            compared++;
          }
          assertThat(compared).isEqualTo(DOCUMENTS);
        }
      }
    } finally {
      stubVertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }
}
