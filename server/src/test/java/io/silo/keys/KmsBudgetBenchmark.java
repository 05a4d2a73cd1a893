package io.silo.keys;

import com.mongodb.client.vault.ClientEncryption;
import de.bwaldvogel.mongo.MongoServer;
import io.vertx.core.Vertx;
import io.vertx.core.WorkerExecutor;
import java.net.URI;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.core.client.config.ClientOverrideConfiguration;
import software.amazon.awssdk.core.retry.RetryMode;
import software.amazon.awssdk.http.nio.netty.NettyNioAsyncHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.kms.KmsAsyncClient;

/**
 * Compares Silo's KMS budget with the AWS SDK's ADAPTIVE_V2 retry mode against {@link AwsKmsStub} throttling above
 * 1.25 x R requests per second.
 *
 * <p>Run: {@code src/scripts/kms-benchmark [R] [keys] [sdkConcurrency]} (defaults 50, 2000, 64), or
 * {@code src/scripts/kms-benchmark --quick}: 50 keys, a smoke run whose verdict does not set the exit code.
 */
public final class KmsBudgetBenchmark {

  public static void main(String[] args) throws Exception {
    boolean quick = args.length > 0 && args[0].equals("--quick");
    if (quick) {
      // A seconds-long smoke run for CI: it proves the benchmark still runs; at this size the ratios are noise.
      args = new String[] {"50", "50", "16"};
    }
    int rate = args.length > 0 ? Integer.parseInt(args[0]) : 50;
    int keys = args.length > 1 ? Integer.parseInt(args[1]) : 2000;
    int sdkConcurrency = args.length > 2 ? Integer.parseInt(args[2]) : 64;
    int stubLimit = (int) Math.floor(rate * 1.25);
    long timeoutSeconds = Math.max(120, keys / Math.max(1, rate) * 4L);

    Vertx vertx = Vertx.vertx();
    AwsKmsStub stub = new AwsKmsStub(vertx).start();
    MongoServer vault = KmsTestSupport.keyVaultServer();
    int exit = 0;
    try {
      System.out.printf(Locale.ROOT, "KMS stub at %s throttles above %d requests/s; R = %d/s; %d keys%n",
          stub.endpoint(), stubLimit, rate, keys);

      // 1. Silo: createDataKey through ClientEncryption, every call gated by the budget at R.
      stub.throttleAbove(stubLimit, AwsKmsStub.ThrottleMode.AWS_THROTTLING_EXCEPTION);
      stub.resetCounters();
      BudgetedKeyCreation.Result silo;
      try (ClientEncryption ce = KmsTestSupport.awsClientEncryption(KmsTestSupport.connectionString(vault),
          stub.clientSslContext())) {
        KmsBudget budget = new KmsBudget(vertx, "aws", "us-east-1",
            KmsBudget.Settings.of(rate).withMaxWaiters(keys + 16), null);
        WorkerExecutor workers = vertx.createSharedWorkerExecutor("kms-bench", 16);
        try {
          silo = new BudgetedKeyCreation(ce, budget, workers, () -> KmsTestSupport.awsMasterKey(stub.endpoint()), 20)
              .createKeys("bench-", keys, timeoutSeconds, TimeUnit.SECONDS);
        } finally {
          workers.close().await();
        }
      }
      long siloTotal = stub.requests();
      long siloThrottled = stub.throttled();
      int siloMaxWindow = stub.maxRequestsInAnyOneSecondWindow();

      // 2. The AWS SDK alone: Encrypt at full concurrency with RetryMode.ADAPTIVE_V2, no Silo budget.
      stub.resetCounters();
      SdkRun sdk = runSdk(stub, keys, sdkConcurrency, timeoutSeconds);
      long sdkTotal = stub.requests();
      long sdkThrottled = stub.throttled();
      int sdkMaxWindow = stub.maxRequestsInAnyOneSecondWindow();

      System.out.printf(Locale.ROOT, "Silo budget   : %d keys created, %d failed, %.1f s, %.1f keys/s, "
              + "max %d requests in any 1 s window%n", silo.created(), silo.failed(), silo.elapsedNanos() / 1e9,
          silo.ratePerSecond(), siloMaxWindow);
      System.out.printf(Locale.ROOT, "SDK ADAPTIVE_V2: %d Encrypt ok, %d failed, %.1f s, %.1f calls/s, "
              + "max %d requests in any 1 s window (concurrency %d)%n", sdk.ok, sdk.failed, sdk.elapsedNanos / 1e9,
          sdk.rate(), sdkMaxWindow, sdkConcurrency);
      System.out.printf(Locale.ROOT, "RESULT silo achieved rate / R        = %.3f%n", silo.ratePerSecond() / rate);
      System.out.printf(Locale.ROOT, "RESULT silo throttled / total        = %d / %d = %.2f %%%n", siloThrottled,
          siloTotal, 100.0 * siloThrottled / Math.max(1, siloTotal));
      System.out.printf(Locale.ROOT, "RESULT sdk-adaptive-v2 achieved / R  = %.3f%n", sdk.rate() / rate);
      System.out.printf(Locale.ROOT, "RESULT sdk-adaptive-v2 throttled / total = %d / %d = %.2f %%  (failed calls: %d)%n",
          sdkThrottled, sdkTotal, 100.0 * sdkThrottled / Math.max(1, sdkTotal), sdk.failed);
      boolean targetMet = silo.ratePerSecond() >= 0.9 * rate && siloThrottled <= 0.01 * siloTotal
          && silo.failed() == 0;
      System.out.println("RESULT silo target (>= 0.9 R, <= 1 % throttled, 0 failed): " + (targetMet ? "MET" : "MISSED"));
      if (!targetMet && !quick) exit = 1;
    } finally {
      vault.shutdownNow();
      stub.close();
      vertx.close().await();
    }
    System.exit(exit);
  }

