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
import io.grpc.Channel;
import io.grpc.Status;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.silo.TestServer;
import io.silo.api.v1.CreateTenantKeyRequest;
import io.silo.api.v1.KeyServiceGrpc;
import io.silo.api.v1.ListMigrationsRequest;
import io.silo.api.v1.ListTenantKeysRequest;
import io.silo.api.v1.ListTenantsRequest;
import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationDefinition;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.RollbackMigrationRequest;
import io.silo.api.v1.MigrationServiceGrpc;
import io.silo.api.v1.PlanMigrationRequest;
import io.silo.api.v1.RegisterTenantRequest;
import io.silo.api.v1.StartMigrationRequest;
import io.silo.api.v1.Tenant;
import io.silo.api.v1.TenantPlan;
import io.silo.api.v1.TenantServiceGrpc;
import io.silo.api.v1.VerifyTenantRequest;
import io.silo.api.v1.WatchMigrationRequest;
import io.silo.api.v1.WatchMigrationResponse;
import io.silo.jobs.MigrationFixture;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * A tenant-scoped token sees only its tenant in lists, plans and streams; a viewer's verify is not recorded; health
 * stays open while /metrics and gRPC-Web need a token like every other entry point.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TenantScopeAndEntryPointsTest {

  private static final String SOURCE = "legacy.patients";

  private TestServer server;
  private MongoClient mongo;

  @BeforeAll
  void start() throws Exception {
    server = TestServer.startWithMongo(Map.of("auth.tokens", AuthTestSupport.TOKENS, "jobs.pollMillis", 100,
        "migration.verifyAfterCopy", false), Files.createTempDirectory("silo-auth-scope"));
    mongo = MigrationFixture.plainClient(server);
    Channel admin = as(server.channel, ADMIN);
    for (String tenant : List.of(OWN, OTHER)) {
      TenantServiceGrpc.newBlockingStub(admin).registerTenant(
          RegisterTenantRequest.newBuilder().setSlug(tenant).setDisplayName(tenant).build());
      KeyServiceGrpc.newBlockingStub(admin).createTenantKey(CreateTenantKeyRequest.newBuilder().setTenant(tenant)
          .build());
    }
    MigrationFixture.seed(mongo, SOURCE, 20, OWN, OTHER);
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

  private static MigrationServiceGrpc.MigrationServiceBlockingStub migrations(String token, TestServer server) {
    return MigrationServiceGrpc.newBlockingStub(as(server.channel, token)).withDeadlineAfter(60, TimeUnit.SECONDS);
  }

  private Migration awaitFinal(String id) throws InterruptedException {
    return AuthTestSupport.awaitFinal(server.channel, id);
  }

  @Test
  void aScopedTokenListsPlansAndStartsOnlyItsOwnTenantWhenAskedForAll() throws Exception {
    assertThat(TenantServiceGrpc.newBlockingStub(as(server.channel, SCOPED)).listTenants(
        ListTenantsRequest.getDefaultInstance()).getTenantsList()).extracting(Tenant::getSlug).containsExactly(OWN);
    assertThat(TenantServiceGrpc.newBlockingStub(as(server.channel, ADMIN)).listTenants(
        ListTenantsRequest.getDefaultInstance()).getTenantsList()).extracting(Tenant::getSlug).contains(OWN, OTHER);

    assertThat(KeyServiceGrpc.newBlockingStub(as(server.channel, SCOPED)).listTenantKeys(
        ListTenantKeysRequest.getDefaultInstance()).getKeysList()).extracting(k -> k.getTenant())
        .containsOnly(OWN).isNotEmpty();

    assertThat(migrations(SCOPED, server).planMigration(PlanMigrationRequest.newBuilder().setAllTenants(true)
        .build()).getPlansList()).extracting(TenantPlan::getTenant).containsExactly(OWN);

    long otherRunsBefore = MigrationFixture.migrationRows(server, OTHER);
    List<Migration> started = migrations(SCOPED, server).startMigration(StartMigrationRequest.newBuilder()
        .setAllTenants(true).setIdempotencyKey("scoped-all-1").build()).getMigrationsList();
    assertThat(started).extracting(Migration::getTenant).containsExactly(OWN);
    assertThat(MigrationFixture.migrationRows(server, OTHER)).isEqualTo(otherRunsBefore);
    awaitFinal(started.get(0).getId());

    Migration others = migrations(ADMIN, server).startMigration(StartMigrationRequest.newBuilder().addTenants(OTHER)
        .build()).getMigrations(0);
    awaitFinal(others.getId());
    assertThat(migrations(SCOPED, server).listMigrations(ListMigrationsRequest.getDefaultInstance())
        .getMigrationsList()).extracting(Migration::getTenant).containsOnly(OWN).isNotEmpty();
    assertThat(migrations(ADMIN, server).listMigrations(ListMigrationsRequest.getDefaultInstance())
        .getMigrationsList()).extracting(Migration::getTenant).contains(OWN, OTHER);
  }

  @Test
  void aScopedWatchOfEverythingCarriesOnlyItsOwnTenant() throws Exception {
    MigrationFixture.Recorder<WatchMigrationResponse> watched = new MigrationFixture.Recorder<>();
    io.grpc.Context.CancellableContext watch = io.grpc.Context.current().withCancellation();
    watch.run(() -> MigrationServiceGrpc.newStub(as(server.channel, SCOPED)).watchMigration(
        WatchMigrationRequest.newBuilder().setAll(true).build(), watched));
    try {
      Thread.sleep(300);
      Migration other = migrations(ADMIN, server).startMigration(StartMigrationRequest.newBuilder()
          .addTenants(OTHER).setIdempotencyKey("watch-other").build()).getMigrations(0);
      Migration own = migrations(ADMIN, server).startMigration(StartMigrationRequest.newBuilder()
          .addTenants(OWN).setIdempotencyKey("watch-own").build()).getMigrations(0);
      awaitFinal(other.getId());
      awaitFinal(own.getId());
      MigrationFixture.awaitTrue(Duration.ofSeconds(30), "the own tenant's final event", () ->
          watched.items.stream().anyMatch(r -> r.getEvent().getMigration().getId().equals(own.getId())
              && r.getEvent().getFinal()));
      assertThat(watched.items).extracting(r -> r.getEvent().getMigration().getTenant()).containsOnly(OWN);
    } finally {
      watch.cancel(null);
    }
  }

  @Test
  void aScopedTokenCanNeitherRedirectADefinitionNorRollBackAnotherTenantsMigration() throws Exception {
    Status plan = statusOf(() -> migrations(SCOPED, server).planMigration(PlanMigrationRequest.newBuilder()
        .addTenants(OWN).setDefinition(MigrationDefinition.newBuilder().setTenantField("region")).build()));
    assertThat(plan.getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
    assertThat(plan.getDescription()).startsWith("definition.tenant_field");
    Status verify = statusOf(() -> migrations(SCOPED, server).verifyTenant(VerifyTenantRequest.newBuilder()
        .setTenant(OWN).setDefinition(MigrationDefinition.newBuilder().setSourceNamespace("legacy.others")).build())
        .forEachRemaining(r -> { }));
    assertThat(verify.getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
    assertThat(verify.getDescription()).startsWith("definition.source_namespace");
    assertThat(statusOf(() -> migrations(ADMIN, server).planMigration(PlanMigrationRequest.newBuilder()
        .addTenants(OWN).setDefinition(MigrationDefinition.newBuilder().setTenantField("region")).build())).getCode())
        .as("an unscoped token may override the definition").isNotEqualTo(Status.Code.PERMISSION_DENIED);

    Migration others = migrations(ADMIN, server).startMigration(StartMigrationRequest.newBuilder().addTenants(OTHER)
        .setIdempotencyKey("rollback-other").build()).getMigrations(0);
    awaitFinal(others.getId());
    long before = MigrationFixture.migrationRows(server, OTHER);
    Status rollback = statusOf(() -> migrations(SCOPED, server).rollbackMigration(RollbackMigrationRequest
        .newBuilder().setTenant(OWN).setMigrationId(others.getId()).build()));
    assertThat(rollback.getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
    assertThat(rollback.getDescription()).as("the refusal does not name the other tenant").doesNotContain(OTHER);
    assertThat(awaitFinal(others.getId()).getState()).isNotEqualTo(MigrationState.MIGRATION_STATE_ROLLED_BACK);
    assertThat(MigrationFixture.migrationRows(server, OTHER)).isEqualTo(before);
  }

  @Test
  void aViewersVerifyIsNotRecordedButAnOperatorsIs() throws Exception {
    long before = verifications();
    migrations(VIEWER, server).verifyTenant(VerifyTenantRequest.newBuilder().setTenant(OWN).build())
        .forEachRemaining(r -> { });
    assertThat(verifications()).as("a viewer's verify leaves silo.verifications alone").isEqualTo(before);
    migrations(OPERATOR, server).verifyTenant(VerifyTenantRequest.newBuilder().setTenant(OWN).build())
        .forEachRemaining(r -> { });
    assertThat(verifications()).isEqualTo(before + 1);
    assertThat(server.queryOne("SELECT caller FROM silo.verifications ORDER BY id DESC LIMIT 1"))
        .as("audited by token name, never the token").isEqualTo("token:ops");
  }

  private long verifications() throws Exception {
    return ((Number) server.queryOne("SELECT count(*) FROM silo.verifications")).longValue();
  }

  @Test
  void healthAndReflectionAnswerWithoutATokenButSiloCallsDoNot() {
    assertThat(HealthGrpc.newBlockingStub(server.channel).check(HealthCheckRequest.getDefaultInstance())
        .getStatus()).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
    Status refused = statusOf(() -> TenantServiceGrpc.newBlockingStub(server.channel)
        .listTenants(ListTenantsRequest.getDefaultInstance()));
    assertThat(refused.getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
    assertThat(refused.getDescription()).contains("authorization: Bearer");
  }

  @Test
  void metricsAnswer401WithoutAValidTokenAnd200WithOne() throws Exception {
    assertThat(metrics(null).statusCode()).isEqualTo(401);
    assertThat(metrics("not-a-real-token").statusCode()).isEqualTo(401);
    HttpResponse<String> ok = metrics(VIEWER);
    assertThat(ok.statusCode()).isEqualTo(200);
    assertThat(ok.body()).contains("jvm_memory");
  }

  private HttpResponse<String> metrics(String token) throws Exception {
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.server.port()
        + "/metrics")).GET();
    if (token != null) {
      request.header("Authorization", "Bearer " + token);
    }
    return java.net.http.HttpClient.newHttpClient().send(request.build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void aGrpcWebCallWithoutATokenIsRefusedLikeAnyOther() throws Exception {
    assertThat(grpcWebStatus(null)).isEqualTo("16");
    assertThat(grpcWebStatus("Bearer " + VIEWER)).isEqualTo("0");
  }

  /** The grpc-status of a gRPC-Web ListTenants call: from the headers (trailers-only) or the trailer frame. */
  private String grpcWebStatus(String authorization) throws Exception {
    HttpClient http = server.vertx.createHttpClient();
    try {
      RequestOptions options = new RequestOptions().setMethod(HttpMethod.POST).setHost("127.0.0.1")
          .setPort(server.server.port()).setURI("/silo.v1.TenantService/ListTenants")
          .putHeader("content-type", "application/grpc-web+proto").putHeader("x-grpc-web", "1");
      if (authorization != null) {
        options.putHeader("authorization", authorization);
      }
      // One uncompressed frame holding the empty ListTenantsRequest.
      Buffer frame = Buffer.buffer(new byte[] {0, 0, 0, 0, 0});
      return http.request(options).compose(req -> req.send(frame))
          .compose(resp -> resp.body().map(body -> {
            String header = resp.getHeader("grpc-status");
            if (header != null) {
              return header;
            }
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("grpc-status:\\s*(\\d+)")
                .matcher(body.toString(java.nio.charset.StandardCharsets.ISO_8859_1));
            return m.find() ? m.group(1) : "none";
          }))
          .toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    } finally {
      http.close();
    }
  }
}
