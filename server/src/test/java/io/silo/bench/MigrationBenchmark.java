package io.silo.bench;

import com.mongodb.client.MongoClient;
import com.mongodb.client.MongoCollection;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.silo.SiloServer;
import io.silo.config.SiloConfig;
import io.silo.dev.DevMongo;
import io.silo.dev.DevOptions;
import io.silo.dev.DevStack;
import io.silo.dev.mongo.DevMongoLauncher;
import io.silo.mongo.DocumentEncryptor;
import io.silo.mongo.EncryptionPlan.Namespace;
import io.silo.mongo.FieldRule;
import io.silo.mongo.MongoClientFactory;
import io.vertx.core.Vertx;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.bson.BsonBinary;
import org.bson.BsonDocument;
import org.bson.Document;
import org.bson.UuidRepresentation;
import org.slf4j.LoggerFactory;

/**
 * Times Silo's MONGO phase against the seed's naive loop, a plaintext bulk copy and raw explicit encryption on the
 * embedded dev stack, optionally with injected round-trip latency, or migrates 1M documents in a 256 MB Silo JVM.
 *
 * <p>Informational: it prints PASS or BELOW-TARGET per ratio and exits 0 whatever the numbers. Run it with
 * {@code src/scripts/migration-benchmark --help}. The name deliberately does not end in "Test", so Surefire never
 * picks it up.
 */
public final class MigrationBenchmark {

  private static final Namespace NAIVE = new Namespace("silo_bench", "naive");
  private static final Namespace BULK = new Namespace("silo_bench", "bulk");
  private static final Namespace SILO = new Namespace("silo_bench", "silo");
  private static final Namespace NAIVE_LATENCY = new Namespace("silo_bench", "naive_latency");
  private static final Namespace SILO_LATENCY = new Namespace("silo_bench", "silo_latency");
  private static final Namespace WARM_UP = new Namespace("silo_bench", "warm_up");

  /** Targets from the issue. */
  private static final double TARGET_VS_NAIVE = 4.0;
  private static final double TARGET_VS_CEILING = 0.8;
  /** Issue 15 raised this from the first issue's 20x once value encryption no longer crosses JNA per value. */
  private static final double TARGET_VS_NAIVE_LATENCY = 30.0;
  /** Issue 15: against the ceiling with Silo's query shape, and the Java CSFLE path against the libmongocrypt one. */
  private static final double TARGET_VS_FAIR_CEILING = 0.9;
  private static final double TARGET_JAVA_VS_LIBMONGOCRYPT = 1.5;
  private static final double TARGET_JAVA_VS_CRYPTO_CEILING = 1.0;

  /** Command-line settings. */
  record Options(int tenants, int docs, double latencyMs, boolean skipLatency, boolean skipBaselines,
                 boolean heapCheck, String heap, Path dataDir, boolean fresh, boolean skewed, boolean memoryBackend,
                 int cryptoThreads, int bulkWriters, Map<String, Object> siloSettings, int timeoutSeconds,
                 boolean warmUp, boolean skipLibmongocrypt, List<Map.Entry<String, String>> compare) {
  }

  private final Options options;
  private final List<String[]> rows = new ArrayList<>();
  private final List<String> notes = new ArrayList<>();
  private DevStack stack;
  private Vertx vertx;
  private List<FieldRule> plan;
  private Namespace source;
  private String tenantField;
  private int siloRuns;

  private MigrationBenchmark(Options options) {
    this.options = options;
  }

  public static void main(String[] args) throws Exception {
    Options options;
    try {
      options = parse(args);
    } catch (IllegalArgumentException e) {
      System.err.println("migration-benchmark: " + e.getMessage());
      System.err.println(usage());
      System.exit(2);
      return;
    }
    if (options == null) {
      System.out.println(usage());
      return;
    }
    quietLogging();
    int exit = 0;
    MigrationBenchmark benchmark = new MigrationBenchmark(options);
    try {
      benchmark.run();
    } catch (Exception e) {
      System.err.println("migration-benchmark: failed: " + e);
      e.printStackTrace();
      exit = 1;
    } finally {
      benchmark.close();
    }
    // Exit explicitly: S3Mock and driver threads are not all daemons.
    System.exit(exit);
  }

