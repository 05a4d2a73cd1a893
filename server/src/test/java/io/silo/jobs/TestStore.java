package io.silo.jobs;

import io.silo.TestPostgres;
import io.silo.config.SiloConfig;
import io.silo.store.Database;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** A MigrationStore over a fresh test database with its own Vert.x, for tests that drive the store or the engine. */
final class TestStore implements AutoCloseable {

  final Vertx vertx;
  final Database database;
  final MigrationStore store;
  final Map<String, Object> settings;

  private TestStore(Vertx vertx, Database database, Map<String, Object> settings) {
    this.vertx = vertx;
    this.database = database;
    this.settings = settings;
    this.store = new MigrationStore(database.pool(), database.tables());
  }

  static TestStore open() throws Exception {
    Vertx vertx = Vertx.vertx();
    Map<String, Object> settings = TestPostgres.freshDatabase();
    return new TestStore(vertx, await(Database.open(vertx, SiloConfig.of(settings))), settings);
  }

  static <T> T await(Future<T> future) throws Exception {
    return future.toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
  }

  /** A stored migration definition that encrypts ssn deterministically, for jobs the tests create directly. */
  static io.vertx.core.json.JsonObject ssnDefinition() {
    return new io.vertx.core.json.JsonObject().put("mongo", new io.vertx.core.json.JsonObject()
        .put("source", "legacy.patients").put("target", "medical.patients")
        .put("tenantField", "tenantId").put("batchSize", 10)
        .put("fields", new io.vertx.core.json.JsonArray().add(new io.vertx.core.json.JsonObject().put("path", "ssn")
            .put("algorithm", "DETERMINISTIC").put("bsonType", "string"))));
  }

  /** Runs SQL on the test database through JDBC; for setting up states the API would not produce. */
  Object sql(String statement) throws Exception {
    return TestPostgres.queryOne(settings, statement);
  }

  @Override
  public void close() throws Exception {
    database.close();
    await(vertx.close());
  }
}
