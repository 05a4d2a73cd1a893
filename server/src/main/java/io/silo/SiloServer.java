package io.silo;

import com.google.protobuf.Descriptors.ServiceDescriptor;
import io.grpc.health.v1.HealthProto;
import io.grpc.reflection.v1.ServerReflectionProto;
import io.silo.api.ActiveStreams;
import io.silo.api.DashboardAssets;
import io.silo.api.SessionEndpoint;
import io.silo.api.GrpcWebTextGuard;
import io.silo.auth.AccessControl;
import io.silo.auth.AuthGate;
import io.silo.auth.ClientCertificates;
import io.silo.auth.TransportSecurity;
import io.silo.api.HealthEndpoint;
import io.silo.api.ReadinessGate;
import io.silo.api.ReflectionEndpoint;
import io.silo.api.StreamLimits;
import io.silo.api.TenantEndpoint;
import io.silo.api.UnimplementedEndpoints;
import io.silo.api.AuditEndpoint;
import io.silo.api.v1.AuditServiceGrpcService;
import io.silo.api.UsageEndpoint;
import io.silo.api.v1.KeyServiceGrpcService;
import io.silo.api.v1.MigrationServiceGrpcService;
import io.silo.api.v1.SessionServiceGrpcService;
import io.silo.api.v1.TenantServiceGrpcService;
import io.silo.api.v1.UsageServiceGrpcService;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.silo.api.KeyEndpoint;
import io.silo.api.MigrationEndpoint;
import io.silo.config.ConfigException;
import io.silo.jobs.JobDefinition;
import io.silo.jobs.PhaseName;
import io.silo.jobs.Phase;
import io.silo.jobs.PhaseSpec;
import io.silo.jobs.Phases;
import io.silo.s3.S3Phase;
import io.silo.s3.S3Spec;
import io.silo.keys.KeysPhase;
import io.silo.mongo.MongoPhase;
import io.silo.mongo.MongoSpec;
import io.vertx.core.WorkerExecutor;
import io.silo.jobs.MigrationEngine;
import io.silo.jobs.MigrationMetrics;
import io.silo.jobs.MigrationStore;
import io.silo.jobs.Migrations;
import io.silo.jobs.ProgressBus;
import io.silo.mongo.EncryptionPlan;
import io.silo.mongo.DataKeyCache;
import io.silo.mongo.JavaEncryption;
import io.silo.mongo.MigrationMongo;
import io.silo.mongo.MongoCopyPipeline;
import io.silo.config.SiloConfig;
import io.silo.keys.AwsKms;
import io.silo.keys.AwsKmsPreflight;
import io.silo.keys.AwsLocation;
import io.silo.keys.KeyVaultClients;
import io.silo.keys.KmsBudget;
import io.silo.keys.KmsBudgets;
import io.silo.keys.KmsProviders;
import io.silo.keys.KmsRetry;
import io.silo.keys.TenantCmks;
import io.silo.keys.TenantKeys;
import io.silo.store.AuditStore;
import io.silo.store.KeyAuditStore;
import io.silo.store.Database;
import io.silo.store.TenantCmkStore;
import io.silo.store.TenantStore;
import io.silo.store.UsageStore;
import io.silo.s3.BucketSettings;
import io.silo.s3.DocumentAccess;
import io.silo.s3.DocumentUrls;
import io.silo.s3.S3Clients;
import java.net.URI;
import java.time.Clock;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.regions.Region;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.handler.CorsHandler;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerOptions;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Assembles Silo's gRPC server (gRPC, gRPC-Web with CORS, health, reflection) over its stores, and shuts it down gracefully. */
public final class SiloServer {

  private static final Logger LOG = LoggerFactory.getLogger(SiloServer.class);

  /** RPC services of the v1 contract that later work will build, and the feature each belongs to. */
  static final Map<String, String> PLANNED = Map.of();
  /** How often tenants without a usage row for the current month get one (the first run is at start-up). */
  static final long USAGE_FILL_INTERVAL_MILLIS = 3_600_000;