  private void run() throws Exception {
    String loadBefore = loadAverage();
    SiloConfig defaults = SiloConfig.of(options.siloSettings());
    plan = defaults.list("migration.fields").stream().map(FieldRule::parse).toList();
    source = Namespace.parse("migration.sourceNamespace", defaults.string("migration.sourceNamespace"));
    tenantField = defaults.string("migration.tenantField");
    say(String.format(Locale.ROOT, "Migration benchmark: %,d documents across %d tenants (%s), %d cores, "
            + "benchmark JVM heap max %d MB, dev Mongo backend %s, plan %s", options.docs(), options.tenants(),
        options.skewed() ? "skewed" : "even", Runtime.getRuntime().availableProcessors(),
        Runtime.getRuntime().maxMemory() >> 20, options.memoryBackend() ? "memory" : "H2", plan));

    DevMongo.Launcher launcher = options.memoryBackend()
        ? (dir, host, port) -> DevMongoLauncher.start(null, host, port)
        : DevMongoLauncher::start;
    stack = DevStack.start(DevOptions.defaults().withDataDir(options.dataDir()).withFresh(options.fresh())
        .withEphemeralPorts(), launcher);
    say("Dev stack up in " + stack.startupTime().toMillis() + " ms; Mongo at " + stack.mongo().connectionString());
    String uri = stack.mongo().connectionString();
    List<String> slugs = BenchSeeder.slugs(options.tenants());
    try (MongoClient client = MongoClientFactory.sync(uri)) {
      new BenchSeeder(options.tenants(), options.docs(), options.skewed(), this::say)
          .seed(client, source, options.docs() >= 100_000 ? 10_000 : 2_000);
      for (Namespace ns : List.of(NAIVE, BULK, SILO, NAIVE_LATENCY, SILO_LATENCY, WARM_UP)) {
        ScratchCollections.drop(client, ns);
      }
    }
    vertx = Vertx.vertx();
    if (options.heapCheck()) {
      heapCheck(uri, slugs);
    } else {
      direct(uri, slugs);
      if (!options.skipLatency()) {
        withLatency(uri, slugs);
      }
    }
    notes.add("Load average (1/5/15 min) at start " + loadBefore + ", at end " + loadAverage() + ", on "
        + Runtime.getRuntime().availableProcessors() + " cores: other work on the machine moves every number;"
        + " the ratios come from this one run.");
    printTable();
  }

  private static String loadAverage() {
    try {
      String[] parts = java.nio.file.Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
      return parts[0] + " " + parts[1] + " " + parts[2];
    } catch (java.io.IOException | RuntimeException e) {
      return "unknown";
    }
  }

  /** (a), (b), (c) and Silo against the dev Mongo as it is. */
  private void direct(String uri, List<String> slugs) throws Exception {
    warmUp(uri, slugs);
    try (InProcessSilo server = startSilo(uri)) {
      SiloMigrationRun run = new SiloMigrationRun(server.channel, this::say);
      Map<String, UUID> keys = run.prepareTenants(slugs);
      Measurement naive = null;
      Measurement bulk = null;
      Measurement fairBulk = null;
      Measurement crypto = null;
      if (!options.skipBaselines()) {
        Baselines baselines = baselines(keys);
        naive = timed(() -> baselines.naiveLoop("(a) naive find/encrypt/insertOne", uri, source, NAIVE), uri, NAIVE);
        bulk = timed(() -> baselines.bulkCopy("(b) plaintext insertMany copy (I/O ceiling)", uri, source, BULK,
            options.bulkWriters()), uri, BULK);
        int batch = SiloConfig.of(options.siloSettings()).integer("migration.batchSize");
        fairBulk = timed(() -> baselines.bulkCopyPerTenant("(b') plaintext copy in Silo's query shape (fair I/O"
            + " ceiling)", uri, source, BULK, options.bulkWriters(), batch), uri, BULK);
        crypto = baselines.cryptoCeiling("(c) ClientEncryption.encrypt (crypto ceiling)", uri, source,
            options.cryptoThreads());
        report(crypto);
      }
      String path = SiloConfig.of(options.siloSettings()).string("migration.encryptionPath");
      SiloMigrationRun.Outcome outcome = migrate(run, "Silo MONGO phase", uri, SILO);
      // The same migration with every value through libmongocrypt, on a server of its own (the first one has
      // already isolated the tenants).
      SiloMigrationRun.Outcome viaLibmongocrypt = null;
      if (!path.equals("libmongocrypt") && !options.skipLibmongocrypt()) {
        try (InProcessSilo other = startSilo(uri, Map.of("migration.encryptionPath", "libmongocrypt"))) {
          SiloMigrationRun otherRun = new SiloMigrationRun(other.channel, this::say);
          otherRun.prepareTenants(slugs);
          viaLibmongocrypt = migrate(otherRun, "Silo MONGO phase, encryptionPath=libmongocrypt", uri, SILO);
        }
      }

      row(naive, "", "", "");
      row(bulk, "", "", "");
      row(fairBulk, "", "", "");
      row(crypto, "", "", "");
      double ceiling = bulk != null && crypto != null
          ? Measurement.combined(bulk.docsPerSecond(), crypto.docsPerSecond()) : 0;
      if (ceiling > 0) {
        rows.add(new String[] {"combined ceiling 1/(1/b + 1/c)", rate(ceiling), "", "", "", ""});
      }
      double fairCeiling = fairBulk != null && crypto != null
          ? Measurement.combined(fairBulk.docsPerSecond(), crypto.docsPerSecond()) : 0;
      if (fairCeiling > 0) {
        rows.add(new String[] {"fair combined ceiling 1/(1/b' + 1/c)", rate(fairCeiling), "", "", "", ""});
      }
      Measurement slow = viaLibmongocrypt == null ? null : viaLibmongocrypt.measurement();
      if (slow != null) {
        rows.add(new String[] {"Silo, encryptionPath=libmongocrypt", rate(slow.docsPerSecond()), "", "", "",
            slow.note() + (viaLibmongocrypt.problem() == null ? "" : " (" + viaLibmongocrypt.problem() + ")")});
      }
      Measurement silo = outcome.measurement();
      String verdictSuffix = outcome.problem() == null ? "" : " (" + outcome.problem() + ")";
      if (silo == null) {
        rows.add(new String[] {"Silo MONGO phase", "-", "", "", outcome.unimplemented() ? "N/A" : "FAILED",
            outcome.problem()});
        return;
      }
      rows.add(new String[] {"Silo MONGO phase, encryptionPath=" + path, rate(silo.docsPerSecond()), "", "", "",
          silo.note() + verdictSuffix});
      if (naive != null) {
        ratioRow("  Silo / (a)", silo.docsPerSecond() / naive.docsPerSecond(), TARGET_VS_NAIVE, outcome);
      }
      if (ceiling > 0) {
        ratioRow("  Silo / combined ceiling", silo.docsPerSecond() / ceiling, TARGET_VS_CEILING, outcome);
      }
      if (fairCeiling > 0) {
        ratioRow("  Silo / fair combined ceiling", silo.docsPerSecond() / fairCeiling, TARGET_VS_FAIR_CEILING,
            outcome);
      }
      if (slow != null) {
        ratioRow("  Silo " + path + " / Silo libmongocrypt", silo.docsPerSecond() / slow.docsPerSecond(),
            TARGET_JAVA_VS_LIBMONGOCRYPT, outcome);
      }
      if (crypto != null && !path.equals("libmongocrypt")) {
        ratioRow("  Silo " + path + " / (c)", silo.docsPerSecond() / crypto.docsPerSecond(),
            TARGET_JAVA_VS_CRYPTO_CEILING, outcome);
      }
      compareSettings(uri, slugs, silo);
    }
  }

