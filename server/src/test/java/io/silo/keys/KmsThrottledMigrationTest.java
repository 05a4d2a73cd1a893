package io.silo.keys;

import static org.assertj.core.api.Assertions.assertThat;

import com.mongodb.client.MongoClient;
import io.silo.TestServer;
import io.silo.api.v1.CreateTenantKeyRequest;
import io.silo.api.v1.KeyServiceGrpc;
import io.silo.api.v1.MasterKey;
import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationServiceGrpc;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.StartMigrationRequest;
import io.silo.api.v1.VerifyTenantRequest;
import io.silo.api.v1.VerifyTenantResponse;
import io.silo.jobs.MigrationFixture;
import io.vertx.core.Vertx;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Half of all AWS KMS calls throttled for 30 s while a tenant under an AWS master key migrates: the copy reports each
 * throttle to the shared budget, retries, and the run completes and verifies clean without an operator.
 */
class KmsThrottledMigrationTest {

  @TempDir
  Path dir;

  @Test
  void aMigrationCompletesAndVerifiesCleanWhileHalfTheKmsCallsAreThrottled() throws Exception {
    Vertx stubVertx = Vertx.vertx();
    try (AwsKmsStub stub = new AwsKmsStub(stubVertx).start()) {
      Path ca = stub.writeCaPem(dir.resolve("kms-pki"));
      try (TestServer server = TestServer.startWithMongo(Map.of(
          "kms.aws.region", "us-east-1",
          "kms.aws.endpoint", stub.endpoint(),
          "kms.aws.caFile", ca.toString(),
          "kms.aws.accessKeyId", "AKIDSILOTESTDUMMY",
          "kms.aws.secretAccessKey", "dummy-secret",
          // A short DEK cache makes every batch after a second's pause unwrap the key through KMS again.
          "kms.keyExpirationSeconds", 1,
          "kms.budget.ratePerSecond", 10,
          "migration.batchSize", 10,
          "jobs.pollMillis", 100), dir)) {
        MigrationFixture.registerTenants(server, "kms-throttled");
        KeyServiceGrpc.newBlockingStub(server.channel).withDeadlineAfter(60, TimeUnit.SECONDS).createTenantKey(
            CreateTenantKeyRequest.newBuilder().setTenant("kms-throttled").setMasterKey(MasterKey.newBuilder()
                .setProvider("aws").setDescriptorJson("{\"key\":\"" + KmsTestSupport.KEY_ARN + "\"}")).build());
        try (MongoClient mongo = MigrationFixture.plainClient(server)) {
          MigrationFixture.seed(mongo, "legacy.patients", 1500, "kms-throttled");
        }
        stub.throttleFraction(0.5, AwsKmsStub.ThrottleMode.AWS_THROTTLING_EXCEPTION);
        long throttleUntil = System.nanoTime() + 30_000_000_000L;
        String id = MigrationServiceGrpc.newBlockingStub(server.channel).withDeadlineAfter(30, TimeUnit.SECONDS)
            .startMigration(StartMigrationRequest.newBuilder().addTenants("kms-throttled").build())
            .getMigrations(0).getId();
        Migration done = MigrationFixture.await(server.channel, id, java.time.Duration.ofSeconds(240), m -> {
          if (System.nanoTime() > throttleUntil) {
            stub.throttleFraction(0, AwsKmsStub.ThrottleMode.AWS_THROTTLING_EXCEPTION);
          }
          return m.getState() != MigrationState.MIGRATION_STATE_RUNNING
              && m.getState() != MigrationState.MIGRATION_STATE_PLANNED;
        }, "a final state");

        assertThat(done.getState()).as(done.getLastError()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
        assertThat(stub.throttled()).as("throttled KMS answers").isPositive();
        assertThat(server.server.metrics().find("silo.kms.budget.throttles").tag("provider", "aws")
            .tag("plane", "data").counter()
            .count()).isPositive();
        stub.throttleFraction(0, AwsKmsStub.ThrottleMode.AWS_THROTTLING_EXCEPTION);
        List<VerifyTenantResponse> all = new ArrayList<>();
        MigrationServiceGrpc.newBlockingStub(server.channel).withDeadlineAfter(120, TimeUnit.SECONDS)
            .verifyTenant(VerifyTenantRequest.newBuilder().setTenant("kms-throttled").build())
            .forEachRemaining(all::add);
        assertThat(all.get(all.size() - 1).getSummary().getClean()).isTrue();
        assertThat(all.get(all.size() - 1).getSummary().getChecked()).isEqualTo(1500);
      }
    } finally {
      stubVertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }
}
