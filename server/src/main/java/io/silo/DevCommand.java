package io.silo;

import io.silo.config.ConfigException;
import io.silo.config.ConfigLoader;
import io.silo.config.SiloConfig;
import io.silo.auth.TokenRegistry;
import io.silo.dev.DevAdminToken;
import io.silo.dev.DemoSeeder;
import io.silo.dev.DevOptions;
import io.silo.dev.DevStack;
import io.silo.dev.S3Endpoint;
import io.silo.dev.mongo.DevMongoLauncher;
import io.vertx.core.Vertx;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** `silo-server dev`: the embedded dev stack (PostgreSQL, MongoDB-wire server, S3 server, local KMS key) in one process. */
@Command(name = "dev", mixinStandardHelpOptions = true,
    description = "Start Silo with an embedded PostgreSQL, MongoDB-wire server, S3 server and local KMS key.")
final class DevCommand implements Callable<Integer> {

  @Option(names = "--demo", description = "Seed a realistic legacy estate (tenants, patients, shared bucket).")
  boolean demo;

  @Option(names = "--fresh", description = "Wipe the data directory first.")
  boolean fresh;

  @Option(names = "--data-dir", description = "Data directory (default: ${DEFAULT-VALUE}).", defaultValue = ".silo-data")
  Path dataDir;

  @Option(names = "--tenants", description = "Demo tenants (default: ${DEFAULT-VALUE}).", defaultValue = "3")
  int tenants;

  @Option(names = "--patients", description = "Demo legacy.patients documents (default: ${DEFAULT-VALUE}).",
      defaultValue = "30000")
  int patients;

  @Option(names = "--objects", description = "Demo objects in the shared bucket (default: ${DEFAULT-VALUE}).",
      defaultValue = "3000")
  int objects;

  @Option(names = "--grpc-port", description = "gRPC port (default: ${DEFAULT-VALUE}).", defaultValue = "50051")
  int grpcPort;

  @Option(names = "--ephemeral-ports", description = "Use free ports for PostgreSQL, S3 and MongoDB instead of the fixed ones.")
  boolean ephemeralPorts;

  @Option(names = "--config", description = "Optional config file whose settings apply on top of the dev stack's.")
  Path config;

  @Option(names = "--s3-endpoint", paramLabel = "URL", description = "Use this S3 (e.g. Ceph RGW from"
      + " src/scripts/rgw-dev.sh) instead of the in-process S3Mock; path-style.")
  java.net.URI s3Endpoint;

  @Option(names = "--s3-access-key", description = "Access key id for --s3-endpoint (default: SILO_S3_ACCESS_KEY_ID).")
  String s3AccessKey;

  @Option(names = "--s3-secret-key", description = "Secret access key for --s3-endpoint (default:"
      + " SILO_S3_SECRET_ACCESS_KEY, which keeps it out of the process list).")
  String s3SecretKey;

  @Option(names = "--s3-region", description = "Region of --s3-endpoint (default: ${DEFAULT-VALUE}).",
      defaultValue = "us-east-1")
  String s3Region;

  @Option(names = "--s3-strict", description = "With --s3-endpoint: fail the S3 phase on any bucket control the"
      + " endpoint does not verify (s3.strict), instead of warning as dev mode does.")
  boolean s3Strict;

