package io.silo.jobs;

import static io.silo.jobs.MigrationFixture.awaitFinal;
import static io.silo.jobs.MigrationFixture.count;
import static org.assertj.core.api.Assertions.assertThat;

import com.mongodb.client.MongoClient;
import io.silo.SiloServer;
import io.silo.TestServer;
import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationServiceGrpc;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.StartMigrationRequest;
import io.silo.api.v1.VerifyTenantRequest;
import io.silo.api.v1.VerifyTenantResponse;
import io.silo.config.SiloConfig;
import io.silo.dev.mongo.DevMongoServer;
import io.silo.mongo.MongoClientFactory;
import io.vertx.core.Vertx;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A MongoDB restart and a PostgreSQL restart in the middle of a migration: the run retries, resumes from its
 * checkpoint by itself and completes with a clean verification, with no operator involved.
 */
class TransientFaultTest {

  private static final int DOCS = 3000;

  @TempDir
  Path dir;

  private static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  private static Map<String, Object> slowSettings() {
    Map<String, Object> settings = new HashMap<>();
    settings.put("migration.batchSize", 20);
    settings.put("auth.disabled", true);
    settings.put("migration.batchesInFlight", 1);
    settings.put("kms.budget.ratePerSecond", 40);
    settings.put("jobs.pollMillis", 100);
    settings.put("jobs.leaseSeconds", 3);
    return settings;
  }

  private static Migration start(io.grpc.Channel channel, String tenant) {
    return MigrationServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
        .startMigration(StartMigrationRequest.newBuilder().addTenants(tenant).build()).getMigrations(0);
  }

  private static boolean verifiesClean(io.grpc.Channel channel, String tenant) {
    List<VerifyTenantResponse> all = new ArrayList<>();
    MigrationServiceGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS)
        .verifyTenant(VerifyTenantRequest.newBuilder().setTenant(tenant).build()).forEachRemaining(all::add);
    return all.get(all.size() - 1).getSummary().getClean();
  }

  @Test
  void aMongoRestartMidRunIsRetriedAndTheRunCompletesWithoutAnOperator() throws Exception {
    int port = freePort();
    Path data = dir.resolve("mongo");
    DevMongoServer mongoServer = DevMongoServer.start(data, "127.0.0.1", port);
    Map<String, Object> settings = slowSettings();
    // A short read timeout: a connection the restart left half-open must fail fast enough for a test to see.
    settings.put("mongo.uri", mongoServer.connectionString() + "&serverSelectionTimeoutMS=2000"
        + "&connectTimeoutMS=1000&socketTimeoutMS=5000");
    settings.put("kms.local.keyBase64", TestServer.LOCAL_KEY_BASE64);
    settings.putAll(io.silo.TestPostgres.freshDatabase());
    settings.put("grpc.host", "127.0.0.1");
    settings.put("grpc.port", 0);
    Vertx vertx = Vertx.vertx();
    SiloServer silo = SiloServer.start(vertx, SiloConfig.of(settings)).toCompletionStage().toCompletableFuture()
        .get(60, TimeUnit.SECONDS);
    var channel = io.grpc.ManagedChannelBuilder.forAddress("127.0.0.1", silo.port()).usePlaintext().build();
    try {
      try (MongoClient mongo = MongoClientFactory.sync(mongoServer.connectionString())) {
        io.silo.api.v1.TenantServiceGrpc.newBlockingStub(channel).registerTenant(
            io.silo.api.v1.RegisterTenantRequest.newBuilder().setSlug("restart-co").setDisplayName("R").build());
        MigrationFixture.seed(mongo, "legacy.patients", DOCS, "restart-co");
      }
      String id = start(channel, "restart-co").getId();
      MigrationFixture.await(channel, id, java.time.Duration.ofSeconds(60),
          m -> MigrationFixture.mongoProgress(m).getDone() >= 400, "400 documents copied");

      mongoServer.close();
      Thread.sleep(2500);
      mongoServer = DevMongoServer.start(data, "127.0.0.1", port);

      Migration done = MigrationFixture.await(channel, id, java.time.Duration.ofSeconds(240),
          m -> MigrationFixture.FINAL.contains(m.getState()), "a final state");
      assertThat(done.getState()).as(done.getLastError()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
      try (MongoClient mongo = MongoClientFactory.sync(mongoServer.connectionString())) {
        assertThat(count(mongo, "medical.patients", "restart-co")).isEqualTo(DOCS);
      }
      assertThat(verifiesClean(channel, "restart-co")).isTrue();
    } finally {
      channel.shutdownNow();
      silo.shutdown().toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
      vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
      mongoServer.close();
    }
  }

  @Test
  void aPostgresRestartMidRunIsRetriedAndTheRunCompletesWithoutAnOperator() throws Exception {
    int pgPort = freePort();
    Path pgData = dir.resolve("pg");
    EmbeddedPostgres pg = EmbeddedPostgres.builder().setDataDirectory(pgData).setCleanDataDirectory(false)
        .setPort(pgPort).start();
    Map<String, Object> settings = slowSettings();
    settings.put("postgres.host", "localhost");
    settings.put("postgres.port", pgPort);
    settings.put("postgres.database", "postgres");
    settings.put("postgres.user", "postgres");
    settings.put("postgres.password", "postgres");
    try (TestServer server = startWith(settings)) {
      MongoClient mongo = MigrationFixture.plainClient(server);
      MigrationFixture.registerTenants(server, "pg-restart-co");
      MigrationFixture.seed(mongo, "legacy.patients", DOCS, "pg-restart-co");
      String id = start(server.channel, "pg-restart-co").getId();
      MigrationFixture.awaitDone(server, id, 400);

      pg.close();
      Thread.sleep(2000);
      pg = EmbeddedPostgres.builder().setDataDirectory(pgData).setCleanDataDirectory(false).setPort(pgPort).start();

      Migration done = MigrationFixture.await(server.channel, id, java.time.Duration.ofSeconds(180),
          m -> MigrationFixture.FINAL.contains(m.getState()), "a final state");
      assertThat(done.getState()).as(done.getLastError()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
      assertThat(count(mongo, "medical.patients", "pg-restart-co")).isEqualTo(DOCS);
      assertThat(verifiesClean(server.channel, "pg-restart-co")).isTrue();
      mongo.close();
    } finally {
      pg.close();
    }
  }

  private TestServer startWith(Map<String, Object> settings) throws Exception {
    return TestServer.startWithMongo(settings, dir);
  }
}
