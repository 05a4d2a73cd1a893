package io.silo.auth;

import static io.silo.auth.AuthTestSupport.ADMIN;
import static io.silo.auth.AuthTestSupport.OPERATOR;
import static io.silo.auth.AuthTestSupport.OTHER;
import static io.silo.auth.AuthTestSupport.OWN;
import static io.silo.auth.AuthTestSupport.SCOPED;
import static io.silo.auth.AuthTestSupport.VIEWER;
import static io.silo.auth.AuthTestSupport.as;
import static io.silo.auth.AuthTestSupport.statusOf;
import static org.assertj.core.api.Assertions.assertThat;

import com.mongodb.client.MongoClient;
import com.mongodb.client.model.Sorts;
import io.grpc.Channel;
import io.grpc.Status;
import io.silo.TestServer;
import io.silo.api.v1.AuditServiceGrpc;
import io.silo.api.v1.CancelMigrationRequest;
import io.silo.api.v1.CreateTenantKeyRequest;
import io.silo.api.v1.GetCompletionReportRequest;
import io.silo.api.v1.GetDocumentUrlRequest;
import io.silo.api.v1.GetMigrationRequest;
import io.silo.api.v1.GetTenantRequest;
import io.silo.api.v1.GetTenantUsageRequest;
import io.silo.api.v1.GetUploadUrlRequest;
import io.silo.api.v1.KeyServiceGrpc;
import io.silo.api.v1.ListAuditEventsRequest;
import io.silo.api.v1.ListMigrationStatusRequest;
import io.silo.api.v1.ListMigrationsRequest;
import io.silo.api.v1.ListTenantKeysRequest;
import io.silo.api.v1.ListTenantsRequest;
import io.silo.api.v1.ListUsageRequest;
import io.silo.api.v1.MasterKey;
import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationServiceGrpc;
import io.silo.api.v1.PauseMigrationRequest;
import io.silo.api.v1.PlanMigrationRequest;
import io.silo.api.v1.PurgeSourceRequest;
import io.silo.api.v1.ReconcileUsageRequest;
import io.silo.api.v1.RegisterTenantRequest;
import io.silo.api.v1.ResumeMigrationRequest;
import io.silo.api.v1.RollbackMigrationRequest;
import io.silo.api.v1.RotateTenantKeyRequest;
import io.silo.api.v1.ShredTenantKeyRequest;
import io.silo.api.v1.StartMigrationRequest;
import io.silo.api.v1.TenantServiceGrpc;
import io.silo.api.v1.UsageServiceGrpc;
import io.silo.api.v1.VerifyTenantRequest;
import io.silo.api.v1.WatchMigrationRequest;
import io.silo.jobs.MigrationFixture;
import io.silo.store.AppDatabase;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.bson.BsonDocument;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.TestInstance;