  @Override
  public Integer call() throws Exception {
    if (tenants < 1 || patients < 0 || objects < 0) {
      System.err.println("silo-server dev: --tenants must be >= 1, --patients and --objects >= 0");
      return 2;
    }
    Vertx vertx = Vertx.vertx();
    SiloConfig base;
    try {
      base = ConfigLoader.load(vertx, config, System.getenv());
    } catch (ConfigException e) {
      System.err.println("silo-server: " + e.getMessage());
      vertx.close();
      return 2;
    }
    if (base.source("log.format").equals("default")) {
      Main.configureLogging(base.with(Map.of("log.format", "text")));
    } else {
      Main.configureLogging(base);
    }
    DevOptions options;
    try {
      options = devOptions(base);
    } catch (IllegalArgumentException e) {
      System.err.println("silo-server dev: " + e.getMessage());
      vertx.close();
      return 2;
    }
    DevStack stack;
    try {
      stack = DevStack.start(options, DevMongoLauncher::start);
    } catch (Exception e) {
      System.err.println("silo-server dev: the dev stack did not start: " + e.getMessage());
      vertx.close();
      return 1;
    }

    Map<String, Object> settings = stackSettings(stack, grpcPort, s3Strict);
    String adminToken;
    try {
      adminToken = DevAdminToken.loadOrCreate(stack.dataDirectory().adminToken());
    } catch (java.io.IOException e) {
      System.err.println("silo-server dev: cannot write the admin token: " + e.getMessage());
      stack.close();
      vertx.close();
      return 1;
    }
    settings.putAll(authSettings(base, adminToken));
    // Dev logs are read by people in a terminal; production keeps JSON unless configured otherwise.
    if (base.source("log.format").equals("default")) {
      settings.put("log.format", "text");
    }
    SiloConfig effective;
    try {
      effective = base.with(settings);
    } catch (ConfigException e) {
      System.err.println("silo-server dev: " + e.getMessage());
      stack.close();
      vertx.close();
      return 2;
    }
    // With --demo the server listens NOT_SERVING until the estate is seeded: a migration started against a
    // half-seeded estate would copy part of it and end with thousands of findings.
    return Main.runUntilSignal(vertx, effective, demo ? SEEDING : null,
        server -> ready(stack, server, adminToken), stack);
  }

  /**
   * The dev token as an admin token, after any tokens the config file names; /metrics stays open in dev unless the
   * config says otherwise, since nothing outside this machine can reach the loopback port.
   */
  static Map<String, Object> authSettings(SiloConfig base, String adminToken) {
    Map<String, Object> settings = new HashMap<>();
    java.util.List<String> tokens = new java.util.ArrayList<>(base.list(TokenRegistry.SETTING));
    tokens.add(DEV_TOKEN_NAME + ":admin:" + TokenRegistry.hashHex(adminToken));
    settings.put(TokenRegistry.SETTING, tokens);
    if (base.source("auth.metricsRequireToken").equals("default")) {
      settings.put("auth.metricsRequireToken", false);
    }
    return settings;
  }

  /** The name audit rows give the dev admin token. */
  static final String DEV_TOKEN_NAME = "dev-admin";

  /**
   * The dev stack's options from the command line; an {@code --s3-endpoint} takes its credentials from the options,
   * else from {@code base} (SILO_S3_ACCESS_KEY_ID / SILO_S3_SECRET_ACCESS_KEY or the config file).
   *
   * @throws IllegalArgumentException naming what is missing or wrong (never a secret's value)
   */
  DevOptions devOptions(SiloConfig base) {
    DevOptions options = DevOptions.defaults().withDataDir(dataDir).withFresh(fresh);
    if (ephemeralPorts) {
      options = options.withEphemeralPorts();
    }
    if (s3Endpoint == null) {
      if (s3AccessKey != null || s3SecretKey != null || s3Strict) {
        throw new IllegalArgumentException("--s3-access-key, --s3-secret-key and --s3-strict need --s3-endpoint");
      }
      return options;
    }
    String accessKey = s3AccessKey != null ? s3AccessKey : base.string("s3.accessKeyId");
    String secretKey = s3SecretKey != null ? s3SecretKey : base.string("s3.secretAccessKey");
    if (accessKey.isEmpty() || secretKey.isEmpty()) {
      throw new IllegalArgumentException("--s3-endpoint needs credentials: --s3-access-key and --s3-secret-key, or"
          + " SILO_S3_ACCESS_KEY_ID and SILO_S3_SECRET_ACCESS_KEY (missing: " + (accessKey.isEmpty()
          ? "access key id" + (secretKey.isEmpty() ? " and secret access key" : "") : "secret access key") + ")");
    }
    if (!s3Region.matches("[a-z0-9-]{2,32}")) {
      throw new IllegalArgumentException("--s3-region must be an AWS region name, got '" + s3Region + "'");
    }
    return options.withExternalS3(new S3Endpoint(s3Endpoint, software.amazon.awssdk.regions.Region.of(s3Region),
        accessKey, secretKey));
  }

