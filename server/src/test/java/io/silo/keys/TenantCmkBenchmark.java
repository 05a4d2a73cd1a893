package io.silo.keys;

import io.silo.TestPostgres;
import io.silo.TestServer;
import io.silo.config.SiloConfig;
import io.silo.store.Database;
import io.silo.store.KeyAuditStore;
import io.silo.store.TenantCmkStore;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.WorkerExecutor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Provisions N tenant CMKs through {@link TenantCmks} (DescribeKey, CreateKey, CreateAlias, each under Silo's
 * control-plane budget at the configured defaults) against {@link AwsKmsStub} limiting CreateKey and CreateAlias to
 * L requests in any one-second window, as AWS limits them, with a real PostgreSQL for the provisioning records.
 *
 * <p>Run: {@code src/scripts/cmk-benchmark [N=1000] [L=5]}, or {@code --quick}: 20 tenants, a smoke run whose verdict
 * does not set the exit code. Prints the achieved CreateKey rate / L (target at least 0.9), failures (target 0) and
 * the throttled fraction of control-plane requests (target at most 1 %).
 */
public final class TenantCmkBenchmark {

  public static void main(String[] args) throws Exception {
    boolean quick = args.length > 0 && args[0].equals("--quick");
    int tenants = quick ? 20 : args.length > 0 ? Integer.parseInt(args[0]) : 1000;
    int limit = args.length > 1 && !quick ? Integer.parseInt(args[1]) : 5;

    Vertx vertx = Vertx.vertx();
    // The stub plays a remote service: its own event loops, so that serving requests does not delay Silo's timers.
    Vertx remote = Vertx.vertx();
    AwsKmsStub stub = new AwsKmsStub(remote).start();
    Path tmp = Files.createTempDirectory("silo-cmk-bench");
    Database database = null;
    AwsKms kms = null;
    int exit = 0;
    try {
      stub.throttleAbove("CreateKey", limit).throttleAbove("CreateAlias", limit);
      Map<String, Object> settings = new HashMap<>(TestPostgres.freshDatabase());
      settings.putAll(KmsTestSupport.awsSettings(stub, stub.writeCaPem(tmp.resolve("pki"))));
      settings.put("kms.local.keyBase64", TestServer.LOCAL_KEY_BASE64);
      SiloConfig config = SiloConfig.of(settings);
      database = Database.open(vertx, config).await(120, TimeUnit.SECONDS);
      KmsProviders providers = KmsProviders.from(config);
      // The server's budgets, as SiloServer builds them from the defaults; the queue holds every tenant at once.
      KmsBudgets budgets = new KmsBudgets(vertx, null,
          (p, r) -> KmsBudget.Settings.of(config.integer("kms.budget.ratePerSecond")),
          operation -> KmsBudget.Settings.controlPlane(config.number(AwsKms.isReadOperation(operation)
              ? "kms.budget.controlReadRatePerSecond" : "kms.budget.controlRatePerSecond"))
              .withMaxWaiters(tenants + 16));
      WorkerExecutor workers = vertx.createSharedWorkerExecutor("cmk-bench", 8);
      kms = new AwsKms(vertx, workers, providers, budgets, KmsRetry.Policy.DEFAULT);
      TenantCmks cmks = new TenantCmks(kms, new TenantCmkStore(database.pool(), database.tables()),
          new KeyAuditStore(database.pool(), database.tables()));
      AwsLocation at = new AwsLocation("aws", "us-east-1", providers.awsEndpoint());
      System.out.printf(Locale.ROOT, "KMS stub at %s allows %d CreateKey/s and %d CreateAlias/s; budget %.2f/s "
              + "(kms.budget.controlRatePerSecond); %d tenants%n", stub.endpoint(), limit, limit,
          config.number("kms.budget.controlRatePerSecond"), tenants);

      long t0 = System.nanoTime();
      List<Future<TenantCmks.Cmk>> calls = new ArrayList<>();
      for (int i = 0; i < tenants; i++) {
        calls.add(cmks.ensure(String.format(Locale.ROOT, "bench-%05d", i), i, at, "benchmark"));
      }
      Future.join(calls).otherwiseEmpty().await(tenants * 2L + 120, TimeUnit.SECONDS);
      long elapsed = System.nanoTime() - t0;

      int failed = 0;
      Throwable example = null;
      for (Future<TenantCmks.Cmk> call : calls) {
        if (call.failed()) {
          failed++;
          example = example == null ? call.cause() : example;
        }
      }
      List<Long> described = stub.served("DescribeKey");
      System.out.printf(Locale.ROOT, "first DescribeKey %.1f s after the start, %d served by %.1f s%n",
          described.isEmpty() ? Double.NaN : (described.get(0) - t0) / 1e9, described.size(),
          described.isEmpty() ? Double.NaN : (Collections.max(described) - t0) / 1e9);
      List<Long> served = new ArrayList<>(stub.served("CreateKey"));
      Collections.sort(served);
      double span = served.size() < 2 ? Double.NaN : (served.get(served.size() - 1) - served.get(0)) / 1e9;
      double rate = (served.size() - 1) / span;
      long control = 0;
      long throttled = 0;
      for (String op : List.of(AwsKms.DESCRIBE_KEY, AwsKms.CREATE_KEY, AwsKms.CREATE_ALIAS)) {
        control += stub.requests("TrentService." + op);
        throttled += stub.throttled(op);
      }
      int maxWindow = AwsKmsStub.maxInWindow(served, 1_000_000_000L);
      List<Long> gaps = new ArrayList<>();
      for (int i = 1; i < served.size(); i++) {
        gaps.add((served.get(i) - served.get(i - 1)) / 1_000_000);
      }
      Collections.sort(gaps);
      if (!gaps.isEmpty()) {
        System.out.printf(Locale.ROOT, "CreateKey gaps (ms): p10 %d, p50 %d, p90 %d, p99 %d, max %d%n",
            gaps.get(gaps.size() / 10), gaps.get(gaps.size() / 2), gaps.get(gaps.size() * 9 / 10),
            gaps.get(gaps.size() * 99 / 100), gaps.get(gaps.size() - 1));
      }

      System.out.printf(Locale.ROOT, "%d tenant CMKs in %.1f s (%.2f tenants/s); %d failed%s%n",
          tenants - failed, elapsed / 1e9, (tenants - failed) / (elapsed / 1e9), failed,
          example == null ? "" : " (e.g. " + example + ")");
      System.out.printf(Locale.ROOT, "CreateKey served %d at %.2f/s from first (%.1f s after the start) to last, max %d "
              + "in any 1 s window; control-plane requests %d, throttled %d%n", served.size(), rate,
          served.isEmpty() ? Double.NaN : (served.get(0) - t0) / 1e9, maxWindow, control, throttled);
      for (String op : List.of(AwsKms.CREATE_KEY, AwsKms.CREATE_ALIAS)) {
        List<Long> throttledAt = stub.throttledAt(op);
        if (!throttledAt.isEmpty() && !served.isEmpty()) {
          System.out.printf(Locale.ROOT, "%s throttled at %s s after the first CreateKey%n", op, throttledAt.stream()
              .map(t -> String.format(Locale.ROOT, "%.2f", (t - served.get(0)) / 1e9)).toList());
        }
      }
      double ratio = rate / limit;
      double throttledFraction = (double) throttled / Math.max(1, control);
      System.out.printf(Locale.ROOT, "RESULT achieved CreateKey rate / limit = %.3f%n", ratio);
      System.out.printf(Locale.ROOT, "RESULT failures                        = %d%n", failed);
      System.out.printf(Locale.ROOT, "RESULT throttled / control requests    = %d / %d = %.2f %%%n", throttled, control,
          100 * throttledFraction);
      boolean met = ratio >= 0.9 && failed == 0 && throttledFraction <= 0.01;
      System.out.println("RESULT target (>= 0.9 limit, 0 failures, <= 1 % throttled): " + (met ? "MET" : "MISSED"));
      if (!met && !quick) {
        exit = 1;
      }
    } finally {
      if (kms != null) kms.close();
      if (database != null) database.close();
      stub.close();
      remote.close().await();
      vertx.close().await();
    }
    System.exit(exit);
  }
}