  private final Vertx vertx;
  private final SiloConfig config;
  private final Database database;
  private final HttpServer http;
  private final HealthEndpoint health;
  private final ActiveStreams streams;
  private final KeyVaultClients keyVault;
  private final PrometheusMeterRegistry metrics;
  private final MigrationRuntime migration;
  private final UsageRuntime usage;
  private final ReadinessGate gate;
  // Guarded by this: a readiness signal that arrives during shutdown must not start the engine again.
  private boolean shuttingDown;

  /** The migration engine and the resources it owns, when MongoDB is configured. */
  record MigrationRuntime(MigrationEngine engine, MigrationMongo mongo, S3Phase s3) {
    /** Closes the data-path clients (after the engine stopped). */
    void close() {
      mongo.close();
      if (s3 != null) {
        s3.close();
      }
    }

  }

  /** The S3 clients behind presigned document URLs and the timer that fills in the current month's usage rows. */
  record UsageRuntime(DocumentAccess documents, long fillTimer) {
    void close(Vertx vertx) {
      vertx.cancelTimer(fillTimer);
      // Closing the SDK's HTTP client waits for its event loop group: off the event loop.
      vertx.executeBlocking(() -> {
        documents.close();
        return null;
      });
    }
  }

  private SiloServer(Vertx vertx, SiloConfig config, Database database, HttpServer http, HealthEndpoint health,
                     ActiveStreams streams, KeyVaultClients keyVault, PrometheusMeterRegistry metrics,
                     MigrationRuntime migration, UsageRuntime usage, ReadinessGate gate) {
    this.vertx = vertx;
    this.config = config;
    this.database = database;
    this.http = http;
    this.health = health;
    this.streams = streams;
    this.keyVault = keyVault;
    this.metrics = metrics;
    this.migration = migration;
    this.usage = usage;
    this.gate = gate;
  }

  /** Migrates the schema, binds every endpoint and listens on grpc.host:grpc.port, ready at once. */
  public static Future<SiloServer> start(Vertx vertx, SiloConfig config) {
    return start(vertx, config, null);
  }

  /**
   * Like {@link #start(Vertx, SiloConfig)}, but when {@code notReadyReason} is not null the server listens
   * NOT_SERVING: health says so, silo.v1 calls get UNAVAILABLE naming the reason, and no migration runs,
   * until {@link #markReady()}.
   */
  public static Future<SiloServer> start(Vertx vertx, SiloConfig config, String notReadyReason) {
    PrometheusMeterRegistry metrics = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    // Heap and GC gauges let operators (and the 1M-document benchmark) see that memory stays flat.
    new io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics().bindTo(metrics);
    new io.micrometer.core.instrument.binder.jvm.JvmGcMetrics().bindTo(metrics);
    // KMS settings are checked before anything starts, so a misconfigured provider fails start-up by name.
    KmsProviders kms = config.string("mongo.uri").isEmpty() ? null : KmsProviders.from(config);
    MongoSpec defaults;
    try {
      defaults = MongoSpec.fromConfig(config);
    } catch (EncryptionPlan.InvalidPlanException e) {
      return Future.failedFuture(new ConfigException("invalid setting '" + e.field() + "': " + e.getMessage()));
    }
    AccessControl access;
    TransportSecurity transport;
    try {
      // Checked before any store opens: a server that would answer without tokens, or in plaintext to the network,
      // must not start by accident.
      access = AccessControl.from(config);
      transport = TransportSecurity.from(config);
    } catch (ConfigException e) {
      return Future.failedFuture(e);
    }
    return Database.open(vertx, config).compose(database -> openKeyVault(vertx, config, kms)
        .onFailure(failure -> database.close())
        .compose(keyVault -> bindAndListen(vertx, config, database, keyVault, kms, metrics, defaults,
            new ReadinessGate(vertx, notReadyReason), new AuthGate(vertx, access), transport)));
  }

