package io.silo.keys;

import static org.assertj.core.api.Assertions.assertThat;

import io.silo.TestServer;
import io.silo.api.v1.CreateTenantKeyRequest;
import io.silo.api.v1.CreateTenantKeyResponse;
import io.silo.api.v1.KeyServiceGrpc;
import io.silo.api.v1.MasterKey;
import io.silo.api.v1.RegisterTenantRequest;
import io.silo.api.v1.RotateTenantKeyRequest;
import io.silo.api.v1.RotateTenantKeyResponse;
import io.silo.api.v1.TenantServiceGrpc;
import io.vertx.core.Vertx;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** With half of all AWS KMS calls throttled, key creation and rotation still succeed: Silo retries under its budget. */
class KmsThrottlingRetryTest {

  @TempDir
  Path dir;

  @Test
  void keyCreationAndRotationSucceedWhenHalfOfTheKmsCallsAreThrottled() throws Exception {
    Vertx stubVertx = Vertx.vertx();
    try (AwsKmsStub stub = new AwsKmsStub(stubVertx).start()) {
      Path ca = stub.writeCaPem(dir.resolve("kms-pki"));
      try (TestServer server = TestServer.startWithMongo(Map.of(
          "kms.aws.region", "us-east-1",
          "kms.aws.endpoint", stub.endpoint(),
          "kms.aws.caFile", ca.toString(),
          "kms.aws.accessKeyId", "AKIDSILOTESTDUMMY",
          "kms.aws.secretAccessKey", "dummy-secret"), dir)) {
        stub.throttleFraction(0.5, AwsKmsStub.ThrottleMode.AWS_THROTTLING_EXCEPTION);
        MasterKey aws = MasterKey.newBuilder().setProvider("aws")
            .setDescriptorJson("{\"key\":\"" + KmsTestSupport.KEY_ARN + "\"}").build();
        KeyServiceGrpc.KeyServiceBlockingStub keys = KeyServiceGrpc.newBlockingStub(server.channel)
            .withDeadlineAfter(180, TimeUnit.SECONDS);
        for (String slug : new String[] {"throttled-a", "throttled-b", "throttled-c", "throttled-d"}) {
          TenantServiceGrpc.newBlockingStub(server.channel).registerTenant(RegisterTenantRequest.newBuilder()
              .setSlug(slug).setDisplayName(slug).build());
          CreateTenantKeyResponse created = keys.createTenantKey(CreateTenantKeyRequest.newBuilder()
              .setTenant(slug).setMasterKey(aws).build());
          assertThat(created.getKey().getMasterKey().getProvider()).isEqualTo("aws");
        }
        // A rotation makes several KMS calls (canary unwrap, rewrap's unwrap and wrap, a fresh unwrap).
        RotateTenantKeyResponse rotated = keys.rotateTenantKey(RotateTenantKeyRequest.newBuilder()
            .setTenant("throttled-a").setNewMasterKey(aws).build());
        assertThat(rotated.getKey().getMasterKey().getProvider()).isEqualTo("aws");
        RotateTenantKeyResponse toLocal = keys.rotateTenantKey(RotateTenantKeyRequest.newBuilder()
            .setTenant("throttled-b").setNewMasterKey(MasterKey.newBuilder().setProvider("local")).build());
        assertThat(toLocal.getKey().getMasterKey().getProvider()).isEqualTo("local");

        assertThat(stub.throttled()).as("throttled KMS answers").isPositive();
        // Every throttle reached the shared budget, whose AIMD loop slows all callers of that region down.
        double reported = server.server.metrics().find("silo.kms.budget.throttles").tag("provider", "aws").tag("plane", "data")
            .counter().count();
        assertThat(reported).isPositive();
      }
    } finally {
      stubVertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }
}