/**
 * Every RPC of TenantService, KeyService, MigrationService, UsageService and AuditService, called with no token, a
 * bad token, a viewer, an operator, an admin, and an operator limited to one tenant acting on its own tenant and on
 * another: allowed calls get past authorization (any other status is fine), refused ones get UNAUTHENTICATED or
 * PERMISSION_DENIED with a message and change nothing in PostgreSQL or MongoDB.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class AuthorizationMatrixTest {

  private static final String SOURCE = "legacy.patients";
  private static final String TARGET = "medical.patients";

  private TestServer server;
  private MongoClient mongo;
  private Path keyDir;
  private final Map<String, String> migrationOf = new HashMap<>();
  private final AtomicInteger fresh = new AtomicInteger();

  /** Who calls, with which token, about which tenant. */
  enum Caller {
    NO_TOKEN(null, OWN),
    BAD_TOKEN("not-a-real-token", OWN),
    VIEWER_ROLE(VIEWER, OWN),
    OPERATOR_ROLE(OPERATOR, OWN),
    ADMIN_ROLE(ADMIN, OWN),
    SCOPED_OPERATOR_OWN_TENANT(SCOPED, OWN),
    SCOPED_OPERATOR_OTHER_TENANT(SCOPED, OTHER);

    final String token;
    final String tenant;

    Caller(String token, String tenant) {
      this.token = token;
      this.tenant = tenant;
    }
  }

  /** What one call names: its tenant, that tenant's migration, and a slug nobody registered yet. */
  record Target(String tenant, String migrationId, String unusedSlug) {
  }

  /** One RPC: the least role it needs, whether its request names a tenant the scope applies to, and the call. */
  record Rpc(String name, Role required, boolean namesTenant, java.util.function.BiConsumer<Channel, Target> call) {
  }

  private static final Duration CALL = Duration.ofSeconds(30);

  private static List<Rpc> rpcs() {
    List<Rpc> out = new ArrayList<>();
    // TenantService
    out.add(new Rpc("TenantService/RegisterTenant", Role.ADMIN, true, (ch, t) -> tenants(ch).registerTenant(
        RegisterTenantRequest.newBuilder().setSlug(t.unusedSlug()).setDisplayName("New").build())));
    out.add(new Rpc("TenantService/GetTenant", Role.VIEWER, true, (ch, t) -> tenants(ch).getTenant(
        GetTenantRequest.newBuilder().setSlug(t.tenant()).build())));
    out.add(new Rpc("TenantService/ListTenants", Role.VIEWER, false, (ch, t) -> tenants(ch).listTenants(
        ListTenantsRequest.getDefaultInstance())));
    // KeyService
    out.add(new Rpc("KeyService/CreateTenantKey", Role.ADMIN, true, (ch, t) -> keys(ch).createTenantKey(
        CreateTenantKeyRequest.newBuilder().setTenant(t.tenant()).build())));
    out.add(new Rpc("KeyService/ListTenantKeys", Role.VIEWER, true, (ch, t) -> keys(ch).listTenantKeys(
        ListTenantKeysRequest.newBuilder().setTenant(t.tenant()).build())));
    out.add(new Rpc("KeyService/RotateTenantKey", Role.ADMIN, true, (ch, t) -> keys(ch).rotateTenantKey(
        RotateTenantKeyRequest.newBuilder().setTenant(t.tenant())
            .setNewMasterKey(MasterKey.newBuilder().setProvider("local:2026")).build())));
    // MigrationService
    out.add(new Rpc("MigrationService/PlanMigration", Role.VIEWER, true, (ch, t) -> migrations(ch).planMigration(
        PlanMigrationRequest.newBuilder().addTenants(t.tenant()).build())));
    out.add(new Rpc("MigrationService/StartMigration", Role.OPERATOR, true, (ch, t) -> migrations(ch)
        .startMigration(StartMigrationRequest.newBuilder().addTenants(t.tenant()).build())));
    out.add(new Rpc("MigrationService/WatchMigration", Role.VIEWER, true, (ch, t) -> migrations(ch)
        .watchMigration(WatchMigrationRequest.newBuilder().setMigrationId(t.migrationId()).build())
        .forEachRemaining(event -> { })));
    out.add(new Rpc("MigrationService/GetMigration", Role.VIEWER, true, (ch, t) -> migrations(ch).getMigration(
        GetMigrationRequest.newBuilder().setMigrationId(t.migrationId()).build())));
    out.add(new Rpc("MigrationService/ListMigrations", Role.VIEWER, true, (ch, t) -> migrations(ch)
        .listMigrations(ListMigrationsRequest.newBuilder().setTenant(t.tenant()).build())));
    out.add(new Rpc("MigrationService/PauseMigration", Role.OPERATOR, true, (ch, t) -> migrations(ch)
        .pauseMigration(PauseMigrationRequest.newBuilder().setMigrationId(t.migrationId()).build())));
    out.add(new Rpc("MigrationService/ResumeMigration", Role.OPERATOR, true, (ch, t) -> migrations(ch)
        .resumeMigration(ResumeMigrationRequest.newBuilder().setMigrationId(t.migrationId()).build())));
    out.add(new Rpc("MigrationService/CancelMigration", Role.OPERATOR, true, (ch, t) -> migrations(ch)
        .cancelMigration(CancelMigrationRequest.newBuilder().setMigrationId(t.migrationId()).build())));
    out.add(new Rpc("MigrationService/VerifyTenant", Role.VIEWER, true, (ch, t) -> migrations(ch)
        .verifyTenant(VerifyTenantRequest.newBuilder().setTenant(t.tenant()).build())
        .forEachRemaining(event -> { })));
    out.add(new Rpc("MigrationService/GetCompletionReport", Role.VIEWER, true, (ch, t) -> migrations(ch)
        .getCompletionReport(GetCompletionReportRequest.newBuilder().setMigrationId(t.migrationId()).build())));
    // UsageService
    out.add(new Rpc("UsageService/GetTenantUsage", Role.VIEWER, true, (ch, t) -> usage(ch).getTenantUsage(
        GetTenantUsageRequest.newBuilder().setTenant(t.tenant()).build())));
    out.add(new Rpc("UsageService/ListUsage", Role.VIEWER, false, (ch, t) -> usage(ch).listUsage(
        ListUsageRequest.getDefaultInstance())));
    out.add(new Rpc("UsageService/ListMigrationStatus", Role.VIEWER, false, (ch, t) -> usage(ch)
        .listMigrationStatus(ListMigrationStatusRequest.getDefaultInstance())));
    out.add(new Rpc("UsageService/GetDocumentUrl", Role.OPERATOR, true, (ch, t) -> usage(ch).getDocumentUrl(
        GetDocumentUrlRequest.newBuilder().setTenant(t.tenant()).setDocumentId(1).build())));
    // AuditService
    out.add(new Rpc("AuditService/ListAuditEvents", Role.ADMIN, true, (ch, t) -> AuditServiceGrpc.newBlockingStub(ch)
        .withDeadlineAfter(CALL.toMillis(), TimeUnit.MILLISECONDS).listAuditEvents(
            ListAuditEventsRequest.newBuilder().setTenant(t.tenant()).build())));
    out.add(new Rpc("UsageService/GetUploadUrl", Role.OPERATOR, true, (ch, t) -> usage(ch).getUploadUrl(
        GetUploadUrlRequest.newBuilder().setTenant(t.tenant()).setFilename("scan.pdf").build())));
    out.add(new Rpc("UsageService/ReconcileUsage", Role.ADMIN, true, (ch, t) -> usage(ch).reconcileUsage(
        ReconcileUsageRequest.newBuilder().setTenant(t.tenant()).build())));
    out.add(new Rpc("SessionService/WhoAmI", Role.VIEWER, false, (ch, t) -> io.silo.api.v1.SessionServiceGrpc
        .newBlockingStub(ch).withDeadlineAfter(CALL.toMillis(), TimeUnit.MILLISECONDS)
        .whoAmI(io.silo.api.v1.WhoAmIRequest.getDefaultInstance())));
    // Refused by the server's checks after authorization (no aws provider here): the cell proves who gets that far.
    out.add(new Rpc("KeyService/RetireMasterKey", Role.ADMIN, false, (ch, t) -> keys(ch).retireMasterKey(
        io.silo.api.v1.RetireMasterKeyRequest.newBuilder().setMasterKey(io.silo.api.v1.MasterKey.newBuilder()
            .setProvider("aws").setDescriptorJson("{\"key\": \"alias/none\"}")).setPendingWindowDays(7)
            .setConfirm("alias/none").build())));
    // The destructive ones last, so the calls above meet data that is still there.
    out.add(new Rpc("MigrationService/RollbackMigration", Role.OPERATOR, true, (ch, t) -> migrations(ch)
        .rollbackMigration(RollbackMigrationRequest.newBuilder().setTenant(t.tenant()).build())));
    out.add(new Rpc("MigrationService/PurgeSource", Role.ADMIN, true, (ch, t) -> migrations(ch).purgeSource(
        PurgeSourceRequest.newBuilder().setTenant(t.tenant()).setConfirm(t.tenant()).build())));
    out.add(new Rpc("KeyService/ShredTenantKey", Role.ADMIN, true, (ch, t) -> keys(ch).shredTenantKey(
        ShredTenantKeyRequest.newBuilder().setTenant(t.tenant()).setConfirm(t.tenant()).build())));
    return out;
  }

  private static TenantServiceGrpc.TenantServiceBlockingStub tenants(Channel ch) {
    return TenantServiceGrpc.newBlockingStub(ch).withDeadlineAfter(CALL.toMillis(), TimeUnit.MILLISECONDS);
  }

  private static KeyServiceGrpc.KeyServiceBlockingStub keys(Channel ch) {
    return KeyServiceGrpc.newBlockingStub(ch).withDeadlineAfter(CALL.toMillis(), TimeUnit.MILLISECONDS);
  }

  private static MigrationServiceGrpc.MigrationServiceBlockingStub migrations(Channel ch) {
    return MigrationServiceGrpc.newBlockingStub(ch).withDeadlineAfter(CALL.toMillis(), TimeUnit.MILLISECONDS);
  }

  private static UsageServiceGrpc.UsageServiceBlockingStub usage(Channel ch) {
    return UsageServiceGrpc.newBlockingStub(ch).withDeadlineAfter(CALL.toMillis(), TimeUnit.MILLISECONDS);
  }

  @BeforeAll
  void start() throws Exception {
    keyDir = Files.createTempDirectory("silo-auth-matrix");
    server = TestServer.startWithMongo(Map.of("auth.tokens", AuthTestSupport.TOKENS, "jobs.pollMillis", 100,
        "migration.verifyAfterCopy", false), keyDir);
    mongo = MigrationFixture.plainClient(server);
    Channel admin = as(server.channel, ADMIN);
    for (String tenant : List.of(OWN, OTHER)) {
      tenants(admin).registerTenant(RegisterTenantRequest.newBuilder().setSlug(tenant).setDisplayName(tenant).build());
    }
    MigrationFixture.seed(mongo, SOURCE, 30, OWN, OTHER);
    // The application's documents table, so usage calls reach their data (and a refused reconcile could change it).
    AppDatabase app = AppDatabase.installedIn(server.settings);
    try (java.sql.Connection c = app.connect()) {
      for (String tenant : List.of(OWN, OTHER)) {
        long id = ((Number) server.queryOne("SELECT id FROM tenants WHERE slug = '" + tenant + "'")).longValue();
        AppDatabase.document(c, id, tenant + ".pdf", 1_000);
      }
    }
    app.execute("UPDATE tenant_usage SET storage_bytes = 1 WHERE month = silo.usage_month()");
    for (String tenant : List.of(OWN, OTHER)) {
      Migration started = migrations(admin).startMigration(StartMigrationRequest.newBuilder().addTenants(tenant)
          .build()).getMigrations(0);
      AuthTestSupport.awaitFinal(server.channel, started.getId());
      migrationOf.put(tenant, started.getId());
    }
  }

  @AfterAll
  void stop() throws Exception {
    if (mongo != null) {
      mongo.close();
    }
    if (server != null) {
      server.close();
    }
  }

  /** ALLOWED, or the refusal a caller must get for an RPC. */
  static Status.Code expected(Rpc rpc, Caller caller) {
    return switch (caller) {
      case NO_TOKEN, BAD_TOKEN -> Status.Code.UNAUTHENTICATED;
      case VIEWER_ROLE -> Role.VIEWER.includes(rpc.required()) ? Status.Code.OK : Status.Code.PERMISSION_DENIED;
      case OPERATOR_ROLE, SCOPED_OPERATOR_OWN_TENANT ->
          Role.OPERATOR.includes(rpc.required()) ? Status.Code.OK : Status.Code.PERMISSION_DENIED;
      case ADMIN_ROLE -> Status.Code.OK;
      case SCOPED_OPERATOR_OTHER_TENANT -> Role.OPERATOR.includes(rpc.required()) && !rpc.namesTenant()
          ? Status.Code.OK : Status.Code.PERMISSION_DENIED;
    };
  }

  @TestFactory
  Stream<DynamicTest> everyRpcByEveryRoleAndScopeIsAllowedOrRefusedWithoutChangingAnything() {
    return rpcs().stream().flatMap(rpc -> Stream.of(Caller.values()).map(caller -> DynamicTest.dynamicTest(
        rpc.name() + " as " + caller, () -> check(rpc, caller))));
  }

  private void check(Rpc rpc, Caller caller) throws Exception {
    awaitQuiet();
    String before = fingerprint();
    String slug = caller == Caller.SCOPED_OPERATOR_OWN_TENANT ? OWN : "new-" + fresh.incrementAndGet() + "-co";
    Target target = new Target(caller.tenant, migrationOf.get(caller.tenant), slug);
    Status status = statusOf(() -> rpc.call().accept(as(server.channel, caller.token), target));
    Status.Code want = expected(rpc, caller);
    if (want == Status.Code.OK) {
      assertThat(status.getCode()).as("%s as %s: %s", rpc.name(), caller, status.getDescription())
          .isNotIn(Status.Code.UNAUTHENTICATED, Status.Code.PERMISSION_DENIED);
      return;
    }
    assertThat(status.getCode()).as("%s as %s: %s", rpc.name(), caller, status.getDescription()).isEqualTo(want);
    assertThat(status.getDescription()).as("the refusal says why").isNotBlank();
    awaitQuiet();
    assertThat(fingerprint()).as("%s as %s changed nothing", rpc.name(), caller).isEqualTo(before);
  }

  /** Waits until no migration runs, so the fingerprint only changes if a call changed something. */
  private void awaitQuiet() throws Exception {
    MigrationFixture.awaitTrue(Duration.ofSeconds(120), "no running migration", () -> {
      try {
        return ((Number) server.queryOne(
            "SELECT count(*) FROM silo.migrations WHERE state IN ('PLANNED', 'RUNNING')")).longValue() == 0;
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    });
  }

  /** Digests of every table and collection a call could change: tenants, Silo's tables, keys, source, target. */
  private String fingerprint() throws Exception {
    StringBuilder out = new StringBuilder();
    for (String table : List.of("tenants", "silo.migrations", "silo.verifications", "silo.key_audit",
        "silo.data_audit", "tenant_usage", "silo.usage_drift")) {
      out.append(table).append('=').append(server.queryOne("SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY"
          + " t::text), '')) FROM " + table + " t")).append(' ');
    }
    for (String namespace : List.of("encryption.__keyVault", SOURCE, TARGET)) {
      StringBuilder docs = new StringBuilder();
      for (BsonDocument doc : MigrationFixture.collection(mongo, namespace).find().sort(Sorts.ascending("_id"))) {
        docs.append(doc.toJson());
      }
      out.append(namespace).append('=').append(docs.toString().hashCode()).append('/')
          .append(docs.length()).append(' ');
    }
    return out.toString();
  }
}