  private static Future<KeyVaultClients> openKeyVault(Vertx vertx, SiloConfig config, KmsProviders kms) {
    if (kms == null) {
      return Future.succeededFuture(null);
    }
    return vertx.executeBlocking(() -> KeyVaultClients.open(config.string("mongo.uri"),
        config.string("mongo.keyVaultNamespace"), kms, config.integer("kms.keyExpirationSeconds")), false);
  }

  private static Future<SiloServer> bindAndListen(Vertx vertx, SiloConfig config, Database database,
                                                  KeyVaultClients keyVault, KmsProviders kms,
                                                  PrometheusMeterRegistry metrics, MongoSpec defaults,
                                                  ReadinessGate gate, AuthGate auth, TransportSecurity transport) {
    ActiveStreams streams = new ActiveStreams();
    GrpcServer grpc = GrpcServer.server(vertx, new GrpcServerOptions()
        .setScheduleDeadlineAutomatically(true)
        .setMaxMessageSize(config.integer("grpc.maxMessageBytes")));

    List<ServiceDescriptor> descriptors = new ArrayList<>(List.of(
        TenantServiceGrpcService.SERVICE_DESCRIPTOR,
        KeyServiceGrpcService.SERVICE_DESCRIPTOR,
        MigrationServiceGrpcService.SERVICE_DESCRIPTOR,
        UsageServiceGrpcService.SERVICE_DESCRIPTOR,
        AuditServiceGrpcService.SERVICE_DESCRIPTOR,
        SessionServiceGrpcService.SERVICE_DESCRIPTOR,
        HealthProto.getDescriptor().findServiceByName("Health"),
        ServerReflectionProto.getDescriptor().findServiceByName("ServerReflection")));
    HealthEndpoint health = new HealthEndpoint(descriptors.stream().map(ServiceDescriptor::getFullName).toList(),
        streams, gate.isOpen());

    TenantStore tenantStore = new TenantStore(database.pool(), database.tables());
    AccessControl access = auth.access();
    new TenantEndpoint(tenantStore, access).bind(grpc);
    AuditStore auditStore = new AuditStore(database.pool(), database.tables());
    access.audit().attach(auditStore, metrics, descriptors);
    new AuditEndpoint(auditStore, access).bind(grpc);
    new SessionEndpoint(access).bind(grpc);
    Future<Void> ready = Future.succeededFuture();
    Map<String, String> unconfigured = new java.util.HashMap<>();
    MigrationRuntime migration = null;
    if (keyVault != null) {
      KeyAuditStore audit = new KeyAuditStore(database.pool(), database.tables());
      KmsBudgets budgets = new KmsBudgets(vertx, metrics, (provider, region) ->
          KmsBudget.Settings.of(config.integer("kms.budget.ratePerSecond"))
              .withMaxWaiters(config.integer("kms.budget.maxWaiters")),
          operation -> KmsBudget.Settings.controlPlane(config.number(AwsKms.isReadOperation(operation)
                  ? "kms.budget.controlReadRatePerSecond" : "kms.budget.controlRatePerSecond"))
              .withMaxWaiters(config.integer("kms.budget.maxWaiters")));
      io.vertx.core.WorkerExecutor kmsWorkers = vertx.createSharedWorkerExecutor("silo-kms", 8);
      TenantKeys.Aws aws = null;
      if (kms.defaultAwsProvider().isPresent()) {
        AwsKms awsKms = new AwsKms(vertx, kmsWorkers, kms, budgets, KmsRetry.Policy.DEFAULT);
        keyVault.closeWith(awsKms);
        keyVault.closeWith(kms::close);
        aws = new TenantKeys.Aws(new AwsKmsPreflight(awsKms),
            new TenantCmks(awsKms, new TenantCmkStore(database.pool(), database.tables()), audit), awsKms);
      }
      TenantKeys keys = new TenantKeys(vertx, kmsWorkers, keyVault.mongo(),
          config.string("mongo.keyVaultNamespace"), keyVault.encryption(), keyVault.fresh(), kms, budgets, audit,
          tenantStore, config.integer("kms.keyExpirationSeconds"), aws, KmsRetry.Policy.DEFAULT);
      new KeyEndpoint(keys, audit, access).bind(grpc);
      ready = keys.ensureIndex();
      migration = bindMigrations(vertx, config, database, keyVault, keys, tenantStore, audit, streams, metrics,
          defaults, grpc, access);
    } else {
      unconfigured.put("silo.v1.KeyService", "mongo.uri");
      unconfigured.put("silo.v1.MigrationService", "mongo.uri");
    }
    UsageRuntime usage = bindUsage(vertx, config, database, grpc, access);
    health.bind(grpc);
    new ReflectionEndpoint(descriptors, streams).bind(grpc);
    new UnimplementedEndpoints(PLANNED, unconfigured).bind(grpc);

    Router cors = corsRouter(vertx, config.list("grpc.corsOrigins"), grpc);
    HttpServer http = vertx.createHttpServer(transport.apply(new HttpServerOptions()
        .setCompressionSupported(false)));
    DashboardAssets dashboard = new DashboardAssets();
    http.requestHandler(incoming -> {
      // The dashboard's static files are public and never reach gRPC; the page's API calls do, with its token.
      if (DashboardAssets.wants(incoming)) {
        dashboard.serve(incoming);
        return;
      }
      HttpServerRequest request = GrpcWebTextGuard.guard(incoming);
      if (request.method() == HttpMethod.GET && "/metrics".equals(request.path())) {
        AccessControl.Decision allowed = access.decideMetrics(request.getHeader("authorization"),
            ClientCertificates.subjectOf(request.connection()));
        if (!allowed.allowed()) {
          request.response().setStatusCode(401).putHeader("WWW-Authenticate", "Bearer realm=\"silo\"")
              .putHeader("content-type", "text/plain; charset=utf-8").end(allowed.message() + "\n");
          return;
        }
        request.response().putHeader("content-type", "text/plain; version=0.0.4; charset=utf-8")
            .end(metrics.scrape());
        return;
      }
      // Only browsers send Origin; plain gRPC callers skip the router entirely.
      String origin = request.getHeader("Origin");
      List<String> allowed = config.list("grpc.corsOrigins");
      if (cors != null && origin != null && !allowed.contains("*") && !allowed.contains(origin)) {
        // Refused here for preflights too: the router would only fail the request after reading it.
        request.response().setStatusCode(403).end("CORS: origin not allowed");
        return;
      }
      if (cors != null && origin != null && request.method() == HttpMethod.OPTIONS) {
        cors.handle(request);
      } else if (cors != null && origin != null) {
        // Actual gRPC-Web calls skip the router so gRPC attaches its handlers before any body byte is read.
        request.response().putHeader("Access-Control-Allow-Origin", allowed.contains("*") ? "*" : origin)
            .putHeader("Vary", "Origin")
            .putHeader("Access-Control-Expose-Headers", "grpc-status,grpc-message,grpc-status-details-bin");
        dispatch(auth, gate, grpc, request);
      } else {
        dispatch(auth, gate, grpc, request);
      }
    });
    MigrationRuntime runtime = migration;
    return ready.compose(v -> http.listen(config.integer("grpc.port"), config.string("grpc.host")))
        .map(listening -> {
          LOG.info("silo listening on {}:{} (gRPC, gRPC-Web, /metrics, /ui; {})", config.string("grpc.host"),
              listening.actualPort(), transport.describe());
          // A server that is not ready yet runs no migrations either; markReady starts the engine.
          if (runtime != null && gate.isOpen()) {
            runtime.engine().start();
          }
          return new SiloServer(vertx, config, database, listening, health, streams, keyVault, metrics, runtime,
              usage, gate);
        })
        .onFailure(failure -> {
          usage.close(vertx);
          if (runtime != null) {
            runtime.close();
          }
          database.close();
          if (keyVault != null) {
            keyVault.close();
          }
        });
  }

