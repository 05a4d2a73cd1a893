package io.silo.store;

import io.silo.config.SiloConfig;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.pgclient.PgBuilder;
import io.vertx.pgclient.PgConnectOptions;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.PoolOptions;
import java.util.Map;
import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.output.MigrateResult;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Silo's PostgreSQL access: applies the schema with Flyway off the event loop, then serves a reactive connection pool. */
public final class Database implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(Database.class);

  private final Pool pool;
  private final Tables tables;

  private Database(Pool pool, Tables tables) {
    this.pool = pool;
    this.tables = tables;
  }

  /** Migrates the schema (blocking JDBC on a worker thread) and opens the pool. */
  public static Future<Database> open(Vertx vertx, SiloConfig config) {
    Tables tables = Tables.from(config);
    return vertx.executeBlocking(() -> {
      migrate(config, tables);
      return null;
    }, false).map(ignored -> {
      PgConnectOptions connect = new PgConnectOptions()
          .setHost(config.string("postgres.host"))
          .setPort(config.integer("postgres.port"))
          .setDatabase(config.string("postgres.database"))
          .setUser(config.string("postgres.user"))
          .setPassword(config.string("postgres.password"))
          .setReconnectAttempts(3)
          .setReconnectInterval(500);
      Pool pool = PgBuilder.pool()
          .with(new PoolOptions().setMaxSize(config.integer("postgres.poolSize")))
          .connectingTo(connect)
          .using(vertx)
          .build();
      return new Database(pool, tables);
    });
  }

  private static void migrate(SiloConfig config, Tables tables) {
    String url = "jdbc:postgresql://" + config.string("postgres.host") + ":" + config.integer("postgres.port")
        + "/" + config.string("postgres.database");
    Flyway flyway = Flyway.configure()
        .dataSource(url, config.string("postgres.user"), config.string("postgres.password"))
        .schemas(tables.siloSchema())
        .defaultSchema(tables.siloSchema())
        .createSchemas(true)
        .table("flyway_schema_history")
        .locations("classpath:db/migration")
        .placeholders(Map.of(
            "silo_schema", tables.siloSchema(),
            "tenants_table", tables.tenants(),
            "tenants_index", tables.tenantsSlugIndex(),
            "documents_table", tables.documents()))
        .load();
    MigrateResult result = flyway.migrate();
    LOG.info("schema {} at version {} ({} migrations applied)", tables.siloSchema(),
        result.targetSchemaVersion != null ? result.targetSchemaVersion : flyway.info().current().getVersion(),
        result.migrationsExecuted);
  }

  public Pool pool() {
    return pool;
  }

  public Tables tables() {
    return tables;
  }

  @Override
  public void close() {
    pool.close();
  }
}