  /**
   * Silo again with each --compare setting (one server each, same seed, same run), printed as a ratio to the run
   * above: a setting's effect measured under the same load, not across runs on a busy machine.
   */
  private void compareSettings(String uri, List<String> slugs, Measurement reference) throws Exception {
    for (Map.Entry<String, String> setting : options.compare()) {
      String label = "Silo, " + setting.getKey() + "=" + setting.getValue();
      try (InProcessSilo other = startSilo(uri, Map.of(setting.getKey(), setting.getValue()))) {
        SiloMigrationRun otherRun = new SiloMigrationRun(other.channel, this::say);
        otherRun.prepareTenants(slugs);
        SiloMigrationRun.Outcome outcome = migrate(otherRun, label, uri, SILO);
        Measurement m = outcome.measurement();
        rows.add(new String[] {label, m == null ? "-" : rate(m.docsPerSecond()), m == null ? ""
            : String.format(Locale.ROOT, "%.2fx the run above", m.docsPerSecond() / reference.docsPerSecond()), "",
            m == null ? "FAILED" : "", m == null ? outcome.problem() : m.note()
            + (outcome.problem() == null ? "" : " (" + outcome.problem() + ")")});
      }
    }
  }

  /**
   * An untimed migration of the first tenant on a throwaway server and database, so the JIT has compiled Silo's data
   * path before the timed run, as it has the driver's by the time the long naive loop is done.
   */
  private void warmUp(String uri, List<String> slugs) throws Exception {
    if (!options.warmUp()) {
      return;
    }
    say("Warm-up: migrating " + slugs.get(0) + " once, untimed ...");
    try (InProcessSilo server = startSilo(uri)) {
      SiloMigrationRun run = new SiloMigrationRun(server.channel, line -> { });
      run.prepareTenants(slugs);
      SiloMigrationRun.Outcome outcome = run.migrate("warm-up", slugs, WARM_UP, 0,
          Duration.ofSeconds(options.timeoutSeconds()));
      if (outcome.problem() != null) {
        say("Warm-up: " + outcome.problem());
      } else {
        say(String.format(Locale.ROOT, "Warm-up: %,d docs in %.1f s", outcome.measurement().docs(),
            outcome.measurement().seconds()));
      }
    } finally {
      try (MongoClient client = MongoClientFactory.sync(uri)) {
        ScratchCollections.drop(client, WARM_UP);
      }
    }
  }

