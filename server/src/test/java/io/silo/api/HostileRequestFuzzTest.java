package io.silo.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Duration;
import com.google.protobuf.Message;
import com.google.protobuf.Timestamp;
import com.mongodb.client.MongoClient;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthGrpc;
import io.silo.S3MockSilo;
import io.silo.TestServer;
import io.silo.api.v1.CancelMigrationRequest;
import io.silo.api.v1.CreateTenantKeyRequest;
import io.silo.api.v1.FieldPlan;
import io.silo.api.v1.GetCompletionReportRequest;
import io.silo.api.v1.GetMigrationRequest;
import io.silo.api.v1.GetTenantRequest;
import io.silo.api.v1.GetTenantUsageRequest;
import io.silo.api.v1.KeyServiceGrpc;
import io.silo.api.v1.ListAuditEventsRequest;
import io.silo.api.v1.ListMigrationsRequest;
import io.silo.api.v1.ListTenantKeysRequest;
import io.silo.api.v1.ListTenantsRequest;
import io.silo.api.v1.MasterKey;
import io.silo.api.v1.MigrationDefinition;
import io.silo.api.v1.MigrationPhase;
import io.silo.api.v1.PauseMigrationRequest;
import io.silo.api.v1.PlanMigrationRequest;
import io.silo.api.v1.PurgeSourceRequest;
import io.silo.api.v1.RegisterTenantRequest;
import io.silo.api.v1.ResumeMigrationRequest;
import io.silo.api.v1.RollbackMigrationRequest;
import io.silo.api.v1.RotateTenantKeyRequest;
import io.silo.api.v1.ShredTenantKeyRequest;
import io.silo.api.v1.StartMigrationRequest;
import io.silo.api.v1.VerifyTenantRequest;
import io.silo.api.v1.WatchMigrationRequest;
import io.silo.config.SiloConfig;
import io.silo.dev.DemoSeeder;
import io.silo.jobs.MigrationFixture;
import io.silo.store.AppDatabase;
import io.silo.store.Database;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.http.RequestOptions;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.ShrinkingMode;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;
import net.jqwik.api.statistics.Statistics;

/**
 * Property-based fuzzing of every RPC with requests built from the contract to be refused: wrong wire types and
 * malformed bytes, huge and empty strings, unicode controls and NUL, negative and huge numbers, unknown enum values,
 * forged page tokens and ids, definitions pointing at the key vault or MongoDB's own databases. Every one must end
 * with a specific status (never OK, never UNKNOWN) and a message, health must answer within 100 ms after each, and
 * PostgreSQL row counts and MongoDB contents (key vault included) must not move.
 */
class HostileRequestFuzzTest {

  private static final String VICTIM = "fz-victim";
  private static final String OWNER = "fz-owner";
  private static final String LOOKALIKE = "tenant-fz-victim";
  private static final long HEALTH_BUDGET_MILLIS = 100;

  private static TestServer server;
  private static MongoClient mongo;
  private static ManagedChannel healthChannel;
  private static S3MockSilo silo;
  private static String rows;
  private static String documents;
  private static String objects;
  private static HttpClient h2;
  private static final AtomicInteger CALLS = new AtomicInteger();
  private static final List<Long> HEALTH_MILLIS = new ArrayList<>();

  @BeforeContainer
  static void start() throws Exception {
    // With the S3 phase on and the demo's documents table and shared bucket in place, hostile requests reach the
    // S3 code as a real deployment's would, and S3 joins the stores that must stay unchanged.
    silo = S3MockSilo.start("silo-fuzz", Map.of("jobs.pollMillis", 100, "s3.enabled", true, "s3.strict", false));
    server = silo.server;
    mongo = MigrationFixture.plainClient(server);
    new DemoSeeder(DemoSeeder.Options.defaults().withCounts(2, 5, 6), null)
        .seed(AppDatabase.of(server.settings)::connect, server.mongo.connectionString(), silo.s3);
    // Silo extends the application's tables when it first finds them; done now, before the digests are taken.
    Database.ensureAppTables(SiloConfig.of(server.settings));
    MigrationFixture.registerTenants(server, VICTIM, OWNER, LOOKALIKE);
    KeyServiceGrpc.newBlockingStub(server.channel).withDeadlineAfter(30, TimeUnit.SECONDS)
        .createTenantKey(CreateTenantKeyRequest.newBuilder().setTenant(VICTIM).build());
    MigrationFixture.seed(mongo, "legacy.patients", 3, VICTIM, OWNER, LOOKALIKE);
    h2 = server.vertx.createHttpClient(new HttpClientOptions().setProtocolVersion(HttpVersion.HTTP_2)
        .setHttp2ClearTextUpgrade(false));
    // Health is measured on its own connection, so a hostile request that wedged its connection would not hide.
    healthChannel = ManagedChannelBuilder.forAddress("127.0.0.1", server.server.port()).usePlaintext().build();
    health();
    rows = StoreDigest.postgres(server);
    documents = StoreDigest.mongo(mongo);
    objects = StoreDigest.s3(silo.s3);
  }

  @AfterContainer
  static void stop() throws Exception {
    synchronized (HEALTH_MILLIS) {
      List<Long> sorted = new ArrayList<>(HEALTH_MILLIS);
      sorted.sort(null);
      if (!sorted.isEmpty()) {
        System.out.printf("health probes: %d, median %d ms, p99 %d ms, max %d ms%n", sorted.size(),
            sorted.get(sorted.size() / 2), sorted.get(sorted.size() * 99 / 100), sorted.get(sorted.size() - 1));
      }
    }
    try {
      if (server != null) {
        assertThat(CALLS.get()).as("hostile requests sent").isGreaterThanOrEqualTo(1000);
        assertThat(StoreDigest.postgres(server)).isEqualTo(rows);
        assertThat(StoreDigest.mongo(mongo)).isEqualTo(documents);
        assertThat(StoreDigest.s3(silo.s3)).isEqualTo(objects);
      }
    } finally {
      if (healthChannel != null) {
        healthChannel.shutdownNow();
      }
      if (h2 != null) {
        h2.close();
      }
      if (mongo != null) {
        mongo.close();
      }
      if (silo != null) {
        silo.close();
      }
    }
  }

