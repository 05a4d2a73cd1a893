package io.silo.jobs;

import static org.assertj.core.api.Assertions.assertThat;

import com.mongodb.ClientEncryptionSettings;
import com.mongodb.client.MongoClient;
import com.mongodb.client.model.Filters;
import com.mongodb.client.vault.ClientEncryption;
import com.mongodb.client.vault.ClientEncryptions;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.silo.TestPostgres;
import io.silo.TestServer;
import io.silo.api.v1.GetMigrationRequest;
import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationPhase;
import io.silo.api.v1.MigrationServiceGrpc;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.PhaseProgress;
import io.silo.api.v1.RegisterTenantRequest;
import io.silo.api.v1.StartMigrationRequest;
import io.silo.api.v1.TenantServiceGrpc;
import io.silo.api.v1.VerifyTenantRequest;
import io.silo.api.v1.VerifyTenantResponse;
import io.silo.config.SiloConfig;
import io.silo.dev.mongo.DevMongoServer;
import io.silo.mongo.MongoClientFactory;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
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
import java.util.regex.Matcher;
import java.util.regex.Pattern;
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
    children.forEach(SiloProcess::kill);
    if (mongo != null) {
      mongo.close();
    }
    if (mongoServer != null) {
      mongoServer.close();
    }
  }

  @Test
  void serverKilledWithSigkillMidMigrationIsRestartedAndTheMigrationCompletesExactlyOnce() throws Throwable {
    try {
      run();
    } catch (Throwable failure) {
      children.forEach(SiloProcess::printTail);
      throw failure;
    }
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
    awaitAll(first, ids, Duration.ofSeconds(120), m -> mongoProgress(m).getDone() > 0,
        "every migration to checkpoint its first batch");
    first.killWithSigkill();

    // What the dead process left behind: the checkpoints a restart must resume from.
    Map<String, Long> doneAtKill = new HashMap<>();
    for (String id : ids) {
      String state = (String) TestPostgres.queryOne(settings, "SELECT state FROM silo.migrations WHERE id = '" + id + "'");
      long done = ((Number) TestPostgres.queryOne(settings,
          "SELECT docs_done FROM silo.migrations WHERE id = '" + id + "'")).longValue();
      assertThat(state).as("state of %s after the kill", id).isEqualTo("RUNNING");
      assertThat(done).as("checkpointed documents of %s at the kill", id).isPositive().isLessThan(PER_TENANT);
      doneAtKill.put(id, done);
    }
    System.out.println("killed the first server after " + seconds(t0) + " s with checkpoints at " + doneAtKill
        + " of " + PER_TENANT);

    SiloProcess second = launch("second");
    for (String id : ids) {
      Migration done = await(second, id, Duration.ofSeconds(180),
          m -> MigrationFixture.FINAL.contains(m.getState()), "a final state");
      assertThat(done.getState()).as(done.getLastError()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
      assertThat(mongoProgress(done).getDone()).isEqualTo(PER_TENANT);
      assertThat(mongoProgress(done).getFailed()).isZero();
    }

    // The restarted process resumed from the checkpoints: it read only what came after them (documents the dead
    // process wrote without checkpointing show up as already_present), never the tenants' whole collections again.
    Map<String, Double> documents = second.documentCounters();
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

  private static PhaseProgress mongoProgress(Migration m) {
    return m.getProgressList().stream().filter(p -> p.getPhase() == MigrationPhase.MIGRATION_PHASE_MONGO)
        .findFirst().orElse(PhaseProgress.getDefaultInstance());
  }

  private interface Condition {
    boolean test(Migration m);
  }

  private static Migration await(SiloProcess silo, String id, Duration timeout, Condition condition, String what)
      throws InterruptedException {
    MigrationServiceGrpc.MigrationServiceBlockingStub stub = MigrationServiceGrpc.newBlockingStub(silo.channel);
    long deadline = System.nanoTime() + timeout.toNanos();
    Migration m = null;
    while (System.nanoTime() < deadline) {
      m = stub.withDeadlineAfter(30, TimeUnit.SECONDS)
          .getMigration(GetMigrationRequest.newBuilder().setMigrationId(id).build()).getMigration();
      if (condition.test(m)) {
        return m;
      }
      Thread.sleep(20);
    }
    throw new AssertionError("migration " + id + " did not reach " + what + " in " + timeout + "; it is " + m);
  }

  private static void awaitAll(SiloProcess silo, List<String> ids, Duration timeout, Condition condition, String what)
      throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    for (String id : ids) {
      await(silo, id, Duration.ofNanos(Math.max(0, deadline - System.nanoTime())), condition, what);
    }
  }

  private SiloProcess launch(String name) throws Exception {
    SiloProcess process = SiloProcess.start(name, settings, LOGS.resolve(name + ".log"));
    children.add(process);
    return process;
  }

  /** One `silo-server serve` child JVM configured through SILO_* variables, with its output in a log file. */
  static final class SiloProcess {
    private static final Pattern READY = Pattern.compile("silo-server ready: gRPC on [^:\\s]+:(\\d+)");

    final String name;
    final Process process;
    final Path log;
    final int port;
    final ManagedChannel channel;

    private SiloProcess(String name, Process process, Path log, int port) {
      this.name = name;
      this.process = process;
      this.log = log;
      this.port = port;
      this.channel = ManagedChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
    }

    /**
     * Starts the server on the test's own classpath (target/classes and every dependency), which is current
     * under `./mvnw verify`, where tests run before the jar is packaged.
     */
    static SiloProcess start(String name, Map<String, Object> settings, Path log) throws Exception {
      String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
      ProcessBuilder builder = new ProcessBuilder(java, "-Xmx512m", "-cp", System.getProperty("java.class.path"),
          "io.silo.Main", "serve");
      Map<String, String> env = builder.environment();
      // Unknown SILO_* variables fail start-up, and inherited ones must not change what this test configures.
      env.keySet().removeIf(k -> k.startsWith("SILO_"));
      settings.forEach((key, value) -> env.put(SiloConfig.SETTINGS.get(key).envName(), String.valueOf(value)));
      builder.redirectErrorStream(true).redirectOutput(log.toFile());
      Process process = builder.start();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
      while (System.nanoTime() < deadline) {
        Matcher ready = READY.matcher(Files.readString(log, StandardCharsets.UTF_8));
        if (ready.find()) {
          return new SiloProcess(name, process, log, Integer.parseInt(ready.group(1)));
        }
        if (!process.isAlive()) {
          break;
        }
        Thread.sleep(100);
      }
      process.destroyForcibly();
      throw new AssertionError("silo-server '" + name + "' did not become ready (alive: " + process.isAlive()
          + "); its output ends with:\n" + tail(log));
    }

    /** SIGKILL, spelled out: no shutdown hook runs, no lease is handed back, nothing is flushed. */
    void killWithSigkill() throws Exception {
      channel.shutdownNow();
      Process kill = new ProcessBuilder("kill", "-9", Long.toString(process.pid())).inheritIO().start();
      assertThat(kill.waitFor()).as("exit code of kill -9").isZero();
      assertThat(process.waitFor(30, TimeUnit.SECONDS)).as("the server died").isTrue();
      // A JVM ended by signal N reports 128 + N; 137 is SIGKILL (a shutdown hook would make it exit with 143 or 0).
      assertThat(process.exitValue()).as("exit status of the killed server").isEqualTo(137);
    }

    /** Counters of silo.migration.documents by result, from this process's GET /metrics. */
    Map<String, Double> documentCounters() throws IOException, InterruptedException {
      HttpResponse<String> metrics = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build()
          .send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics")).GET().build(),
              HttpResponse.BodyHandlers.ofString());
      assertThat(metrics.statusCode()).isEqualTo(200);
      Map<String, Double> out = new HashMap<>();
      Pattern line = Pattern.compile("^silo_migration_documents_total\\{.*result=\"([a-z_]+)\".*} (\\S+)$",
          Pattern.MULTILINE);
      Matcher m = line.matcher(metrics.body());
      while (m.find()) {
        out.put(m.group(1), Double.parseDouble(m.group(2)));
      }
      assertThat(out).as("silo_migration_documents_total in /metrics").isNotEmpty();
      return out;
    }

    void kill() {
      channel.shutdownNow();
      process.destroyForcibly();
      try {
        process.waitFor(10, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }

    void printTail() {
      System.err.println("---- silo-server '" + name + "' (" + log + ") ends with:\n" + tail(log));
    }

    private static String tail(Path log) {
      try {
        List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 60), lines.size()));
      } catch (IOException e) {
        return "(cannot read " + log + ": " + e.getMessage() + ")";
      }
    }
  }
}