  /**
   * UsageService: usage and migration status from PostgreSQL, presigned URLs into tenant buckets. The application
   * tables may appear after start-up, so a timer (and every call) installs and fills what it can when it can.
   */
  private static UsageRuntime bindUsage(Vertx vertx, SiloConfig config, Database database, GrpcServer grpc,
                                        AccessControl access) {
    UsageStore store = new UsageStore(database.pool(), database.tables(),
        () -> vertx.executeBlocking(() -> Database.ensureAppTables(config), false));
    String endpoint = config.string("s3.endpoint");
    URI endpointUri = endpoint.isEmpty() ? null : URI.create(endpoint);
    Region region = Region.of(config.string("s3.region"));
    boolean pathStyle = config.bool("s3.pathStyle");
    AwsCredentialsProvider credentials = DocumentUrls.credentials(config);
    // Uploads of a tenant whose migration recorded no encryption are signed for the configured one.
    String kmsKeyId = config.string("s3.kmsKeyId");
    DocumentUrls urls = new DocumentUrls(endpointUri, region, pathStyle, credentials,
        new BucketSettings.Encryption(config.string("s3.encryption"), kmsKeyId.isEmpty() ? null : kmsKeyId),
        Clock.systemUTC());
    DocumentAccess documents = new DocumentAccess(vertx, store, urls,
        S3Clients.async(endpointUri, region, credentials, 16, b -> b.forcePathStyle(pathStyle)),
        config.string("s3.sharedBucket"));
    new UsageEndpoint(store, documents, access).bind(grpc);
    long timer = vertx.setPeriodic(0, USAGE_FILL_INTERVAL_MILLIS, id -> store.fillCurrentMonth()
        .onSuccess(filled -> {
          if (filled > 0) {
            LOG.info("usage: {} tenants had no tenant_usage row for the current month and got one", filled);
          }
        })
        .onFailure(failure -> LOG.warn("usage: filling the current month failed: {}", failure.toString())));
    return new UsageRuntime(documents, timer);
  }