  /** One request as it goes on the wire. */
  record HostileCall(String method, boolean streaming, byte[] body, String what, boolean json) {
    HostileCall(String method, boolean streaming, byte[] body, String what) {
      this(method, streaming, body, what, false);
    }

    @Override
    public String toString() {
      return method + " " + (what.length() > 300 ? what.substring(0, 300) + "…" : what);
    }
  }

  @Property(tries = 1000, shrinking = ShrinkingMode.OFF)
  void everyHostileRequestIsRefusedWithAStatusAndChangesNothing(@ForAll("hostileCalls") HostileCall call)
      throws Exception {
    Status status = call.json() ? jsonCall(call.method(), call.body())
        : RawGrpc.call(server.channel, call.method(), call.streaming(), call.body(), 20);
    CALLS.incrementAndGet();
    // jqwik prints how the generated requests were answered, so a run shows it exercised every kind of refusal.
    Statistics.label("status").collect(status.getCode());
    assertThat(status.getCode()).as("%s -> %s", call, status).isNotIn(Status.Code.OK, Status.Code.UNKNOWN);
    assertThat(status.getDescription()).as("%s -> %s", call, status).isNotBlank();
    // Server and test share one JVM on a busy 2-core machine, so one probe can catch a GC pause or another process's
    // burst. A second probe right away tells that apart from a server that is still busy with the request (a frozen
    // event loop, like the 11 s of a 25,000-field plan before the limit, fails both).
    long millis = health();
    if (millis >= HEALTH_BUDGET_MILLIS) {
      millis = Math.min(millis, health());
    }
    assertThat(millis).as("health after %s", call).isLessThan(HEALTH_BUDGET_MILLIS);
    // Stores are compared every few calls and after the last: a change by any rejected request would persist.
    if (CALLS.get() % 10 == 0) {
      assertThat(StoreDigest.postgres(server)).as("PostgreSQL row counts, by call %d", CALLS.get()).isEqualTo(rows);
      assertThat(StoreDigest.mongo(mongo)).as("MongoDB contents, by call %d", CALLS.get()).isEqualTo(documents);
      assertThat(StoreDigest.s3(silo.s3)).as("S3 object versions, by call %d", CALLS.get()).isEqualTo(objects);
    }
  }

  private static long health() {
    long started = System.nanoTime();
    HealthGrpc.newBlockingStub(healthChannel).withDeadlineAfter(5, TimeUnit.SECONDS)
        .check(HealthCheckRequest.getDefaultInstance());
    long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
    synchronized (HEALTH_MILLIS) {
      HEALTH_MILLIS.add(millis);
    }
    return millis;
  }

  // ---------------------------------------------------------------- requests, one family per RPC

  @Provide
  Arbitrary<HostileCall> hostileCalls() {
    Arbitrary<HostileCall> wellFormed = Arbitraries.oneOf(List.of(
        registerTenant(), getTenant(), listTenants(), createKey(), listKeys(), rotateKey(), shredKey(),
        planMigration(), startMigration(), watchMigration(), migrationById(), listMigrations(), verifyTenant(),
        rollback(), purge(), report(), healthOfUnknownService(), usage(), listAuditEvents()));
    // Some requests are also broken at the wire level (the same bytes made undecodable), and some are sent as
    // gRPC JSON (application/grpc+json) with values of the wrong type.
    return Arbitraries.frequencyOf(
        net.jqwik.api.Tuple.of(6, wellFormed),
        net.jqwik.api.Tuple.of(2, Combinators.combine(wellFormed, malformations()).as(HostileRequestFuzzTest::broken)),
        net.jqwik.api.Tuple.of(1, jsonCalls()));
  }

  private static HostileCall call(String method, Message request) {
    boolean streaming = method.endsWith("/WatchMigration") || method.endsWith("/VerifyTenant");
    return new HostileCall(method, streaming, request.toByteArray(), request.toString().replace('\n', ' '));
  }

  private Arbitrary<HostileCall> registerTenant() {
    Arbitrary<RegisterTenantRequest> badSlug = Combinators.combine(badSlugs(), anyText())
        .as((slug, name) -> RegisterTenantRequest.newBuilder().setSlug(slug).setDisplayName(name).build());
    Arbitrary<RegisterTenantRequest> badName = Combinators.combine(freshSlugs(), badDisplayNames())
        .as((slug, name) -> RegisterTenantRequest.newBuilder().setSlug(slug).setDisplayName(name).build());
    Arbitrary<RegisterTenantRequest> badKey = Combinators.combine(freshSlugs(), badIdempotencyKeys())
        .as((slug, key) -> RegisterTenantRequest.newBuilder().setSlug(slug).setDisplayName("Fuzz Co")
            .setIdempotencyKey(key).build());
    // An existing slug with another display name is ALREADY_EXISTS and writes nothing.
    Arbitrary<RegisterTenantRequest> taken = Arbitraries.of(VICTIM, OWNER)
        .map(slug -> RegisterTenantRequest.newBuilder().setSlug(slug).setDisplayName("Someone Else").build());
    return Arbitraries.oneOf(badSlug, badName, badKey, taken)
        .map(r -> call("silo.v1.TenantService/RegisterTenant", r));
  }

  private Arbitrary<HostileCall> getTenant() {
    return Arbitraries.oneOf(badSlugs(), freshSlugs())
        .map(slug -> call("silo.v1.TenantService/GetTenant", GetTenantRequest.newBuilder().setSlug(slug).build()));
  }

  private Arbitrary<HostileCall> listTenants() {
    Arbitrary<ListTenantsRequest> badSize = badPageSizes()
        .map(size -> ListTenantsRequest.newBuilder().setPageSize(size).build());
    Arbitrary<ListTenantsRequest> badToken = forgedTokens("tenants")
        .map(token -> ListTenantsRequest.newBuilder().setPageToken(token).build());
    return Arbitraries.oneOf(badSize, badToken).map(r -> call("silo.v1.TenantService/ListTenants", r));
  }

