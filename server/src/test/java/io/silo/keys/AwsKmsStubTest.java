package io.silo.keys;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.mongodb.MongoClientException;
import com.mongodb.client.model.vault.DataKeyOptions;
import com.mongodb.client.model.vault.EncryptOptions;
import com.mongodb.client.vault.ClientEncryption;
import de.bwaldvogel.mongo.MongoServer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.WorkerExecutor;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.bson.BsonBinary;
import org.bson.BsonBinarySubType;
import org.bson.BsonString;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** ClientEncryption's aws provider against {@link AwsKmsStub}, and key creation under a {@link KmsBudget}. */
class AwsKmsStubTest {

  static Vertx vertx;
  static AwsKmsStub stub;
  static MongoServer vault;
  static ClientEncryption ce;

  @BeforeAll
  static void start() {
    vertx = Vertx.vertx();
    stub = new AwsKmsStub(vertx).start();
    vault = KmsTestSupport.keyVaultServer();
    ce = KmsTestSupport.awsClientEncryption(KmsTestSupport.connectionString(vault), stub.clientSslContext());
  }

  @AfterAll
  static void stop() {
    if (ce != null) ce.close();
    if (vault != null) vault.shutdownNow();
    if (stub != null) stub.close();
    if (vertx != null) vertx.close().await();
  }

  @BeforeEach
  void reset() {
    stub.noThrottle();
    stub.resetCounters();
  }

  @Test
  void createsATenantKeyThenEncryptsAndDecryptsUnderIt() {
    BsonBinary id = ce.createDataKey("aws", new DataKeyOptions()
        .masterKey(KmsTestSupport.awsMasterKey(stub.endpoint())).keyAltNames(List.of("tenant-acme")));
    assertThat(id.getType()).isEqualTo(BsonBinarySubType.UUID_STANDARD.getValue());
    // One KMS call wraps the new DEK.
    assertThat(stub.requests("TrentService.Encrypt")).isEqualTo(1);

    // The plain mongo-java-server key vault is enough here: libmongocrypt finds the key and the stub unwraps it.
    BsonBinary byId = ce.encrypt(new BsonString("acme@example.com"),
        new EncryptOptions("AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic").keyId(id));
    assertThat(byId.getType()).isEqualTo((byte) 6);
    assertThat(stub.requests("TrentService.Decrypt")).isGreaterThanOrEqualTo(1);
    assertThat(ce.decrypt(byId)).isEqualTo(new BsonString("acme@example.com"));

    BsonBinary byAltName = ce.encrypt(new BsonString("acme@example.com"),
        new EncryptOptions("AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic").keyAltName("tenant-acme"));
    assertThat(byAltName.getData()).isEqualTo(byId.getData()); // deterministic under the same DEK
  }

  @ParameterizedTest
  @EnumSource(AwsKmsStub.ThrottleMode.class)
  void throttledKmsAnswersSurfaceAsErrorsTheBudgetRecognises(AwsKmsStub.ThrottleMode mode) {
    stub.throttleAbove(0, mode);
    assertThatThrownBy(() -> ce.createDataKey("aws",
        new DataKeyOptions().masterKey(KmsTestSupport.awsMasterKey(stub.endpoint()))))
        .isInstanceOf(MongoClientException.class)
        .hasMessageContaining("HTTP status=" + switch (mode) {
          case AWS_THROTTLING_EXCEPTION -> "400";
          case HTTP_429 -> "429";
          case HTTP_503 -> "503";
        })
        .satisfies(e -> assertThat(KmsBudget.isThrottle(e)).as("isThrottle(%s)", e.getMessage()).isTrue());
    // libmongocrypt 1.15 as driven by the 5.6 sync driver does not retry the KMS call itself: one request, one error,
    // so every throttle reaches the budget.
    assertThat(stub.requests()).isEqualTo(1);
    assertThat(stub.throttled()).isEqualTo(1);
  }

