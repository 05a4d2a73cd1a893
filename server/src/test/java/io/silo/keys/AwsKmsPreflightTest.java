package io.silo.keys;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.mongodb.client.MongoCollection;
import com.mongodb.client.model.Filters;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.silo.SiloException;
import io.silo.api.v1.CreateTenantKeyRequest;
import io.silo.api.v1.MasterKey;
import io.silo.api.v1.RegisterTenantRequest;
import io.silo.api.v1.RotateTenantKeyRequest;
import io.silo.api.v1.TenantServiceGrpc;
import io.vertx.core.WorkerExecutor;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Stream;
import org.bson.RawBsonDocument;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every way an AWS KMS key can be unfit is refused by one DescribeKey before anything changes: directly (the check the
 * S3 phase calls for SSE-KMS buckets) and through RotateTenantKey, which then leaves the data key byte-identical and
 * sends no data-path request to the bad key.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class AwsKmsPreflightTest {

  private static final String EU = "eu-central-1";

  @TempDir
  static Path dir;

  private AwsStubSilo silo;
  private MongoCollection<RawBsonDocument> vault;
  private AwsKmsPreflight preflight;
  private AwsKms kms;
  private WorkerExecutor workers;

  /** One unfit key: how to make it in the stub, the region asked for, and what the refusal must say. */
  record Unfit(String name, Function<AwsKmsStub, String> key, String region, String says) {
    @Override
    public String toString() {
      return name;
    }
  }

  static Stream<Arguments> unfitKeys() {
    return Stream.of(
        new Unfit("missing alias", s -> "alias/nobody-made-this", "us-east-1", "does not exist in us-east-1"),
        new Unfit("disabled", s -> s.putKey("us-east-1", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "Disabled"),
            "us-east-1", "is disabled"),
        new Unfit("pending deletion", s -> s.putKey("us-east-1", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT",
            "PendingDeletion"), "us-east-1", "is pending deletion"),
        new Unfit("asymmetric", s -> s.putKey("us-east-1", "RSA_2048", "ENCRYPT_DECRYPT", "Enabled"), "us-east-1",
            "has key spec RSA_2048"),
        // AWS pairs SYMMETRIC_DEFAULT only with ENCRYPT_DECRYPT; the stub allows the pair so the usage check is reached.
        new Unfit("not for encryption", s -> s.putKey("us-east-1", "SYMMETRIC_DEFAULT", "GENERATE_VERIFY_MAC",
            "Enabled"), "us-east-1", "has key usage GENERATE_VERIFY_MAC"),
        new Unfit("ARN of another region", s -> s.putKey("us-east-1", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT",
            "Enabled"), EU, "is in region us-east-1, not in eu-central-1"),
        new Unfit("endpoint serving another region", s -> {
          String arn = s.putKey("us-east-1", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "Enabled");
          s.putAlias("us-east-1", "alias/served-elsewhere", arn);
          s.pinRegion("us-east-1");
          return "alias/served-elsewhere";
        }, EU, "does the endpoint of the provider serve another region")
    ).map(Arguments::of);
  }

  @BeforeAll
  void start() throws Exception {
    silo = new AwsStubSilo(dir, started -> Map.of());
    vault = silo.vault;
    TenantServiceGrpc.newBlockingStub(silo.server.channel).registerTenant(
        RegisterTenantRequest.newBuilder().setSlug("preflight-co").setDisplayName("Preflight").build());
    silo.keys.createTenantKey(CreateTenantKeyRequest.newBuilder().setTenant("preflight-co").build());

    // The same check as the S3 phase would hold it: its own AwsKms over the same configuration.
    KmsProviders providers = KmsProviders.from(io.silo.config.SiloConfig.of(new java.util.HashMap<>(
        silo.server.settings)));
    workers = silo.stubVertx.createSharedWorkerExecutor("preflight-test", 2);
    kms = new AwsKms(silo.stubVertx, workers, providers, KmsBudgets.uniform(silo.stubVertx, null, 50),
        KmsRetry.Policy.DEFAULT);
    preflight = new AwsKmsPreflight(kms);
  }

  @AfterAll
  void stop() throws Exception {
    if (kms != null) kms.close();
    if (silo != null) silo.close();
  }

  @Test
  void aFitKeyNamedByAliasResolvesToItsArn() throws Exception {
    String arn = silo.stub.putKey(EU, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "Enabled");
    silo.stub.putAlias(EU, "alias/bucket-key", arn);
    assertThat(preflight.check("alias/bucket-key", EU).await(30, TimeUnit.SECONDS)).isEqualTo(arn);
    assertThat(preflight.check(arn, EU).await(30, TimeUnit.SECONDS)).isEqualTo(arn);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("unfitKeys")
  void theCheckTheS3PhaseCallsRefusesAnUnfitKeyNamingTheProblem(Unfit unfit) {
    String key = unfit.key().apply(silo.stub);
    try {
      Throwable refused = catchThrowableOfType(Exception.class,
          () -> preflight.check(key, unfit.region()).await(30, TimeUnit.SECONDS));
      assertThat(refused).isInstanceOf(SiloException.class);
      assertThat(((SiloException) refused).kind()).isEqualTo(SiloException.Kind.FAILED_PRECONDITION);
      assertThat(refused.getMessage()).contains(unfit.says());
    } finally {
      silo.stub.pinRegion(null);
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("unfitKeys")
  void aRotationToAnUnfitKeyIsRefusedBeforeAnythingChanges(Unfit unfit) throws Exception {
    String key = unfit.key().apply(silo.stub);
    try {
      RawBsonDocument before = vault.find(Filters.eq("keyAltNames", "tenant-preflight-co")).first();
      long dataPath = dataPathRequests();
      long failedBefore = failedRotations();

      StatusRuntimeException refused = catchThrowableOfType(StatusRuntimeException.class,
          () -> silo.keys.rotateTenantKey(RotateTenantKeyRequest.newBuilder().setTenant("preflight-co")
              .setNewMasterKey(MasterKey.newBuilder().setProvider("aws")
                  .setDescriptorJson("{\"key\":\"" + key + "\",\"region\":\"" + unfit.region() + "\"}")).build()));

      assertThat(refused.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
      assertThat(refused.getStatus().getDescription()).contains(unfit.says());
      RawBsonDocument after = vault.find(Filters.eq("keyAltNames", "tenant-preflight-co")).first();
      assertThat(bytes(after)).as("the data key document").isEqualTo(bytes(before));
      assertThat(dataPathRequests()).as("Encrypt/Decrypt/GenerateDataKey requests").isEqualTo(dataPath);
      assertThat(failedRotations()).as("audited as a failed rotation").isEqualTo(failedBefore + 1);
    } finally {
      silo.stub.pinRegion(null);
    }
  }

  private long dataPathRequests() {
    return silo.stub.requests("TrentService.Encrypt") + silo.stub.requests("TrentService.Decrypt")
        + silo.stub.requests("TrentService.GenerateDataKey");
  }

  private long failedRotations() throws Exception {
    return ((Number) silo.server.queryOne("SELECT count(*) FROM silo.key_audit WHERE tenant_slug = 'preflight-co' "
        + "AND action = 'ROTATE' AND outcome = 'FAILED'")).longValue();
  }

  private static String bytes(RawBsonDocument doc) {
    byte[] out = new byte[doc.getByteBuffer().remaining()];
    doc.getByteBuffer().get(out);
    return Base64.getEncoder().encodeToString(out);
  }
}