  private Arbitrary<HostileCall> createKey() {
    Arbitrary<CreateTenantKeyRequest> badTenant = Arbitraries.oneOf(badSlugs(), freshSlugs())
        .map(t -> CreateTenantKeyRequest.newBuilder().setTenant(t).build());
    Arbitrary<CreateTenantKeyRequest> badMasterKey = Combinators.combine(Arbitraries.of(VICTIM, OWNER),
            badMasterKeys())
        .as((t, mk) -> CreateTenantKeyRequest.newBuilder().setTenant(t).setMasterKey(mk).build());
    Arbitrary<CreateTenantKeyRequest> descriptorOnly = anyText().map(json -> CreateTenantKeyRequest.newBuilder()
        .setTenant(OWNER).setMasterKey(MasterKey.newBuilder().setDescriptorJson("{" + json)).build());
    return Arbitraries.oneOf(badTenant, badMasterKey, descriptorOnly)
        .map(r -> call("silo.v1.KeyService/CreateTenantKey", r));
  }

  private Arbitrary<HostileCall> listKeys() {
    // An empty tenant filter is valid here (every tenant), so it would be answered OK.
    Arbitrary<ListTenantKeysRequest> badTenant = badSlugs().filter(t -> !t.isEmpty())
        .map(t -> ListTenantKeysRequest.newBuilder().setTenant(t).build());
    Arbitrary<ListTenantKeysRequest> badSize = badPageSizes()
        .map(size -> ListTenantKeysRequest.newBuilder().setPageSize(size).build());
    Arbitrary<ListTenantKeysRequest> badToken = forgedTokens("keys")
        .map(token -> ListTenantKeysRequest.newBuilder().setPageToken(token).build());
    return Arbitraries.oneOf(badTenant, badSize, badToken).map(r -> call("silo.v1.KeyService/ListTenantKeys", r));
  }

  private Arbitrary<HostileCall> rotateKey() {
    Arbitrary<RotateTenantKeyRequest> badTenant = badSlugs().map(t -> RotateTenantKeyRequest.newBuilder()
        .setTenant(t).setNewMasterKey(MasterKey.newBuilder().setProvider("local:2026")).build());
    Arbitrary<RotateTenantKeyRequest> noKey = Arbitraries.of(VICTIM, OWNER)
        .map(t -> RotateTenantKeyRequest.newBuilder().setTenant(t).build());
    Arbitrary<RotateTenantKeyRequest> badKey = Combinators.combine(Arbitraries.of(VICTIM, OWNER), badMasterKeys())
        .as((t, mk) -> RotateTenantKeyRequest.newBuilder().setTenant(t).setNewMasterKey(mk).build());
    Arbitrary<RotateTenantKeyRequest> noProvider = anyText().map(json -> RotateTenantKeyRequest.newBuilder()
        .setTenant(VICTIM).setNewMasterKey(MasterKey.newBuilder().setDescriptorJson(json)).build());
    return Arbitraries.oneOf(badTenant, noKey, badKey, noProvider)
        .map(r -> call("silo.v1.KeyService/RotateTenantKey", r));
  }

  private Arbitrary<HostileCall> shredKey() {
    Arbitrary<ShredTenantKeyRequest> noConfirm = Arbitraries.of(VICTIM, OWNER, LOOKALIKE)
        .map(t -> ShredTenantKeyRequest.newBuilder().setTenant(t).build());
    Arbitrary<ShredTenantKeyRequest> wrongConfirm = Arbitraries.oneOf(badSlugs(), freshSlugs(), Arbitraries.of(OWNER,
            LOOKALIKE, "FZ-VICTIM", VICTIM + " ", VICTIM + "\u0000"))
        .map(c -> ShredTenantKeyRequest.newBuilder().setTenant(VICTIM).setConfirm(c).build());
    Arbitrary<ShredTenantKeyRequest> badTenant = badSlugs()
        .map(t -> ShredTenantKeyRequest.newBuilder().setTenant(t).setConfirm(t).build());
    return Arbitraries.oneOf(noConfirm, wrongConfirm, badTenant)
        .map(r -> call("silo.v1.KeyService/ShredTenantKey", r));
  }

  private Arbitrary<HostileCall> planMigration() {
    Arbitrary<PlanMigrationRequest> badDefinition = badDefinitions()
        .map(d -> PlanMigrationRequest.newBuilder().addTenants(LOOKALIKE).setDefinition(d).build());
    Arbitrary<PlanMigrationRequest> badTenants = badTenantLists()
        .map(list -> PlanMigrationRequest.newBuilder().addAllTenants(list).build());
    Arbitrary<PlanMigrationRequest> both = Arbitraries.of(true).map(x -> PlanMigrationRequest.newBuilder()
        .setAllTenants(true).addTenants(VICTIM).build());
    return Arbitraries.oneOf(badDefinition, badTenants, both).map(r -> call("silo.v1.MigrationService/PlanMigration", r));
  }

  private Arbitrary<HostileCall> startMigration() {
    Arbitrary<StartMigrationRequest> badDefinition = Combinators.combine(badDefinitions(),
            Arbitraries.of(VICTIM, LOOKALIKE), Arbitraries.of(true, false))
        .as((d, t, all) -> (all ? StartMigrationRequest.newBuilder().setAllTenants(true)
            : StartMigrationRequest.newBuilder().addTenants(t)).setDefinition(d).build());
    Arbitrary<StartMigrationRequest> badTenants = badTenantLists()
        .map(list -> StartMigrationRequest.newBuilder().addAllTenants(list).build());
    Arbitrary<StartMigrationRequest> badKey = badIdempotencyKeys()
        .map(key -> StartMigrationRequest.newBuilder().addTenants(LOOKALIKE).setIdempotencyKey(key).build());
    Arbitrary<StartMigrationRequest> nothing = Arbitraries.of(StartMigrationRequest.getDefaultInstance(),
        StartMigrationRequest.newBuilder().setAllTenants(true).addTenants(OWNER).build());
    return Arbitraries.oneOf(badDefinition, badTenants, badKey, nothing)
        .map(r -> call("silo.v1.MigrationService/StartMigration", r));
  }