  @Test
  void speaksTheProtocolTheAwsSdkExpects() {
    try (var http = software.amazon.awssdk.http.nio.netty.NettyNioAsyncHttpClient.builder()
        .tlsTrustManagersProvider(stub::trustManagers).build();
        var kms = software.amazon.awssdk.services.kms.KmsAsyncClient.builder()
            .region(software.amazon.awssdk.regions.Region.US_EAST_1)
            .endpointOverride(java.net.URI.create("https://" + stub.endpoint()))
            .credentialsProvider(software.amazon.awssdk.auth.credentials.StaticCredentialsProvider.create(
                software.amazon.awssdk.auth.credentials.AwsBasicCredentials.create("AKIDSILOTESTDUMMY", "dummy")))
            .overrideConfiguration(o -> o.retryStrategy(software.amazon.awssdk.core.retry.RetryMode.STANDARD)
                .retryStrategy(b -> b.maxAttempts(1)))
            .httpClient(http).build()) {
      var dataKey = kms.generateDataKey(b -> b.keyId(KmsTestSupport.KEY_ARN)
          .keySpec(software.amazon.awssdk.services.kms.model.DataKeySpec.AES_256)).join();
      assertThat(dataKey.plaintext().asByteArray()).hasSize(32);
      var decrypted = kms.decrypt(b -> b.ciphertextBlob(dataKey.ciphertextBlob())).join();
      assertThat(decrypted.keyId()).isEqualTo(KmsTestSupport.KEY_ARN);
      assertThat(decrypted.plaintext()).isEqualTo(dataKey.plaintext());

      stub.throttleAbove(0, AwsKmsStub.ThrottleMode.AWS_THROTTLING_EXCEPTION);
      assertThatThrownBy(() -> kms.encrypt(b -> b.keyId(KmsTestSupport.KEY_ARN)
          .plaintext(software.amazon.awssdk.core.SdkBytes.fromUtf8String("x"))).join())
          .hasCauseInstanceOf(software.amazon.awssdk.services.kms.model.KmsException.class)
          .satisfies(e -> {
            var cause = (software.amazon.awssdk.services.kms.model.KmsException) e.getCause();
            // The SDK classifies the stub's answer exactly as it classifies the real service's.
            assertThat(cause.awsErrorDetails().errorCode()).isEqualTo("ThrottlingException");
            assertThat(cause.isThrottlingException()).isTrue();
            assertThat(KmsBudget.isThrottle(e)).isTrue();
          });
    }
  }

  @Test
  void twoHundredTenantKeysUnderABudgetOf20PerSecondAgainstAStubThrottlingAbove25PerSecond() throws Exception {
    stub.throttleAbove(25, AwsKmsStub.ThrottleMode.AWS_THROTTLING_EXCEPTION);
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    KmsBudget budget = new KmsBudgets(vertx, meters, (p, r) -> KmsBudget.Settings.of(20)).budget("aws", "us-east-1");
    WorkerExecutor workers = vertx.createSharedWorkerExecutor("kms-test", 8);
    try {
      BudgetedKeyCreation run = new BudgetedKeyCreation(ce, budget, workers,
          () -> KmsTestSupport.awsMasterKey(stub.endpoint()), 10);
      BudgetedKeyCreation.Result result = run.createKeys("t200-", 200, 60, TimeUnit.SECONDS);

      assertThat(result.failures()).isEmpty();
      assertThat(result.created()).isEqualTo(200);
      assertThat(stub.requests("TrentService.Encrypt")).isEqualTo(200L + result.throttledAttempts());
      assertThat(stub.maxRequestsInAnyOneSecondWindow()).isLessThanOrEqualTo(25);
      // Not a speed test; just that the budget was used rather than starved (200 at 20/s is ~10 s).
      assertThat(result.elapsedNanos()).isLessThan(TimeUnit.SECONDS.toNanos(30));
      assertThat(meters.get("silo.kms.budget.permits").tag("provider", "aws").counter().count())
          .isEqualTo(200.0 + result.throttledAttempts());
      System.out.printf("200 keys in %.1f s (%.1f/s), max %d requests in a 1 s window, %d throttled%n",
          result.elapsedNanos() / 1e9, result.ratePerSecond(), stub.maxRequestsInAnyOneSecondWindow(),
          stub.throttled());
    } finally {
      workers.close().await();
    }
  }
}