  /** (a) and Silo again, with the latency proxy between every client and the dev Mongo. */
  private void withLatency(String uri, List<String> slugs) throws Exception {
    Duration delay = Duration.ofNanos((long) (options.latencyMs() * 1_000_000));
    try (LatencyProxy proxy = LatencyProxy.start(
        new java.net.InetSocketAddress("127.0.0.1", stack.mongo().port()), delay)) {
      String slowUri = "mongodb://127.0.0.1:" + proxy.port() + "/?directConnection=true&compressors=";
      double[][] pings = pingMicros(uri, slowUri);
      double[] direct = pings[0];
      double[] slow = pings[1];
      say(String.format(Locale.ROOT, "ping RTT direct: median %.0f us, p90 %.0f us; through the %s ms proxy: "
          + "median %.0f us, p90 %.0f us", direct[0], direct[1], trim(options.latencyMs()), slow[0], slow[1]));
      // The proxy's own hop (thread hand-offs, timer slack) adds to the delay; take it off so the added RTT is the
      // requested one.
      double excessNanos = (slow[0] - direct[0]) * 1000 - delay.toNanos();
      if (Math.abs(excessNanos) > 50_000) {
        proxy.setDelay(delay.minusNanos((long) excessNanos));
        pings = pingMicros(uri, slowUri);
        direct = pings[0];
        slow = pings[1];
        say(String.format(Locale.ROOT, "calibrated the proxy delay to %.0f us: ping median %.0f us direct, %.0f us "
            + "(p90 %.0f us) through the proxy", proxy.delay().toNanos() / 1000.0, direct[0], slow[0], slow[1]));
      }
      notes.add(String.format(Locale.ROOT, "Injected latency: ping median %.0f us direct, %.0f us via proxy "
          + "(+%.2f ms per round trip; proxy delay %.0f us on the request direction)", direct[0], slow[0],
          (slow[0] - direct[0]) / 1000, proxy.delay().toNanos() / 1000.0));
      try (InProcessSilo silo = startSilo(slowUri)) {
        SiloMigrationRun run = new SiloMigrationRun(silo.channel, this::say);
        Map<String, UUID> keys = run.prepareTenants(slugs);
        String label = String.format(Locale.ROOT, "+%s ms RTT", trim(options.latencyMs()));
        Measurement naive = null;
        if (!options.skipBaselines()) {
          Baselines baselines = baselines(keys);
          naive = timed(() -> baselines.naiveLoop("(a) naive loop " + label, slowUri, source, NAIVE_LATENCY), uri,
              NAIVE_LATENCY);
        }
        SiloMigrationRun.Outcome outcome = migrate(run, "Silo " + label, slowUri, SILO_LATENCY);
        row(naive, "", "", "");
        Measurement s = outcome.measurement();
        if (s == null) {
          rows.add(new String[] {"Silo " + label, "-", "", "", outcome.unimplemented() ? "N/A" : "FAILED",
              outcome.problem()});
          return;
        }
        rows.add(new String[] {"Silo " + label, rate(s.docsPerSecond()), "", "", "",
            s.note() + (outcome.problem() == null ? "" : " (" + outcome.problem() + ")")});
        if (naive != null) {
          ratioRow("  Silo / (a) " + label, s.docsPerSecond() / naive.docsPerSecond(), TARGET_VS_NAIVE_LATENCY,
              outcome);
        }
      }
    }
  }