  private Arbitrary<HostileCall> watchMigration() {
    Arbitrary<WatchMigrationRequest> badSelectors = Combinators.combine(Arbitraries.of(true, false),
            Arbitraries.of("", VICTIM), Arbitraries.of("", UUID.randomUUID().toString()))
        .as((all, tenant, id) -> WatchMigrationRequest.newBuilder().setAll(all).setTenant(tenant).setMigrationId(id))
        .filter(b -> (b.getAll() ? 1 : 0) + (b.getTenant().isEmpty() ? 0 : 1) + (b.getMigrationId().isEmpty() ? 0 : 1) != 1)
        .map(WatchMigrationRequest.Builder::build);
    Arbitrary<WatchMigrationRequest> badId = badIds()
        .map(id -> WatchMigrationRequest.newBuilder().setMigrationId(id).build());
    Arbitrary<WatchMigrationRequest> badTenant = Arbitraries.oneOf(badSlugs(), freshSlugs())
        .map(t -> WatchMigrationRequest.newBuilder().setTenant(t).build());
    Arbitrary<WatchMigrationRequest> badInterval = badDurations()
        .map(d -> WatchMigrationRequest.newBuilder().setAll(true).setMinInterval(d).build());
    return Arbitraries.oneOf(badSelectors, badId, badTenant, badInterval)
        .map(r -> call("silo.v1.MigrationService/WatchMigration", r));
  }

  private Arbitrary<HostileCall> migrationById() {
    return Combinators.combine(Arbitraries.of("GetMigration", "PauseMigration", "ResumeMigration", "CancelMigration"),
        badIds()).as((method, id) -> {
          Message request = switch (method) {
            case "GetMigration" -> GetMigrationRequest.newBuilder().setMigrationId(id).build();
            case "PauseMigration" -> PauseMigrationRequest.newBuilder().setMigrationId(id).build();
            case "ResumeMigration" -> ResumeMigrationRequest.newBuilder().setMigrationId(id).build();
            default -> CancelMigrationRequest.newBuilder().setMigrationId(id).build();
          };
          return call("silo.v1.MigrationService/" + method, request);
        });
  }

  private Arbitrary<HostileCall> listMigrations() {
    // An empty tenant filter is valid here (every tenant), so it would be answered OK.
    Arbitrary<ListMigrationsRequest> badTenant = badSlugs().filter(t -> !t.isEmpty())
        .map(t -> ListMigrationsRequest.newBuilder().setTenant(t).build());
    Arbitrary<ListMigrationsRequest> badState = Arbitraries.oneOf(Arbitraries.integers().between(9, 100_000),
            Arbitraries.integers().between(Integer.MIN_VALUE, -1), Arbitraries.of(0))
        .map(v -> ListMigrationsRequest.newBuilder().addStatesValue(v).build());
    Arbitrary<ListMigrationsRequest> badSize = badPageSizes()
        .map(size -> ListMigrationsRequest.newBuilder().setPageSize(size).build());
    Arbitrary<ListMigrationsRequest> badToken = forgedTokens("migrations")
        .map(token -> ListMigrationsRequest.newBuilder().setPageToken(token).build());
    return Arbitraries.oneOf(badTenant, badState, badSize, badToken)
        .map(r -> call("silo.v1.MigrationService/ListMigrations", r));
  }

  private Arbitrary<HostileCall> verifyTenant() {
    Arbitrary<VerifyTenantRequest> badTenant = Arbitraries.oneOf(badSlugs(), freshSlugs())
        .map(t -> VerifyTenantRequest.newBuilder().setTenant(t).build());
    Arbitrary<VerifyTenantRequest> badDefinition = Combinators.combine(Arbitraries.of(VICTIM, OWNER, LOOKALIKE),
        badDefinitions()).as((t, d) -> VerifyTenantRequest.newBuilder().setTenant(t).setDefinition(d).build());
    return Arbitraries.oneOf(badTenant, badDefinition).map(r -> call("silo.v1.MigrationService/VerifyTenant", r));
  }

  private Arbitrary<HostileCall> rollback() {
    Arbitrary<RollbackMigrationRequest> badTenant = Arbitraries.oneOf(badSlugs(), freshSlugs())
        .map(t -> RollbackMigrationRequest.newBuilder().setTenant(t).build());
    // Registered tenants that never migrated: nothing to roll back, whatever id is named.
    Arbitrary<RollbackMigrationRequest> noMigration = Combinators.combine(Arbitraries.of(VICTIM, OWNER, LOOKALIKE),
            Arbitraries.oneOf(Arbitraries.of(""), badIds()))
        .as((t, id) -> RollbackMigrationRequest.newBuilder().setTenant(t).setMigrationId(id).build());
    Arbitrary<RollbackMigrationRequest> badKey = badIdempotencyKeys()
        .map(key -> RollbackMigrationRequest.newBuilder().setTenant(LOOKALIKE).setIdempotencyKey(key).build());
    return Arbitraries.oneOf(badTenant, noMigration, badKey)
        .map(r -> call("silo.v1.MigrationService/RollbackMigration", r));
  }

  private Arbitrary<HostileCall> purge() {
    Arbitrary<PurgeSourceRequest> noConfirm = Arbitraries.of(VICTIM, OWNER, LOOKALIKE)
        .map(t -> PurgeSourceRequest.newBuilder().setTenant(t).build());
    // Confirmed, but no verified migration exists: the guard refuses.
    Arbitrary<PurgeSourceRequest> unverified = Arbitraries.of(VICTIM, OWNER, LOOKALIKE)
        .map(t -> PurgeSourceRequest.newBuilder().setTenant(t).setConfirm(t).build());
    Arbitrary<PurgeSourceRequest> badTenant = badSlugs()
        .map(t -> PurgeSourceRequest.newBuilder().setTenant(t).setConfirm(t).build());
    return Arbitraries.oneOf(noConfirm, unverified, badTenant).map(r -> call("silo.v1.MigrationService/PurgeSource", r));
  }