  /**
   * The settings that point Silo at the dev stack's stores and its local master key. {@code strictS3} is s3.strict
   * against an external S3; the in-process S3Mock always runs in dev mode (it lacks five bucket controls).
   */
  static Map<String, Object> stackSettings(DevStack stack, int grpcPort, boolean strictS3) {
    Map<String, Object> settings = new HashMap<>();
    settings.put("grpc.host", "127.0.0.1");
    settings.put("grpc.port", grpcPort);
    settings.put("postgres.host", stack.postgres().host());
    settings.put("postgres.port", stack.postgres().port());
    settings.put("postgres.database", stack.postgres().database());
    settings.put("postgres.user", stack.postgres().user());
    settings.put("postgres.password", stack.postgres().password());
    settings.put("mongo.uri", stack.mongo().connectionString());
    settings.put("s3.enabled", true);
    S3Endpoint s3 = stack.s3Endpoint();
    settings.put("s3.endpoint", s3.endpoint().toString());
    settings.put("s3.region", s3.region().id());
    settings.put("s3.pathStyle", true);
    settings.put("s3.accessKeyId", s3.accessKeyId());
    settings.put("s3.secretAccessKey", s3.secretAccessKey());
    // S3Mock implements neither public access block, bucket encryption, policy, tagging nor CORS: the S3 phase
    // reports each as UNSUPPORTED_BY_ENDPOINT and, in dev only, goes on. An external S3 (RGW lacks bucket
    // encryption and logging) gets the same leniency unless --s3-strict asks for the production behaviour.
    settings.put("s3.strict", stack.s3() == null && strictS3);
    settings.put("kms.local.keyFile", stack.masterKey().path().toString());
    // The demo's patients carry health data in every field but their id and tenant: encrypt all of it, so the dev
    // stack shows the plan a careful operator would write, with nothing copied in plaintext.
    settings.put("migration.fields", java.util.List.of("ssn:DETERMINISTIC:string", "name:RANDOM:string",
        "diagnosis:RANDOM:string", "dob:RANDOM:date", "notes:RANDOM:string"));
    return settings;
  }

  /** Why silo.v1 calls are refused while the demo is being seeded (part of the UNAVAILABLE message). */
  static final String SEEDING = "the demo estate is still being seeded";

  /** Prints the stack's addresses and, with --demo, seeds the legacy estate before the server serves. */
  private void ready(DevStack stack, SiloServer server, String adminToken) {
    System.out.println();
    System.out.print(stack.banner());
    System.out.println();
    System.out.println("Silo gRPC      127.0.0.1:" + server.port() + "  (gRPC, gRPC-Web, GET /metrics)");
    // Printed like the other dev credentials above; it is a dev secret on stdout only, never in a log line.
    System.out.println("Admin token    " + adminToken + "  (role admin; saved in "
        + stack.dataDirectory().adminToken() + ", which `silo` reads when run from this directory)");
    System.out.println();
    seedThenServe(server, demo ? () -> stack.seedDemo(
        DemoSeeder.Options.defaults().withCounts(tenants, patients, objects),
        line -> System.out.println("demo: " + line)) : null, System.out, System.err);
  }

  /**
   * Runs the demo seeding (when there is one), then marks the server ready and prints the "Try:" hint, so
   * that nothing the hint suggests can run against a half-seeded estate. A failed seeding still ends the
   * not-ready period: nothing writes any more, and the message says how to seed again.
   */
  static void seedThenServe(SiloServer server, Callable<?> seeding, PrintStream out, PrintStream err) {
    if (seeding != null) {
      out.println("demo: seeding; Silo answers health NOT_SERVING and refuses silo.v1 calls until it is done");
      try {
        seeding.call();
      } catch (Exception e) {
        err.println("silo-server dev: demo seeding failed: " + e.getMessage()
            + " (the stack keeps running; restart with --fresh to seed again)");
      }
    }
    server.markReady();
    out.println("  Try:         silo --server 127.0.0.1:" + server.port() + " tenants list");
    out.println();
  }
}