  private record SdkRun(int ok, int failed, long elapsedNanos) {
    double rate() {
      return ok / (elapsedNanos / 1e9);
    }
  }

  private static SdkRun runSdk(AwsKmsStub stub, int calls, int concurrency, long timeoutSeconds) throws Exception {
    try (NettyNioAsyncHttpClient http = (NettyNioAsyncHttpClient) NettyNioAsyncHttpClient.builder()
        .maxConcurrency(concurrency)
        .tlsTrustManagersProvider(stub::trustManagers)
        .build();
        KmsAsyncClient kms = KmsAsyncClient.builder()
            .region(Region.US_EAST_1)
            .endpointOverride(URI.create("https://" + stub.endpoint()))
            // The stub does not verify SigV4, so dummy credentials do.
            .credentialsProvider(StaticCredentialsProvider.create(
                AwsBasicCredentials.create("AKIDSILOTESTDUMMY", "dummy-secret")))
            .httpClient(http)
            .overrideConfiguration(ClientOverrideConfiguration.builder().retryStrategy(RetryMode.ADAPTIVE_V2).build())
            .build()) {
      Semaphore inFlight = new Semaphore(concurrency);
      AtomicInteger ok = new AtomicInteger();
      AtomicInteger failed = new AtomicInteger();
      CompletableFuture<?>[] all = new CompletableFuture<?>[calls];
      SdkBytes plaintext = SdkBytes.fromByteArray(new byte[96]); // the size of a CSFLE DEK
      long t0 = System.nanoTime();
      for (int i = 0; i < calls; i++) {
        inFlight.acquire();
        all[i] = kms.encrypt(b -> b.keyId(KmsTestSupport.KEY_ARN).plaintext(plaintext))
            .whenComplete((r, e) -> {
              inFlight.release();
              if (e == null) ok.incrementAndGet(); else failed.incrementAndGet();
            });
      }
      CompletableFuture.allOf(all).handle((v, e) -> null).get(timeoutSeconds, TimeUnit.SECONDS);
      return new SdkRun(ok.get(), failed.get(), System.nanoTime() - t0);
    }
  }
}