  /** 1M-document mode: Silo in its own JVM with a small heap, its heap scraped from /metrics every 200 ms. */
  private void heapCheck(String uri, List<String> slugs) throws Exception {
    String database = createDatabase();
    Map<String, Object> settings = siloSettings(uri, database);
    settings.remove("grpc.host");
    settings.remove("grpc.port");
    settings.put("log.format", "text");
    Path work = stack.dataDirectory().root().resolve("heap-check");
    say("Starting silo-server with -Xmx" + options.heap() + " in its own JVM (log: " + work.resolve(
        "silo-heap-check.log") + ")");
    try (SiloProcess process = SiloProcess.start(settings, options.heap(), SiloProcess.serverClasspath(), work)) {
      ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", process.port()).usePlaintext().build();
      try {
        SiloMigrationRun run = new SiloMigrationRun(channel, this::say, () -> String.format(Locale.ROOT,
            "heap %.0f MB, peak %.0f MB", mb(process.lastHeapBytes()), mb(process.peakHeapBytes())));
        run.prepareTenants(slugs);
        long idle = process.heapNowBytes();
        process.startSampling(Duration.ofMillis(200));
        SiloMigrationRun.Outcome outcome = run.migrateAll("Silo -Xmx" + options.heap(), SILO, options.docs(),
            Duration.ofSeconds(options.timeoutSeconds()));
        process.stopSampling();
        boolean alive = process.alive();
        String check = checkTarget(uri, SILO, options.docs());
        double peakMb = mb(process.peakHeapBytes());
        say(String.format(Locale.ROOT, "Heap: peak %.1f MB used of %.0f MB max over %d samples every 200 ms (%d "
                + "failed scrapes; %.1f MB in use before the migration); server %s", peakMb,
            mb(process.heapMaxBytes()), process.samples(), process.failedSamples(), mb(idle),
            alive ? "still running" : "EXITED (see " + process.log() + ")"));
        Measurement m = outcome.measurement();
        boolean ok = m != null && outcome.problem() == null && alive && check == null;
        String problem = outcome.problem() != null ? outcome.problem() : check;
        rows.add(new String[] {"Silo -Xmx" + options.heap() + " (own JVM)", m == null ? "-" : rate(m.docsPerSecond()),
            String.format(Locale.ROOT, "peak heap %.0f MB", peakMb), "completes in " + options.heap(),
            ok ? "PASS" : outcome.unimplemented() ? "N/A" : "FAILED",
            (m == null ? "" : String.format(Locale.ROOT, "%,d docs in %.1f s", m.docs(), m.seconds()))
                + (problem == null ? "" : (m == null ? "" : "; ") + problem)});
      } finally {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    } finally {
      dropDatabase(database);
    }
  }

  private SiloMigrationRun.Outcome migrate(SiloMigrationRun run, String label, String uri, Namespace target)
      throws Exception {
    say("Running " + label + " ...");
    SiloMigrationRun.Outcome outcome = run.migrateAll(label, target, options.docs(),
        Duration.ofSeconds(options.timeoutSeconds()));
    if (outcome.measurement() != null) {
      report(outcome.measurement());
      String check = checkTarget(stack.mongo().connectionString(), target, options.docs());
      if (check != null && outcome.problem() == null) {
        outcome = new SiloMigrationRun.Outcome(outcome.measurement(), check, false);
      }
    }
    if (outcome.problem() != null) {
      say(label + ": " + outcome.problem());
    }
    try (MongoClient client = MongoClientFactory.sync(stack.mongo().connectionString())) {
      ScratchCollections.drop(client, target);
    }
    return outcome;
  }

  /** Null when {@code target} holds {@code expected} documents whose planned fields are ciphertext; else why not. */
  private String checkTarget(String uri, Namespace target, long expected) {
    try (MongoClient client = MongoClientFactory.sync(uri)) {
      MongoCollection<BsonDocument> c = client.getDatabase(target.database())
          .getCollection(target.collection(), BsonDocument.class);
      long count = c.countDocuments();
      if (count != expected) {
        return String.format(Locale.ROOT, "target %s holds %,d documents, expected %,d", target, count, expected);
      }
      BsonDocument sample = c.find().first();
      for (FieldRule rule : plan) {
        if (sample != null && !DocumentEncryptor.isCiphertext(DocumentEncryptor.valueAt(sample, rule.path()))) {
          return "target field '" + rule.path() + "' is not ciphertext";
        }
      }
      return null;
    }
  }

  /** A baseline, then a count check of what it wrote, then its scratch collection dropped. */
  private Measurement timed(ThrowingSupplier<Measurement> body, String uri, Namespace target) throws Exception {
    Measurement m = body.get();
    report(m);
    try (MongoClient client = MongoClientFactory.sync(uri)) {
      long count = collection(client, target).countDocuments();
      if (count != options.docs()) {
        notes.add(String.format(Locale.ROOT, "%s wrote %,d documents, expected %,d", m.mode(), count, options.docs()));
      }
      ScratchCollections.drop(client, target);
    }
    return m;
  }

  private Baselines baselines(Map<String, UUID> keys) {
    Map<String, BsonBinary> keyIds = new LinkedHashMap<>();
    keys.forEach((slug, id) -> keyIds.put(slug, new BsonBinary(id, UuidRepresentation.STANDARD)));
    return new Baselines(SiloConfig.of(options.siloSettings()).string("mongo.keyVaultNamespace"),
        Map.of("local", Map.of("key", stack.masterKey().keyBytes())), plan, keyIds, tenantField, this::say);
  }

  /** A Silo server in this JVM, on its own fresh PostgreSQL database so no earlier run's state leaks in. */
  private InProcessSilo startSilo(String mongoUri) throws Exception {
    return startSilo(mongoUri, Map.of());
  }

  /** @param overrides settings that win over the command line's, e.g. the other encryption path */
  private InProcessSilo startSilo(String mongoUri, Map<String, Object> overrides) throws Exception {
    String database = createDatabase();
    try {
      Map<String, Object> settings = siloSettings(mongoUri, database);
      settings.putAll(overrides);
      SiloServer server = SiloServer.start(vertx, SiloConfig.of(settings))
          .toCompletionStage().toCompletableFuture().get(120, TimeUnit.SECONDS);
      return new InProcessSilo(server, database);
    } catch (Exception e) {
      dropDatabase(database);
      throw e;
    }
  }

  private Map<String, Object> siloSettings(String mongoUri, String database) {
    Map<String, Object> s = new HashMap<>();
    // The benchmark measures the pipeline; it talks to its own loopback server without tokens.
    s.put("auth.disabled", true);
    s.put("grpc.host", "127.0.0.1");
    s.put("grpc.port", 0);
    s.put("grpc.shutdownGraceSeconds", 2);
    s.put("postgres.host", stack.postgres().host());
    s.put("postgres.port", stack.postgres().port());
    s.put("postgres.database", database);
    s.put("postgres.user", stack.postgres().user());
    s.put("postgres.password", stack.postgres().password());
    s.put("mongo.uri", mongoUri);
    s.put("kms.local.keyFile", stack.masterKey().path().toString());
    s.put("s3.endpoint", stack.s3().endpoint());
    s.put("s3.region", stack.s3().region().id());
    s.put("s3.pathStyle", true);
    // The benchmark times the copy; verification is a separate phase with its own cost.
    s.put("migration.verifyAfterCopy", false);
    s.putAll(options.siloSettings());
    return s;
  }

  private String createDatabase() throws Exception {
    String name = String.format(Locale.ROOT, "silo_bench_%d_%d", ProcessHandle.current().pid(), ++siloRuns);
    try (Connection c = stack.postgres().connect(); Statement st = c.createStatement()) {
      st.execute("CREATE DATABASE " + name);
    }
    return name;
  }

  private void dropDatabase(String name) {
    try (Connection c = stack.postgres().connect(); Statement st = c.createStatement()) {
      st.execute("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
    } catch (Exception e) {
      say("(could not drop scratch database " + name + ": " + e.getMessage() + ")");
    }
  }

  /** A Silo server started by {@link #startSilo} with a gRPC channel to it. */
  private final class InProcessSilo implements AutoCloseable {
    final SiloServer server;
    final ManagedChannel channel;
    final String database;

    InProcessSilo(SiloServer server, String database) {
      this.server = server;
      this.database = database;
      this.channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
    }

    @Override
    public void close() throws Exception {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      try {
        server.shutdown().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
      } finally {
        dropDatabase(database);
      }
    }
  }

  /**
   * Median and 90th percentile of a {@code ping} command's round trip, in microseconds, directly ({@code [0]}) and
   * through the proxy ({@code [1]}). The two alternate sample by sample so both see the same load on this noisy
   * machine, which a direct run followed by a proxied one would not.
   */
  private static double[][] pingMicros(String directUri, String proxiedUri) {
    try (MongoClient direct = MongoClientFactory.sync(directUri);
         MongoClient proxied = MongoClientFactory.sync(proxiedUri)) {
      Document ping = new Document("ping", 1);
      for (int i = 0; i < 50; i++) {
        direct.getDatabase("admin").runCommand(ping);
        proxied.getDatabase("admin").runCommand(ping);
      }
      long[][] samples = new long[2][300];
      for (int i = 0; i < samples[0].length; i++) {
        MongoClient[] order = {direct, proxied};
        for (int k = 0; k < 2; k++) {
          long t0 = System.nanoTime();
          order[k].getDatabase("admin").runCommand(ping);
          samples[k][i] = System.nanoTime() - t0;
        }
      }
      double[][] out = new double[2][];
      for (int k = 0; k < 2; k++) {
        Arrays.sort(samples[k]);
        out[k] = new double[] {samples[k][samples[k].length / 2] / 1000.0,
            samples[k][samples[k].length * 9 / 10] / 1000.0};
      }
      return out;
    }
  }

  private static MongoCollection<Document> collection(MongoClient client, Namespace ns) {
    return client.getDatabase(ns.database()).getCollection(ns.collection());
  }

  private void row(Measurement m, String ratio, String target, String verdict) {
    if (m != null) {
      rows.add(new String[] {m.mode(), rate(m.docsPerSecond()), ratio, target, verdict, m.note()});
    }
  }

  private void ratioRow(String name, double ratio, double target, SiloMigrationRun.Outcome outcome) {
    String verdict = outcome.problem() != null ? "FAILED" : ratio >= target ? "PASS" : "BELOW-TARGET";
    rows.add(new String[] {name, "", String.format(Locale.ROOT, "%.2fx", ratio),
        ">= " + trim(target) + "x", verdict, ""});
  }

  private void report(Measurement m) {
    say(String.format(Locale.ROOT, "%s: %,d docs in %.2f s = %,.0f docs/s%s", m.mode(), m.docs(), m.seconds(),
        m.docsPerSecond(), m.note().isEmpty() ? "" : " (" + m.note() + ")"));
  }

  private void printTable() {
    String[] header = {"mode", "docs/s", "ratio", "target", "verdict", "notes"};
    int[] width = new int[header.length];
    List<String[]> all = new ArrayList<>();
    all.add(header);
    all.addAll(rows);
    for (String[] r : all) {
      for (int i = 0; i < r.length; i++) {
        width[i] = Math.max(width[i], r[i] == null ? 0 : r[i].length());
      }
    }
    StringBuilder out = new StringBuilder("\n");
    out.append(String.format(Locale.ROOT, "RESULTS: %,d documents, %d tenants, %d cores%n", options.docs(),
        options.tenants(), Runtime.getRuntime().availableProcessors()));
    for (int r = 0; r < all.size(); r++) {
      String[] row = all.get(r);
      for (int i = 0; i < row.length; i++) {
        String cell = row[i] == null ? "" : row[i];
        boolean right = i == 1 || i == 2;
        String fmt = i == row.length - 1 ? "%s" : "%" + (right ? "" : "-") + width[i] + "s  ";
        out.append(String.format(Locale.ROOT, fmt, cell));
      }
      out.append('\n');
      if (r == 0) {
        int total = Arrays.stream(width).sum() + 2 * (width.length - 1);
        out.append("-".repeat(Math.min(total, 140))).append('\n');
      }
    }
    notes.add("The dev Mongo (mongo-java-server) keeps unique indexes only, so a query for one tenant scans the whole"
        + " collection; a real MongoDB would use an index on the tenant field.");
    if (!options.skipBaselines() && !options.heapCheck()) {
      notes.add("(a) one thread, sync driver; (b) 1 reader + " + options.bulkWriters() + " insertMany writers, raw BSON;"
          + " (c) " + options.cryptoThreads() + " threads, one ClientEncryption each; Silo with its default settings"
          + (options.siloSettings().isEmpty() ? "" : " plus " + options.siloSettings()) + ", verifyAfterCopy=false.");
    }
    notes.forEach(n -> out.append("note: ").append(n).append('\n'));
    out.append("Verdicts are informational; the benchmark exits 0 whatever they are.\n");
    System.out.print(out);
  }

  private static double mb(long bytes) {
    return bytes / (1024.0 * 1024.0);
  }

  private static String rate(double docsPerSecond) {
    return String.format(Locale.ROOT, "%,.0f", docsPerSecond);
  }

  private static String trim(double d) {
    return d == Math.rint(d) ? String.valueOf((long) d) : String.valueOf(d);
  }

  private void say(String line) {
    System.out.println(line);
  }

  private void close() {
    try {
      if (vertx != null) {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
      }
    } catch (Exception e) {
      System.err.println("migration-benchmark: closing Vert.x: " + e.getMessage());
    }
    try {
      if (stack != null) {
        stack.close();
      }
    } catch (Exception e) {
      System.err.println("migration-benchmark: closing the dev stack: " + e.getMessage());
    }
  }

  /** Keeps the console to the benchmark's own lines: the dev stack and Silo log at INFO otherwise. */
  private static void quietLogging() {
    if (Boolean.getBoolean("bench.verbose")) {
      return;
    }
    if (LoggerFactory.getILoggerFactory() instanceof ch.qos.logback.classic.LoggerContext context) {
      context.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME).setLevel(ch.qos.logback.classic.Level.WARN);
      // Flyway warns about its IF NOT EXISTS statements on every fresh database; the dev Mongo warns about each index
      // it ignores (it keeps unique indexes only), which the run's notes mention once instead.
      context.getLogger("org.flywaydb").setLevel(ch.qos.logback.classic.Level.ERROR);
      context.getLogger("de.bwaldvogel").setLevel(ch.qos.logback.classic.Level.ERROR);
    }
  }

  /** A step that may throw. */
  @FunctionalInterface
  private interface ThrowingSupplier<T> {
    T get() throws Exception;
  }

  static Options parse(String[] args) {
    int tenants = 10;
    int docs = 100_000;
    double latencyMs = 1.0;
    boolean skipLatency = false;
    boolean skipBaselines = false;
    boolean heapCheck = false;
    String heap = "256m";
    Path dataDir = Path.of("server", "target", "migration-benchmark");
    boolean fresh = false;
    boolean skewed = false;
    // The H2 backend (on disk, what `silo-server dev` uses) tops out near 4,000 inserted docs/s on this machine, so
    // it would be the ceiling of every mode; the in-memory backend (the tests' choice) leaves room to compare.
    boolean memory = true;
    int cores = Runtime.getRuntime().availableProcessors();
    int cryptoThreads = cores;
    int bulkWriters = cores;
    Integer timeout = null;
    boolean warmUp = true;
    boolean skipLibmongocrypt = false;
    List<Map.Entry<String, String>> compare = new ArrayList<>();
    Map<String, Object> settings = new LinkedHashMap<>();
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      switch (a) {
        case "-h", "--help" -> {
          return null;
        }
        case "--tenants" -> tenants = positive(a, value(args, ++i, a));
        case "--docs" -> docs = positive(a, value(args, ++i, a));
        case "--latency-ms" -> latencyMs = Double.parseDouble(value(args, ++i, a));
        case "--skip-latency" -> skipLatency = true;
        case "--quick" -> {
          // A smoke run for CI: every mode runs end to end in seconds; its ratios mean nothing at this size.
          tenants = 2;
          docs = 2_000;
          warmUp = false;
          dataDir = Path.of("server", "target", "migration-benchmark-quick");
          timeout = 120;
        }
        case "--skip-baselines" -> skipBaselines = true;
        case "--heap-check" -> heapCheck = true;
        case "--heap" -> heap = value(args, ++i, a);
        case "--data-dir" -> dataDir = Path.of(value(args, ++i, a));
        case "--fresh" -> fresh = true;
        case "--no-warm-up" -> warmUp = false;
        case "--skewed" -> skewed = true;
        case "--mongo-backend" -> {
          String b = value(args, ++i, a);
          if (!b.equals("h2") && !b.equals("memory")) {
            throw new IllegalArgumentException("--mongo-backend must be h2 or memory");
          }
          memory = b.equals("memory");
        }
        case "--crypto-threads" -> cryptoThreads = positive(a, value(args, ++i, a));
        case "--bulk-writers" -> bulkWriters = positive(a, value(args, ++i, a));
        case "--timeout-s" -> timeout = positive(a, value(args, ++i, a));
        case "--set" -> {
          Map.Entry<String, String> kv = setting(a, value(args, ++i, a));
          settings.put(kv.getKey(), kv.getValue());
        }
        case "--compare" -> compare.add(setting(a, value(args, ++i, a)));
        case "--skip-libmongocrypt" -> skipLibmongocrypt = true;
        default -> throw new IllegalArgumentException("unknown argument '" + a + "'");
      }
    }
    if (latencyMs <= 0) {
      throw new IllegalArgumentException("--latency-ms must be > 0 (use --skip-latency to leave it out)");
    }
    int timeoutSeconds = timeout != null ? timeout : Math.max(600, docs / 50);
    return new Options(tenants, docs, latencyMs, skipLatency, skipBaselines, heapCheck, heap, dataDir, fresh, skewed,
        memory, cryptoThreads, bulkWriters, settings, timeoutSeconds, warmUp, skipLibmongocrypt, List.copyOf(compare));
  }