  private static MigrationRuntime bindMigrations(Vertx vertx, SiloConfig config, Database database,
                                                 KeyVaultClients keyVault, TenantKeys keys, TenantStore tenantStore,
                                                 KeyAuditStore audit, ActiveStreams streams,
                                                 PrometheusMeterRegistry metrics, MongoSpec defaults,
                                                 GrpcServer grpc, AccessControl access) {
    ProgressBus bus = new ProgressBus();
    MigrationMetrics migrationMetrics = new MigrationMetrics(metrics, bus::watcherCount);
    MigrationMongo mongo = new MigrationMongo(vertx, config.string("mongo.uri"), keyVault.fresh(),
        config.integer("migration.encryptThreads"), config.integer("migration.batchesInFlight"),
        new MongoCopyPipeline.Observer() {
          @Override
          public void batchStarted() {
            migrationMetrics.batchStarted();
          }

          @Override
          public void batchFinished() {
            migrationMetrics.batchFinished();
          }
        }, javaEncryption(config, keyVault, keys));
    MigrationStore store = new MigrationStore(database.pool(), database.tables());
    WorkerExecutor dataWorkers = vertx.createSharedWorkerExecutor("silo-verify",
        config.integer("migration.maxConcurrentJobs") + config.integer("verify.maxStreams"));
    // The phases a migration runs, in order; a new phase is one more entry here.
    S3Phase s3 = config.bool("s3.enabled") ? S3Phase.create(vertx, config, database) : null;
    List<Phase> ordered = new ArrayList<>(List.of(
        new KeysPhase(keys),
        new MongoPhase(vertx, mongo, keyVault.mongo(), keyVault.encryption(), dataWorkers,
            slug -> keys.find(slug).map(found -> found.map(TenantKeys.KeyInfo::provider)
                .orElse(keys.providers().defaultProvider())))));
    if (s3 != null) {
      ordered.add(s3);
      keys.aws().ifPresent(aws -> s3.useKmsKeys(aws::bucketKey));
      keys.addRetirementGuard(s3::bucketsUsingKmsKey);
    }
    Phases phases = new Phases(ordered);
    Map<PhaseName, PhaseSpec> defaultParts = new EnumMap<>(PhaseName.class);
    defaultParts.put(PhaseName.MONGO, defaults);
    if (s3 != null) {
      defaultParts.put(PhaseName.S3, S3Spec.defaults(config));
    }
    MigrationEngine engine = new MigrationEngine(vertx, store, bus, phases, migrationMetrics,
        new MigrationEngine.Settings(config.integer("migration.maxConcurrentJobs"), config.integer("jobs.leaseSeconds"),
            config.integer("jobs.pollMillis"), config.bool("migration.verifyAfterCopy")));
    Migrations migrations = new Migrations(vertx, store, tenantStore, bus, phases,
        new JobDefinition(defaultParts), engine::wake);
    // API verifies get at most verify.maxStreams workers, so the engine's VERIFY phases always find one free.
    new MigrationEndpoint(migrations, audit, streams, config.integer("watch.minIntervalMillis"),
        config.string("mongo.keyVaultNamespace"), new StreamLimits(config.integer("verify.maxStreams"),
        config.integer("grpc.streamStallSeconds") * 1000L, config.integer("watch.maxPerCaller")), access).bind(grpc);
    return new MigrationRuntime(engine, mongo, s3);
  }