  private Arbitrary<HostileCall> report() {
    Arbitrary<GetCompletionReportRequest> badId = badIds()
        .map(id -> GetCompletionReportRequest.newBuilder().setMigrationId(id).build());
    Arbitrary<GetCompletionReportRequest> badPage = Combinators.combine(badPageSizes(), forgedTokens("report"))
        .as((size, token) -> GetCompletionReportRequest.newBuilder().setMigrationId(UUID.randomUUID().toString())
            .setPageSize(size).setPageToken(token).build());
    return Arbitraries.oneOf(badId, badPage).map(r -> call("silo.v1.MigrationService/GetCompletionReport", r));
  }

  private Arbitrary<HostileCall> healthOfUnknownService() {
    return anyText().map(name -> new HostileCall("grpc.health.v1.Health/Check", false,
        HealthCheckRequest.newBuilder().setService("fz." + name).build().toByteArray(), "unknown service"));
  }

  private Arbitrary<HostileCall> usage() {
    return Arbitraries.oneOf(badSlugs(), freshSlugs()).map(t ->
        call("silo.v1.UsageService/GetTenantUsage", GetTenantUsageRequest.newBuilder().setTenant(t).build()));
  }

  private Arbitrary<HostileCall> listAuditEvents() {
    Arbitrary<ListAuditEventsRequest> badTenant = badSlugs().filter(t -> !t.isEmpty())
        .map(t -> ListAuditEventsRequest.newBuilder().setTenant(t).build());
    Arbitrary<ListAuditEventsRequest> badSize = badPageSizes()
        .map(size -> ListAuditEventsRequest.newBuilder().setPageSize(size).build());
    Arbitrary<ListAuditEventsRequest> badToken = forgedTokens("audit")
        .map(token -> ListAuditEventsRequest.newBuilder().setPageToken(token).build());
    // Outside google.protobuf.Timestamp's range (0001-01-01 to 9999-12-31) or with nanos outside 0-999,999,999.
    Arbitrary<ListAuditEventsRequest> badSince = Arbitraries.oneOf(
        Arbitraries.longs().between(253_402_300_800L, Long.MAX_VALUE).map(sec -> Timestamp.newBuilder().setSeconds(sec)),
        Arbitraries.longs().between(Long.MIN_VALUE, -62_135_596_801L).map(sec -> Timestamp.newBuilder().setSeconds(sec)),
        Arbitraries.oneOf(Arbitraries.integers().between(Integer.MIN_VALUE, -1),
            Arbitraries.integers().between(1_000_000_000, Integer.MAX_VALUE)).map(n -> Timestamp.newBuilder().setNanos(n)))
        .map(since -> ListAuditEventsRequest.newBuilder().setSince(since).build());
    return Arbitraries.oneOf(badTenant, badSize, badToken, badSince)
        .map(r -> call("silo.v1.AuditService/ListAuditEvents", r));
  }

  /**
   * JSON bodies of the wrong shape: wrong types, unknown fields and enum names, out-of-range numbers, or not JSON.
   * Each is chosen so that no lenient reading of it makes a valid request: protobuf's JSON parser takes a number, and
   * even a one-element array, for a string (so {@code "confirm": ["fz-victim"]} would confirm a shred).
   */
  private Arbitrary<HostileCall> jsonCalls() {
    Arbitrary<String[]> bodies = Arbitraries.of(
        new String[] {"silo.v1.TenantService/GetTenant", "{\"slug\": {\"a\": 1}}"},
        new String[] {"silo.v1.TenantService/GetTenant", "{\"slug\": 12}"},
        new String[] {"silo.v1.TenantService/RegisterTenant", "{\"slug\": \"fz-json\", \"displayName\": {}}"},
        new String[] {"silo.v1.TenantService/RegisterTenant", "{\"slug\": [\"fz-json\", \"x\"], \"displayName\": \"X\"}"},
        new String[] {"silo.v1.TenantService/RegisterTenant", "{\"slug\": true, \"displayName\": {}}"},
        new String[] {"silo.v1.TenantService/RegisterTenant", "{\"slug\": \"fz-json\", \"displayName\": \"\\u202Eevil\"}"},
        new String[] {"silo.v1.TenantService/ListTenants", "{\"pageSize\": \"many\"}"},
        new String[] {"silo.v1.TenantService/ListTenants", "{\"pageSize\": 3.5}"},
        new String[] {"silo.v1.TenantService/ListTenants", "{\"pageSize\": 1e40}"},
        new String[] {"silo.v1.TenantService/ListTenants", "{\"pageSize\": -7}"},
        new String[] {"silo.v1.TenantService/ListTenants", "{\"pageToken\": {}}"},
        new String[] {"silo.v1.MigrationService/ListMigrations", "{\"states\": [\"MIGRATION_STATE_NOPE\"]}"},
        new String[] {"silo.v1.MigrationService/ListMigrations", "{\"states\": [99]}"},
        new String[] {"silo.v1.MigrationService/StartMigration", "{\"tenants\": [\"tenant-fz-victim\"], "
            + "\"definition\": {\"batchSize\": \"lots\"}}"},
        new String[] {"silo.v1.MigrationService/StartMigration", "{\"tenants\": [\"tenant-fz-victim\"], "
            + "\"definition\": {\"fields\": [{\"path\": \"ssn\", \"algorithm\": \"ROT13\"}]}}"},
        new String[] {"silo.v1.MigrationService/StartMigration", "{\"tenants\": [\"tenant-fz-victim\"], "
            + "\"definition\": {\"targetNamespace\": \"encryption.__keyVault\", \"tenantField\": \"keyAltNames\"}}"},
        new String[] {"silo.v1.MigrationService/StartMigration", "{\"allTenants\": \"yes\"}"},
        new String[] {"silo.v1.MigrationService/PlanMigration", "{\"tenants\": [{\"slug\": \"fz-victim\"}]}"},
        new String[] {"silo.v1.MigrationService/WatchMigration", "{\"all\": true, \"minInterval\": \"-1s\"}"},
        new String[] {"silo.v1.MigrationService/WatchMigration", "{\"all\": true, \"minInterval\": 5}"},
        new String[] {"silo.v1.MigrationService/WatchMigration", "{\"all\": true, \"minInterval\": \"99999999999999s\"}"},
        new String[] {"silo.v1.MigrationService/VerifyTenant", "{\"tenant\": \"fz-victim\", \"definition\": "
            + "{\"tenantField\": \"_id\"}}"},
        new String[] {"silo.v1.MigrationService/VerifyTenant", "{\"tenant\": 5}"},
        new String[] {"silo.v1.MigrationService/GetMigration", "{\"migrationId\": 1e999}"},
        new String[] {"silo.v1.MigrationService/PurgeSource", "{\"tenant\": \"fz-victim\", \"confirm\": null}"},
        new String[] {"silo.v1.KeyService/ShredTenantKey", "{\"tenant\": \"fz-victim\"}"},
        new String[] {"silo.v1.KeyService/RotateTenantKey", "{\"tenant\": \"fz-victim\", \"newMasterKey\": \"local\"}"},
        new String[] {"silo.v1.TenantService/GetTenant", "{"},
        new String[] {"silo.v1.TenantService/ListTenants", "[1, 2]"},
        new String[] {"silo.v1.KeyService/ListTenantKeys", "\"keys\""});
    return bodies.map(b -> new HostileCall(b[0], false, b[1].getBytes(StandardCharsets.UTF_8), "json " + b[1], true));
  }