  private static Map.Entry<String, String> setting(String flag, String kv) {
    int eq = kv.indexOf('=');
    if (eq <= 0) {
      throw new IllegalArgumentException(flag + " takes key=value, e.g. migration.batchSize=1000");
    }
    return Map.entry(kv.substring(0, eq), kv.substring(eq + 1));
  }

  private static String value(String[] args, int i, String flag) {
    if (i >= args.length) {
      throw new IllegalArgumentException(flag + " needs a value");
    }
    return args[i];
  }

  private static int positive(String flag, String text) {
    int v;
    try {
      v = Integer.parseInt(text.replace("_", "").replace(",", ""));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(flag + " must be a whole number, got '" + text + "'");
    }
    if (v < 1) {
      throw new IllegalArgumentException(flag + " must be at least 1");
    }
    return v;
  }

  static String usage() {
    return String.join("\n",
        "Usage: src/scripts/migration-benchmark [options]",
        "  --quick              seconds-long smoke run (2 tenants, 2,000 documents, no warm-up, its own data",
        "                       directory); checks that every mode runs, its ratios mean nothing",
        "  --tenants N          tenants to spread the documents over (default 10)",
        "  --docs N             documents in legacy.patients (default 100000)",
        "  --skewed             tenant k gets a 1/(k+1) share, like the demo estate (default: even)",
        "  --latency-ms X       round-trip latency injected for the second pass (default 1)",
        "  --skip-latency       leave out the latency pass",
        "  --skip-baselines     time Silo only",
        "  --no-warm-up         skip the untimed one-tenant Silo migration that warms up the JIT",
        "  --heap-check         1M mode: Silo in its own JVM with --heap, peak heap from /metrics",
        "                       (use with --docs 1000000)",
        "  --heap SIZE          -Xmx of that JVM (default 256m)",
        "  --data-dir DIR       dev stack data (default server/target/migration-benchmark; a seed of the",
        "                       same size is reused)",
        "  --fresh              wipe the data directory first",
        "  --mongo-backend B    memory (default) or h2 (silo-server dev's on-disk store, ~4k inserts/s here)",
        "  --crypto-threads N   threads of the crypto ceiling (c) (default: cores)",
        "  --bulk-writers N     insertMany threads of the I/O ceiling (b) (default: cores)",
        "  --set key=value      a Silo setting for the servers under test (repeatable)",
        "  --compare key=value  after the Silo run, run Silo again with this setting and print the ratio",
        "                       (repeatable: one more run each; e.g. migration.batchSize=500)",
        "  --skip-libmongocrypt leave out the second Silo run with migration.encryptionPath=libmongocrypt",
        "  --timeout-s N        give up on a migration after N seconds (default max(600, docs/50))");
  }
}
