package io.silo.api;

import static io.silo.jobs.MigrationFixture.statusOf;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Duration;
import com.mongodb.client.MongoClient;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthGrpc;
import io.silo.TestServer;
import io.silo.api.v1.CreateTenantKeyRequest;
import io.silo.api.v1.EncryptionAlgorithm;
import io.silo.api.v1.FieldPlan;
import io.silo.api.v1.GetCompletionReportRequest;
import io.silo.api.v1.GetMigrationRequest;
import io.silo.api.v1.GetTenantRequest;
import io.silo.api.v1.KeyServiceGrpc;
import io.silo.api.v1.ListMigrationsRequest;
import io.silo.api.v1.ListTenantKeysRequest;
import io.silo.api.v1.ListTenantsRequest;
import io.silo.api.v1.MigrationDefinition;
import io.silo.api.v1.MigrationServiceGrpc;
import io.silo.api.v1.PlanMigrationRequest;
import io.silo.api.v1.PurgeSourceRequest;
import io.silo.api.v1.RegisterTenantRequest;
import io.silo.api.v1.ShredTenantKeyRequest;
import io.silo.api.v1.StartMigrationRequest;
import io.silo.api.v1.TenantServiceGrpc;
import io.silo.api.v1.VerifyTenantRequest;
import io.silo.api.v1.WatchMigrationRequest;
import io.silo.jobs.MigrationFixture;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.http.RequestOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 11, one test per reproduced attack: each hostile request gets a specific status whose message names the
 * request field (or the limit), promptly, and changes nothing in PostgreSQL or MongoDB (the key vault included).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HostileInputTest {

  private static final int BIG_TENANT_DOCS = 20_000;

  @TempDir
  static Path keyDir;

  private TestServer server;
  private MongoClient mongo;

  @BeforeAll
  void start() throws Exception {
    server = TestServer.startWithMongo(Map.of("verify.maxStreams", 2, "jobs.pollMillis", 100), keyDir);
    mongo = MigrationFixture.plainClient(server);
    MigrationFixture.registerTenants(server, "host-co", "victim-co", "tenant-victim-co", "verify-big", "small-co");
    KeyServiceGrpc.newBlockingStub(server.channel).withDeadlineAfter(30, TimeUnit.SECONDS)
        .createTenantKey(CreateTenantKeyRequest.newBuilder().setTenant("victim-co").build());
    MigrationFixture.seed(mongo, "legacy.patients", 5, "host-co", "tenant-victim-co", "small-co");
    // Never migrated: verifying it reports every document as missing from the target, megabytes of findings.
    MigrationFixture.seed(mongo, "legacy.patients", BIG_TENANT_DOCS, "verify-big");
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

  private MigrationServiceGrpc.MigrationServiceBlockingStub migrations() {
    return MigrationServiceGrpc.newBlockingStub(server.channel).withDeadlineAfter(30, TimeUnit.SECONDS);
  }

  private TenantServiceGrpc.TenantServiceBlockingStub tenants() {
    return TenantServiceGrpc.newBlockingStub(server.channel).withDeadlineAfter(30, TimeUnit.SECONDS);
  }

  private KeyServiceGrpc.KeyServiceBlockingStub keys() {
    return KeyServiceGrpc.newBlockingStub(server.channel).withDeadlineAfter(30, TimeUnit.SECONDS);
  }

  private static void assertStatus(Status status, Status.Code code, String field) {
    assertThat(status.getCode()).as(status.toString()).isEqualTo(code);
    assertThat(status.getDescription()).as(status.toString()).startsWith(field);
  }

  /** Runs the hostile calls and checks that PostgreSQL row counts and MongoDB contents did not move. */
  private void unchangedBy(Runnable calls) throws Exception {
    String rows = StoreDigest.postgres(server);
    String documents = StoreDigest.mongo(mongo);
    calls.run();
    assertThat(StoreDigest.postgres(server)).as("PostgreSQL row counts").isEqualTo(rows);
    assertThat(StoreDigest.mongo(mongo)).as("MongoDB contents, key vault included").isEqualTo(documents);
  }

  private static MigrationDefinition definition(Consumer<MigrationDefinition.Builder> change) {
    MigrationDefinition.Builder d = MigrationDefinition.newBuilder();
    change.accept(d);
    return d.build();
  }

  private static FieldPlan field(String path, EncryptionAlgorithm algorithm, String type) {
    return FieldPlan.newBuilder().setPath(path).setAlgorithm(algorithm).setBsonType(type).build();
  }

  @Test
  void definitionsReachingTheKeyVaultMongoDatabasesOrTheirOwnFieldsAreRefused() throws Exception {
    Map<MigrationDefinition, String> hostile = new java.util.LinkedHashMap<>();
    hostile.put(definition(d -> d.setTargetNamespace("encryption.__keyVault").setTenantField("keyAltNames")),
        "definition.target_namespace");
    hostile.put(definition(d -> d.setSourceNamespace("encryption.__keyVault")), "definition.source_namespace");
    for (String db : List.of("admin", "config", "local", "ADMIN")) {
      hostile.put(definition(d -> d.setTargetNamespace(db + ".patients")), "definition.target_namespace");
      hostile.put(definition(d -> d.setSourceNamespace(db + ".system_users")), "definition.source_namespace");
    }
    hostile.put(definition(d -> d.setSourceNamespace("legacy.patients").setTargetNamespace("legacy.patients")),
        "definition.target_namespace");
    hostile.put(definition(d -> d.setTenantField("_id")), "definition.tenant_field");
    hostile.put(definition(d -> d.setTenantField("_id.tenant")), "definition.tenant_field");
    hostile.put(definition(d -> d.setTenantField("ssn")
        .addFields(field("ssn", EncryptionAlgorithm.ENCRYPTION_ALGORITHM_DETERMINISTIC, "string"))),
        "definition.fields[0].path");
    hostile.put(definition(d -> d.setTenantField("profile.owner")
        .addFields(field("profile", EncryptionAlgorithm.ENCRYPTION_ALGORITHM_RANDOM, "object"))),
        "definition.fields[0].path");
    hostile.put(definition(d -> d.setTenantField("org")
        .addFields(field("org.name", EncryptionAlgorithm.ENCRYPTION_ALGORITHM_RANDOM, "string"))),
        "definition.fields[0].path");
    for (String type : List.of("double", "decimal", "bool", "object", "array")) {
      hostile.put(definition(d -> d.addFields(field("x", EncryptionAlgorithm.ENCRYPTION_ALGORITHM_DETERMINISTIC, type))),
          "definition.fields[0].algorithm");
    }
    for (String type : List.of("null", "undefined", "minKey", "maxKey", "javascriptWithScope", "symbol")) {
      hostile.put(definition(d -> d.addFields(field("x", EncryptionAlgorithm.ENCRYPTION_ALGORITHM_RANDOM, type))),
          "definition.fields[0].bson_type");
    }
    unchangedBy(() -> hostile.forEach((d, fieldName) -> {
      assertStatus(statusOf(() -> migrations().startMigration(StartMigrationRequest.newBuilder()
          .addTenants("tenant-victim-co").setDefinition(d).build())), Status.Code.INVALID_ARGUMENT, fieldName);
      assertStatus(statusOf(() -> migrations().planMigration(PlanMigrationRequest.newBuilder()
          .addTenants("tenant-victim-co").setDefinition(d).build())), Status.Code.INVALID_ARGUMENT, fieldName);
      assertStatus(statusOf(() -> migrations().verifyTenant(VerifyTenantRequest.newBuilder()
          .setTenant("tenant-victim-co").setDefinition(d).build()).hasNext()), Status.Code.INVALID_ARGUMENT, fieldName);
    }));
    assertThat(keys().listTenantKeys(ListTenantKeysRequest.newBuilder().setTenant("victim-co").build()).getKeysCount())
        .as("the victim's data key").isEqualTo(1);
  }

  @Test
  void hugeMigrationIdsGetInvalidArgumentAndTheConnectionStaysUsable() throws Exception {
    for (int length : List.of(9_000, 200_000)) {
      String id = "x".repeat(length);
      long started = System.nanoTime();
      Status status = statusOf(() -> migrations().getMigration(GetMigrationRequest.newBuilder().setMigrationId(id).build()));
      assertStatus(status, Status.Code.INVALID_ARGUMENT, "migration_id");
      assertThat(status.getDescription()).hasSizeLessThan(200).contains(length + " characters");
      assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started)).isLessThan(10_000);
      // The same connection answers the next call: a reset or wedged connection would fail or hang here.
      assertThat(tenants().getTenant(GetTenantRequest.newBuilder().setSlug("host-co").build()).getTenant().getSlug())
          .isEqualTo("host-co");
    }
    Status watch = statusOf(() -> migrations().watchMigration(WatchMigrationRequest.newBuilder()
        .setMigrationId("y".repeat(50_000)).build()).hasNext());
    assertStatus(watch, Status.Code.INVALID_ARGUMENT, "migration_id");
  }

  @Test
  void tenThousandSlugsAreRefusedPromptlyAndAThousandAreCheckedInOneQuery() throws Exception {
    List<String> many = new ArrayList<>();
    for (int i = 0; i < 10_000; i++) {
      many.add(String.format("tenant-%05d", i));
    }
    long started = System.nanoTime();
    unchangedBy(() -> {
      assertStatus(statusOf(() -> migrations().planMigration(PlanMigrationRequest.newBuilder().addAllTenants(many)
          .build())), Status.Code.INVALID_ARGUMENT, "tenants");
      Status start = statusOf(() -> migrations().startMigration(StartMigrationRequest.newBuilder().addAllTenants(many)
          .build()));
      assertStatus(start, Status.Code.INVALID_ARGUMENT, "tenants");
      assertThat(start.getDescription()).contains("1000");
      // At the limit every slug is looked up, in one query, and the first unknown one is named.
      List<String> thousand = new ArrayList<>(many.subList(0, 999));
      thousand.add(0, "host-co");
      Status notFound = statusOf(() -> migrations().startMigration(StartMigrationRequest.newBuilder()
          .addAllTenants(thousand).build()));
      assertStatus(notFound, Status.Code.NOT_FOUND, "tenants[1]");
    });
    assertThat(TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started)).isLessThan(15);
  }

  @Test
  void aPlanWith25000FieldsIsRefusedWithoutFreezingTheServer() throws Exception {
    MigrationDefinition.Builder d = MigrationDefinition.newBuilder();
    for (int i = 0; i < 25_000; i++) {
      d.addFields(field("f" + i, EncryptionAlgorithm.ENCRYPTION_ALGORITHM_RANDOM, "string"));
    }
    long started = System.nanoTime();
    unchangedBy(() -> {
      Status status = statusOf(() -> migrations().startMigration(StartMigrationRequest.newBuilder()
          .addTenants("host-co").setDefinition(d).build()));
      assertStatus(status, Status.Code.INVALID_ARGUMENT, "definition.fields");
      assertThat(status.getDescription()).contains("200");
    });
    assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started)).isLessThan(10_000);
    assertHealthPrompt();
  }

  @Test
  void aBodyThatIsNotProtobufGetsInvalidArgumentWithAMessage() throws Exception {
    byte[] garbage = {(byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF};
    Map<String, Boolean> methods = Map.of(
        "silo.v1.TenantService/GetTenant", false,
        "silo.v1.TenantService/RegisterTenant", false,
        "silo.v1.MigrationService/StartMigration", false,
        "silo.v1.KeyService/ShredTenantKey", false,
        "silo.v1.MigrationService/VerifyTenant", true,
        "silo.v1.MigrationService/WatchMigration", true);
    unchangedBy(() -> methods.forEach((method, streaming) -> {
      Status status = RawGrpc.call(server.channel, method, streaming, garbage, 10);
      assertStatus(status, Status.Code.INVALID_ARGUMENT, "request");
    }));
  }

  @Test
  void aNulByteOrAForgedKeyInAPageTokenIsInvalidArgument() throws Exception {
    unchangedBy(() -> {
      for (String key : List.of("a\u0000b", "../../etc", "zz'; DROP TABLE tenants; --", "UPPER-case")) {
        assertStatus(statusOf(() -> tenants().listTenants(ListTenantsRequest.newBuilder()
            .setPageToken(Validation.encodePageToken("tenants", key)).build())), Status.Code.INVALID_ARGUMENT,
            "page_token");
        assertStatus(statusOf(() -> keys().listTenantKeys(ListTenantKeysRequest.newBuilder()
            .setPageToken(Validation.encodePageToken("keys", key)).build())), Status.Code.INVALID_ARGUMENT,
            "page_token");
      }
      assertStatus(statusOf(() -> migrations().listMigrations(ListMigrationsRequest.newBuilder()
          .setPageToken(Validation.encodePageToken("migrations", "2026-01-01T00:00Z|\u0000")).build())),
          Status.Code.INVALID_ARGUMENT, "page_token");
      assertStatus(statusOf(() -> migrations().getCompletionReport(GetCompletionReportRequest.newBuilder()
          .setMigrationId(java.util.UUID.randomUUID().toString())
          .setPageToken(Validation.encodePageToken("report", "-5")).build())), Status.Code.INVALID_ARGUMENT,
          "page_token");
      // Bytes that are not UTF-8, and a token longer than any Silo issues.
      assertStatus(statusOf(() -> tenants().listTenants(ListTenantsRequest.newBuilder().setPageToken(
          java.util.Base64.getUrlEncoder().encodeToString(new byte[] {'t', (byte) 0xC3, 0x28})).build())),
          Status.Code.INVALID_ARGUMENT, "page_token");
      assertStatus(statusOf(() -> tenants().listTenants(ListTenantsRequest.newBuilder()
          .setPageToken("A".repeat(5000)).build())), Status.Code.INVALID_ARGUMENT, "page_token");
    });
  }

  @Test
  void grpcMessageIsPercentEncodedOnlyWhereTheSpecRequires() throws Exception {
    HttpClient http = server.vertx.createHttpClient(new HttpClientOptions().setProtocolVersion(HttpVersion.HTTP_2)
        .setHttp2ClearTextUpgrade(false));
    try {
      String plain = rawGrpcMessage(http, "/silo.v1.TenantService/RegisterTenant",
          RegisterTenantRequest.newBuilder().setSlug("X").setDisplayName("X").build().toByteArray());
      assertThat(plain).isEqualTo("slug: must be 3-40 characters long (got 1)");
      String utf8 = rawGrpcMessage(http, "/silo.v1.MigrationService/GetMigration",
          GetMigrationRequest.newBuilder().setMigrationId("caf\u00e9 100%").build().toByteArray());
      assertThat(utf8).startsWith("migration_id: 'caf%C3%A9 100%25' is not");
    } finally {
      http.close();
    }
    // And a spec-conforming client decodes it back.
    Status decoded = statusOf(() -> migrations().getMigration(GetMigrationRequest.newBuilder()
        .setMigrationId("caf\u00e9 100%").build()));
    assertThat(decoded.getDescription()).startsWith("migration_id: 'caf\u00e9 100%' is not");
  }

  /** The grpc-message a call ends with, exactly as sent on the wire (trailers, or headers of a trailers-only reply). */
  private String rawGrpcMessage(HttpClient http, String path, byte[] message) throws Exception {
    Buffer frame = Buffer.buffer().appendByte((byte) 0).appendInt(message.length).appendBytes(message);
    RequestOptions options = new RequestOptions().setMethod(HttpMethod.POST).setHost("127.0.0.1")
        .setPort(server.server.port()).setURI(path).putHeader("content-type", "application/grpc")
        .putHeader("te", "trailers");
    return RawGrpc.onContext(server.vertx, () -> http.request(options).compose(req -> req.send(frame))
        .compose(resp -> resp.body().map(body -> {
          String inHeaders = resp.getHeader("grpc-message");
          return inHeaders != null ? inHeaders : resp.getTrailer("grpc-message");
        })), 30);
  }

  @Test
  void grpcWebTextWithInvalidBase64GetsAStatusAndReleasesTheConnection() throws Exception {
    HttpClient http = server.vertx.createHttpClient(new HttpClientOptions().setKeepAlive(true),
        new io.vertx.core.http.PoolOptions().setHttp1MaxSize(1));
    try {
      for (String body : List.of("@@@not base64@@@", "AAAA", "", "QUJD=====")) {
        RequestOptions options = new RequestOptions().setMethod(HttpMethod.POST).setHost("127.0.0.1")
            .setPort(server.server.port()).setURI("/silo.v1.TenantService/GetTenant")
            .putHeader("content-type", "application/grpc-web-text").putHeader("x-grpc-web", "1");
        String status = RawGrpc.onContext(server.vertx, () -> http.request(options)
            .compose(req -> req.send(Buffer.buffer(body)))
            .compose(resp -> resp.body().map(b -> {
              String inHeaders = resp.getHeader("grpc-status");
              return inHeaders != null ? inHeaders : new String(b.getBytes(), java.nio.charset.StandardCharsets.UTF_8);
            })), 10);
        assertThat(status).as("body '%s'", body).isEqualTo("3");
      }
    } finally {
      http.close();
    }
  }

  @Test
  void grpcWebTextWithCharactersOutsideBase64GetsInvalidArgumentOverHttp2Too() throws Exception {
    HttpClient http = server.vertx.createHttpClient(new HttpClientOptions()
        .setProtocolVersion(io.vertx.core.http.HttpVersion.HTTP_2).setHttp2ClearTextUpgrade(false));
    try {
      RequestOptions options = new RequestOptions().setMethod(HttpMethod.POST).setHost("127.0.0.1")
          .setPort(server.server.port()).setURI("/silo.v1.TenantService/GetTenant")
          .putHeader("content-type", "application/grpc-web-text").putHeader("x-grpc-web", "1");
      String status = RawGrpc.onContext(server.vertx, () -> http.request(options)
          .compose(req -> req.send(Buffer.buffer("@@@not base64@@@")))
          .compose(resp -> resp.body().map(b -> resp.version() + " " + resp.getHeader("grpc-status") + " "
              + resp.getHeader("grpc-message"))), 10);
      assertThat(status).startsWith("HTTP_2 3 ").contains("base64");
    } finally {
      http.close();
    }
  }

  @Test
  void aMissingConfirmIsInvalidArgumentNamingTheField() throws Exception {
    unchangedBy(() -> {
      assertStatus(statusOf(() -> migrations().purgeSource(PurgeSourceRequest.newBuilder().setTenant("host-co")
          .build())), Status.Code.INVALID_ARGUMENT, "confirm");
      assertStatus(statusOf(() -> keys().shredTenantKey(ShredTenantKeyRequest.newBuilder().setTenant("victim-co")
          .build())), Status.Code.INVALID_ARGUMENT, "confirm");
    });
  }

  @Test
  void displayNamesRefuseBidiOverridesAndInvisibleCharacters() throws Exception {
    unchangedBy(() -> {
      for (String name : List.of("Acme \u202Eexe.gpj", "Acme \u2066Health\u2069", "Ac\u200Bme", "\uFEFFAcme",
          "Acme\u0000", "Acme\u2028Health", "Acme \u202AHealth", "Acme\u00ADHealth", "Acme \uE000")) {
        assertStatus(statusOf(() -> tenants().registerTenant(RegisterTenantRequest.newBuilder()
            .setSlug("bidi-co").setDisplayName(name).build())), Status.Code.INVALID_ARGUMENT, "display_name");
      }
    });
    assertThat(tenants().registerTenant(RegisterTenantRequest.newBuilder().setSlug("unicode-co")
        .setDisplayName("Zo\u00eb Sant\u00e9 \u6771\u4eac").build()).getCreated()).isTrue();
  }

  @Test
  void invalidMinIntervalsAreRefused() throws Exception {
    List<Duration> bad = List.of(
        Duration.newBuilder().setSeconds(-1).build(),
        Duration.newBuilder().setNanos(-5).build(),
        Duration.newBuilder().setSeconds(1).setNanos(-1).build(),
        Duration.newBuilder().setNanos(1_000_000_000).build(),
        Duration.newBuilder().setSeconds(Long.MAX_VALUE).build(),
        Duration.newBuilder().setSeconds(Long.MIN_VALUE).build(),
        Duration.newBuilder().setSeconds(18_446_744_073_709_551L).build(),
        Duration.newBuilder().setSeconds(61).build());
    for (Duration interval : bad) {
      assertStatus(statusOf(() -> migrations().watchMigration(WatchMigrationRequest.newBuilder().setTenant("host-co")
          .setMinInterval(interval).build()).hasNext()), Status.Code.INVALID_ARGUMENT, "min_interval");
    }
  }

  @Test
  void verifyWithIncludeS3IsFailedPreconditionAsForStart() throws Exception {
    unchangedBy(() -> assertStatus(statusOf(() -> migrations().verifyTenant(VerifyTenantRequest.newBuilder()
        .setTenant("small-co").setDefinition(MigrationDefinition.newBuilder().setIncludeS3(true)).build()).hasNext()),
        Status.Code.FAILED_PRECONDITION, "definition.include_s3"));
  }

  @Test
  void pausedVerifyStreamsAreCappedAndADisconnectFreesTheirWorkersAtOnce() throws Exception {
    List<ManagedChannel> stalled = new ArrayList<>();
    try {
      // Two callers that never read: each fills its flow-control window and its worker waits for room.
      for (int i = 0; i < 2; i++) {
        ManagedChannel channel = VerifyStreamStallTest.smallWindowChannel(server.server.port());
        stalled.add(channel);
        VerifyStreamStallTest.stalledVerify(channel, "verify-big");
      }
      Status third = verifySmall();
      assertThat(third.getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
      assertThat(third.getDescription()).contains("verify.maxStreams");
      assertHealthPrompt();
    } finally {
      // The callers vanish without cancelling their calls: the server only sees their connections close.
      stalled.forEach(ManagedChannel::shutdownNow);
    }
    long closed = System.nanoTime();
    MigrationFixture.awaitTrue(java.time.Duration.ofSeconds(10), "a verify slot freed by the disconnect", () ->
        verifySmall().isOk());
    assertThat(TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - closed))
        .as("freed well before the 30 s stall timeout").isLessThan(10);
  }

  /** Verifies small-co to its end and returns OK, or the status it failed with. */
  private Status verifySmall() {
    try {
      migrations().verifyTenant(VerifyTenantRequest.newBuilder().setTenant("small-co").build())
          .forEachRemaining(r -> { });
      return Status.OK;
    } catch (io.grpc.StatusRuntimeException e) {
      return e.getStatus();
    }
  }

  private void assertHealthPrompt() {
    long started = System.nanoTime();
    HealthGrpc.newBlockingStub(server.channel).withDeadlineAfter(5, TimeUnit.SECONDS)
        .check(HealthCheckRequest.getDefaultInstance());
    assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started)).as("health answered").isLessThan(500);
  }
}