  /** The value-encryption path of the bulk copy ({@code migration.encryptionPath}), see the README. */
  private static JavaEncryption javaEncryption(SiloConfig config, KeyVaultClients keyVault, TenantKeys keys) {
    JavaEncryption.Path path = JavaEncryption.Path.parse(config.string("migration.encryptionPath"));
    if (path == JavaEncryption.Path.LIBMONGOCRYPT) {
      return new JavaEncryption(path, null);
    }
    String[] ns = config.string("mongo.keyVaultNamespace").split("\\.", 2);
    DataKeyCache cache = new DataKeyCache(
        keyVault.mongo().getDatabase(ns[0]).getCollection(ns[1], org.bson.BsonDocument.class),
        keys.providers().kmsProviders(), keys.aws().map(aws -> awsUnwrap(keys.providers(), aws.kms())).orElse(null),
        config.integer("kms.keyExpirationSeconds"));
    // A shred in this process drops the unwrapped key at once; other processes drop it at expiry.
    keys.onShred(cache::forget);
    return new JavaEncryption(path, cache);
  }

  /**
   * Data keys under an aws provider, unwrapped by AWS KMS Decrypt through the server's one AwsKms client. Blocks the
   * calling crypto thread for the one request a key needs per key-expiry period; the SDK's own exception (throttling
   * included) is rethrown as it is, so the copy's batch backs off under the key's KMS budget.
   */
  private static DataKeyCache.RemoteUnwrap awsUnwrap(KmsProviders providers, AwsKms kms) {
    return new DataKeyCache.RemoteUnwrap() {
      @Override
      public boolean handles(String provider) {
        return providers.isAws(provider);
      }

      @Override
      public byte[] unwrap(String provider, org.bson.BsonDocument masterKey, byte[] keyMaterial) {
        AwsLocation at = AwsLocation.of(provider, masterKey);
        if (at.endpoint().isEmpty()) {
          at = new AwsLocation(provider, at.region(), providers.awsEndpoint());
        }
        try {
          return kms.decrypt(at, masterKey.getString("key").getValue(), keyMaterial).toCompletionStage()
              .toCompletableFuture().get(60, java.util.concurrent.TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
          throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
        } catch (java.util.concurrent.TimeoutException e) {
          throw new IllegalStateException("AWS KMS did not answer a Decrypt of a data key within 60 s", e);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new java.util.concurrent.CancellationException("interrupted while AWS KMS unwrapped a data key");
        }
      }
    };
  }

  private static void dispatch(AuthGate auth, ReadinessGate gate, GrpcServer grpc,
                               io.vertx.core.http.HttpServerRequest request) {
    // Authentication comes first, so a caller without a valid token learns nothing, not even readiness.
    if (!auth.admits(request)) {
      auth.refuse(request);
    } else if (gate.admits(request)) {
      grpc.handle(request);
    } else {
      gate.refuse(request);
    }
  }

  /**
   * Ends the not-ready period of a server started with a reason: health turns SERVING, silo.v1 calls are
   * answered and the migration engine starts. Does nothing if the server was ready already or is shutting down.
   */
  public synchronized void markReady() {
    if (shuttingDown || !gate.open()) {
      return;
    }
    health.setAllServing();
    if (migration != null) {
      migration.engine().start();
    }
    LOG.info("silo is ready: serving");
  }

  /** Whether silo.v1 calls are answered (false while a not-ready reason holds them back). */
  public boolean isReady() {
    return gate.isOpen();
  }

  private static Router corsRouter(Vertx vertx, List<String> origins, GrpcServer grpc) {
    if (origins.isEmpty()) {
      return null;
    }
    CorsHandler handler = CorsHandler.create()
        .allowedMethods(Set.of(HttpMethod.POST, HttpMethod.OPTIONS))
        .allowedHeaders(Set.of("content-type", "x-grpc-web", "x-user-agent", "grpc-timeout", "authorization"))
        .exposedHeaders(Set.of("grpc-status", "grpc-message", "grpc-status-details-bin"));
    if (origins.contains("*")) {
      handler.addOrigin("*");
    } else {
      handler.addOrigins(origins);
    }
    Router router = Router.router(vertx);
    router.route().handler(handler);
    // Only preflights reach this router; CorsHandler answers them and nothing else is routed.
    router.route().handler(ctx -> ctx.response().setStatusCode(204).end());
    // Whatever fails in the router still gets an answer, never a hanging request.
    router.route().failureHandler(ctx -> {
      if (!ctx.response().ended()) {
        ctx.response().setStatusCode(ctx.statusCode() > 0 ? ctx.statusCode() : 500).end();
      }
    });
    return router;
  }

  public int port() {
    return http.actualPort();
  }

  public SiloConfig config() {
    return config;
  }

  public Database database() {
    return database;
  }

  public PrometheusMeterRegistry metrics() {
    return metrics;
  }

  /**
   * Graceful shutdown: report NOT_SERVING, end open streams with UNAVAILABLE, stop accepting calls and let
   * in-flight unary calls finish within the grace period, then close the stores.
   */
  public Future<Void> shutdown() {
    synchronized (this) {
      shuttingDown = true;
    }
    LOG.info("shutting down: {} open streams, grace {} s", streams.size(), config.integer("grpc.shutdownGraceSeconds"));
    health.setAllNotServing();
    streams.closeAll();
    // Runs stop after their current batch and hand back their leases, so a restart resumes at once.
    Future<Void> runs = migration == null ? Future.succeededFuture() : migration.engine().shutdown();
    return runs.compose(v -> http.shutdown(config.integer("grpc.shutdownGraceSeconds"), TimeUnit.SECONDS))
        .eventually(() -> {
          usage.close(vertx);
          if (migration != null) {
            migration.close();
          }
          database.close();
          if (keyVault != null) {
            vertx.executeBlocking(() -> {
              keyVault.close();
              return null;
            });
          }
          LOG.info("shutdown complete");
          return Future.succeededFuture();
        });
  }

  Vertx vertx() {
    return vertx;
  }
}