  /** A call in gRPC JSON over HTTP/2, read back as a status from the headers (trailers-only) or the trailers. */
  private static Status jsonCall(String method, byte[] json) throws Exception {
    Buffer frame = Buffer.buffer().appendByte((byte) 0).appendInt(json.length).appendBytes(json);
    RequestOptions options = new RequestOptions().setMethod(HttpMethod.POST).setHost("127.0.0.1")
        .setPort(server.server.port()).setURI("/" + method).putHeader("content-type", "application/grpc+json")
        .putHeader("te", "trailers");
    return RawGrpc.onContext(server.vertx, () -> h2.request(options).compose(req -> req.send(frame))
        .compose(resp -> resp.body().map(body -> {
      String code = resp.getHeader("grpc-status");
      String message = resp.getHeader("grpc-message");
      if (code == null) {
        code = resp.getTrailer("grpc-status");
        message = resp.getTrailer("grpc-message");
      }
      if (code == null) {
        return Status.UNKNOWN.withDescription("no grpc-status (HTTP " + resp.statusCode() + ")");
      }
      return Status.fromCodeValue(Integer.parseInt(code)).withDescription(message == null ? null
          : percentDecode(message));
    })), 20);
  }

  private static String percentDecode(String text) {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c == '%' && i + 2 < text.length()) {
        out.write(Integer.parseInt(text.substring(i + 1, i + 3), 16));
        i += 2;
      } else {
        out.write(c);
      }
    }
    return out.toString(StandardCharsets.UTF_8);
  }

  // ---------------------------------------------------------------- hostile values

  /** Unicode text, mostly short, sometimes huge, including controls, NUL, bidi and unpaired surrogates. */
  private static Arbitrary<String> anyText() {
    return Arbitraries.oneOf(
        Arbitraries.strings().all().ofMaxLength(40),
        Arbitraries.strings().withChars('\u0000', '\u202E', '\u2066', '\u200B', '\uFEFF', '\n', 'a', '%')
            .ofMaxLength(20),
        Arbitraries.strings().ascii().ofMinLength(1000).ofMaxLength(20_000),
        Arbitraries.of("", " ", "\u0000", "'; DROP TABLE tenants; --", "{\"$gt\": \"\"}", "../../etc/passwd"));
  }

  /** Text with something in it that no valid value of the field may contain. */
  private static Arbitrary<String> poisoned(Arbitrary<String> base) {
    return Combinators.combine(base, Arbitraries.of("\u0000", "\u202E", "\u2066", "\u200B", "\uFEFF", "\u0007",
            "\u2028"), Arbitraries.integers().between(0, 1000))
        .as((text, poison, at) -> {
          int i = Math.min(at, text.length());
          if (i > 0 && i < text.length() && Character.isLowSurrogate(text.charAt(i))) {
            i--;
          }
          return text.substring(0, i) + poison + text.substring(i);
        });
  }

  /** Slugs that break a rule: length, case, characters, hyphens, invisible characters. */
  private static Arbitrary<String> badSlugs() {
    return Arbitraries.oneOf(
        Arbitraries.of("", "a", "ab", "-abc", "abc-", "ABC-CO", "acme_co", "acme co", "caf\u00e9-co", "x".repeat(41),
            "x".repeat(9000), "fz-victim\u0000", "\u202Efz-victim", "fz-vict\u0131m"),
        poisoned(Arbitraries.strings().withCharRange('a', 'z').ofMinLength(3).ofMaxLength(40)),
        Arbitraries.strings().withCharRange('a', 'z').ofMinLength(41).ofMaxLength(300),
        Arbitraries.strings().withCharRange('A', 'Z').ofMinLength(3).ofMaxLength(40));
  }

  /** Valid slugs nobody registered. */
  private static Arbitrary<String> freshSlugs() {
    return Arbitraries.strings().withCharRange('a', 'z').ofMinLength(3).ofMaxLength(30).map(s -> "fz-ghost-" + s);
  }

  private static Arbitrary<String> badDisplayNames() {
    return Arbitraries.oneOf(
        Arbitraries.of("", " ", "\t", " Acme", "Acme ", "x".repeat(201)),
        poisoned(Arbitraries.strings().alpha().ofMinLength(1).ofMaxLength(50)),
        Arbitraries.strings().alpha().ofMinLength(201).ofMaxLength(5000));
  }

  private static Arbitrary<String> badIdempotencyKeys() {
    return Arbitraries.oneOf(Arbitraries.strings().alpha().ofMinLength(129).ofMaxLength(10_000),
        poisoned(Arbitraries.strings().alpha().ofMaxLength(20)));
  }

  /** Migration ids that are not canonical UUIDs, and canonical ones of no migration. */
  private static Arbitrary<String> badIds() {
    return Arbitraries.oneOf(
        anyText().filter(s -> !s.isEmpty()),
        Arbitraries.of("1-2-3-4-5", "00000000-0000-0000-0000-00000000000", UUID.randomUUID().toString().toUpperCase()
            + "0", "x".repeat(200_000)),
        Arbitraries.create(UUID::randomUUID).map(UUID::toString));
  }

  /** Master keys with a provider or descriptor that is too long or holds control or invisible characters. */
  private static Arbitrary<MasterKey> badMasterKeys() {
    return Arbitraries.oneOf(
        Arbitraries.strings().alpha().ofMinLength(65).ofMaxLength(1000)
            .map(p -> MasterKey.newBuilder().setProvider(p).build()),
        poisoned(Arbitraries.strings().alpha().ofMinLength(1).ofMaxLength(20))
            .map(p -> MasterKey.newBuilder().setProvider(p).build()),
        Arbitraries.strings().ascii().ofMinLength(4097).ofMaxLength(10_000)
            .map(d -> MasterKey.newBuilder().setProvider("local").setDescriptorJson(d).build()),
        poisoned(Arbitraries.strings().alpha().ofMaxLength(50))
            .map(d -> MasterKey.newBuilder().setProvider("local").setDescriptorJson(d).build()));
  }

  private static Arbitrary<Integer> badPageSizes() {
    return Arbitraries.oneOf(Arbitraries.integers().between(Integer.MIN_VALUE, -1),
        Arbitraries.integers().between(1001, Integer.MAX_VALUE), Arbitraries.of(Integer.MIN_VALUE, -1, 1001,
            Integer.MAX_VALUE));
  }

  /** Page tokens of the right kind with a key of the wrong shape, of another kind, or not base64 at all. */
  private static Arbitrary<String> forgedTokens(String kind) {
    Arbitrary<String> badKeys = Arbitraries.oneOf(poisoned(Arbitraries.strings().alpha().ofMaxLength(30)),
        // 41 nines: one past the longest slug. Forty would be a well-formed tenant cursor (a valid, empty position).
        Arbitraries.of("../../x", "ZZZ", "-1", "2026-01-01T00:00Z|not-a-uuid", "tenant-UPPER", "9".repeat(41),
            "zz'; DROP TABLE tenants; --"));
    return Arbitraries.oneOf(
        badKeys.map(key -> Validation.encodePageToken(kind, key)),
        Arbitraries.strings().alpha().ofMinLength(1).ofMaxLength(30)
            .map(key -> Validation.encodePageToken(kind.equals("tenants") ? "keys" : "tenants", key)),
        Arbitraries.strings().withChars("!@#$%^&*()\u0000\u00e9").ofMinLength(1).ofMaxLength(40),
        Arbitraries.strings().alpha().ofMinLength(600).ofMaxLength(5000),
        Arbitraries.bytes().array(byte[].class).ofMinSize(1).ofMaxSize(60)
            .map(b -> Base64.getUrlEncoder().withoutPadding().encodeToString(b)));
  }

  private static Arbitrary<Duration> badDurations() {
    return Arbitraries.oneOf(
        Arbitraries.longs().between(Long.MIN_VALUE, -1).map(s -> Duration.newBuilder().setSeconds(s).build()),
        Arbitraries.longs().between(61, Long.MAX_VALUE).map(s -> Duration.newBuilder().setSeconds(s).build()),
        Arbitraries.integers().between(1_000_000_000, Integer.MAX_VALUE)
            .map(n -> Duration.newBuilder().setNanos(n).build()),
        Arbitraries.integers().between(Integer.MIN_VALUE, -1).map(n -> Duration.newBuilder().setNanos(n).build()),
        Arbitraries.integers().between(-999_999_999, -1)
            .map(n -> Duration.newBuilder().setSeconds(1).setNanos(n).build()));
  }

  /** Tenant lists with a bad slug, an unregistered one, or more than the limit. */
  private static Arbitrary<List<String>> badTenantLists() {
    Arbitrary<List<String>> withBad = Combinators.combine(Arbitraries.of(VICTIM, OWNER, LOOKALIKE).list()
            .ofMaxSize(5), Arbitraries.oneOf(badSlugs(), freshSlugs()), Arbitraries.integers().between(0, 5))
        .as((good, bad, at) -> {
          List<String> out = new ArrayList<>(good);
          out.add(Math.min(at, out.size()), bad);
          return out;
        });
    Arbitrary<List<String>> tooMany = Arbitraries.integers().between(1001, 12_000).map(n -> {
      List<String> out = new ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        out.add("fz-many-" + i);
      }
      return out;
    });
    return Arbitraries.frequencyOf(net.jqwik.api.Tuple.of(9, withBad), net.jqwik.api.Tuple.of(1, tooMany));
  }

  /** Definitions with at least one thing a migration must never do, on top of random other overrides. */
  private static Arbitrary<MigrationDefinition> badDefinitions() {
    Arbitrary<String> forbiddenNamespaces = Arbitraries.oneOf(
        Arbitraries.of("encryption.__keyVault", "ENCRYPTION.__keyVault", "admin.system_users", "admin.patients",
            "config.x", "local.oplog_rs", "Local.x", "legacy", ".patients", "legacy.", "legacy.system.users",
            "legacy.$cmd", "a b.c", "x".repeat(70) + ".c"),
        poisoned(Arbitraries.strings().withCharRange('a', 'z').ofMinLength(1).ofMaxLength(10).map(s -> s + ".c")));
    Arbitrary<MigrationDefinition.Builder> namespaces = Combinators.combine(forbiddenNamespaces,
            Arbitraries.of(true, false))
        .as((ns, asSource) -> asSource ? MigrationDefinition.newBuilder().setSourceNamespace(ns)
            : MigrationDefinition.newBuilder().setTargetNamespace(ns).setTenantField("keyAltNames"));
    Arbitrary<MigrationDefinition.Builder> same = Arbitraries.of("legacy.patients", "medical.patients")
        .map(ns -> MigrationDefinition.newBuilder().setSourceNamespace(ns).setTargetNamespace(ns));
    Arbitrary<MigrationDefinition.Builder> tenantField = Arbitraries.oneOf(
            Arbitraries.of("_id", "_id.x", "$where", "a..b", ".a", "a.", "ssn"), poisoned(Arbitraries.strings().alpha()
                .ofMinLength(1).ofMaxLength(10)))
        .map(f -> MigrationDefinition.newBuilder().setTenantField(f)
            .addFields(FieldPlan.newBuilder().setPath("ssn").setAlgorithmValue(1).setBsonType("string")));
    Arbitrary<MigrationDefinition.Builder> fields = Arbitraries.oneOf(badFieldPlans().list().ofMinSize(1).ofMaxSize(4),
            Arbitraries.integers().between(201, 3000).map(HostileRequestFuzzTest::manyFields))
        .map(list -> MigrationDefinition.newBuilder().addAllFields(list));
    Arbitrary<MigrationDefinition.Builder> batch = Arbitraries.oneOf(Arbitraries.integers().between(Integer.MIN_VALUE,
            -1), Arbitraries.integers().between(10_001, Integer.MAX_VALUE))
        .map(b -> MigrationDefinition.newBuilder().setBatchSize(b));
    // Phase selections that name no data phase, a phase that is not a work phase, or an unknown one.
    Arbitrary<MigrationDefinition.Builder> s3 = Arbitraries.oneOf(
        Arbitraries.of(List.of(MigrationPhase.MIGRATION_PHASE_KEYS), List.of(MigrationPhase.MIGRATION_PHASE_VERIFY),
                List.of(MigrationPhase.MIGRATION_PHASE_S3, MigrationPhase.MIGRATION_PHASE_DONE),
                List.of(MigrationPhase.MIGRATION_PHASE_UNSPECIFIED, MigrationPhase.MIGRATION_PHASE_MONGO))
            .map(list -> MigrationDefinition.newBuilder().addAllPhases(list)),
        Arbitraries.integers().between(6, Integer.MAX_VALUE).map(n -> MigrationDefinition.newBuilder()
            .addPhasesValue(n).setIncludeS3(true)));
    return Arbitraries.oneOf(namespaces, same, tenantField, fields, batch, s3).map(MigrationDefinition.Builder::build);
  }

  /** Field plans each breaking a rule: path, algorithm (including unknown enum values) or bsonType. */
  private static Arbitrary<FieldPlan> badFieldPlans() {
    Arbitrary<FieldPlan> badPath = Arbitraries.oneOf(Arbitraries.of("", "_id", "_id.x", "$set", "a..b", "tenantId",
            "tenantId.x", "x".repeat(200)), poisoned(Arbitraries.strings().alpha().ofMinLength(1).ofMaxLength(10)))
        .map(p -> FieldPlan.newBuilder().setPath(p).setAlgorithmValue(2).setBsonType("string").build());
    Arbitrary<FieldPlan> badAlgorithm = Arbitraries.oneOf(Arbitraries.of(0), Arbitraries.integers().between(3, 1000),
            Arbitraries.integers().between(Integer.MIN_VALUE, -1))
        .map(a -> FieldPlan.newBuilder().setPath("ssn").setAlgorithmValue(a).setBsonType("string").build());
    Arbitrary<FieldPlan> badType = Arbitraries.oneOf(Arbitraries.of("", "null", "undefined", "minKey", "maxKey",
            "javascriptWithScope", "symbol", "dbPointer", "STRING", "uuid"), anyText())
        .filter(t -> !List.of("string", "int", "long", "double", "decimal", "bool", "date", "objectId", "binData",
            "object", "array", "timestamp", "regex", "javascript").contains(t))
        .map(t -> FieldPlan.newBuilder().setPath("ssn").setAlgorithmValue(2).setBsonType(t).build());
    Arbitrary<FieldPlan> notDeterministic = Arbitraries.of("double", "decimal", "bool", "object", "array")
        .map(t -> FieldPlan.newBuilder().setPath("ssn").setAlgorithmValue(1).setBsonType(t).build());
    return Arbitraries.oneOf(badPath, badAlgorithm, badType, notDeterministic);
  }

  private static List<FieldPlan> manyFields(int n) {
    List<FieldPlan> out = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      out.add(FieldPlan.newBuilder().setPath("f" + i).setAlgorithmValue(2).setBsonType("string").build());
    }
    return out;
  }

  /** Ways to make a message's bytes undecodable: a field of tag 0, a length past the end, a cut varint. */
  private static Arbitrary<Integer> malformations() {
    return Arbitraries.integers().between(0, 3);
  }

  private static HostileCall broken(HostileCall call, int how) {
    byte[] body = call.body();
    byte[] out = switch (how) {
      case 0 -> append(body, new byte[] {0x00});
      case 1 -> append(body, new byte[] {0x0A, 0x7F, 0x01});
      case 2 -> append(body, new byte[] {0x08, (byte) 0xFF, (byte) 0xFF});
      default -> append(new byte[] {0x0F}, body);
    };
    return new HostileCall(call.method(), call.streaming(), out, "malformed(" + how + ") " + call.what());
  }

  private static byte[] append(byte[] a, byte[] b) {
    byte[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }
}
