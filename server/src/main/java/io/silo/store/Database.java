package io.silo.store;

import io.silo.config.SiloConfig;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.pgclient.PgBuilder;
import io.vertx.pgclient.PgConnectOptions;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.PoolOptions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
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
    String url = jdbcUrl(config);
    Flyway flyway = Flyway.configure()
        .dataSource(url, config.string("postgres.user"), config.string("postgres.password"))
        .schemas(tables.siloSchema())
        .defaultSchema(tables.siloSchema())
        .createSchemas(true)
        .table("flyway_schema_history")
        .locations("classpath:db/migration")
        .placeholders(placeholders(tables))
        .load();
    MigrateResult result = flyway.migrate();
    LOG.info("schema {} at version {} ({} migrations applied)", tables.siloSchema(),
        result.targetSchemaVersion != null ? result.targetSchemaVersion : flyway.info().current().getVersion(),
        result.migrationsExecuted);
    migrateAppTables(config, tables, url);
  }

  /**
   * Applies {@code db/app}: what Silo adds to the application's documents table (columns, tracking tables, usage
   * triggers). Outside dev Silo must not assume that table exists, so these run only once it does; their own history
   * table keeps them apart from Silo's schema versions. Returns whether the documents table exists.
   */
  private static boolean migrateAppTables(SiloConfig config, Tables tables, String url) {
    try (Connection c = DriverManager.getConnection(url, config.string("postgres.user"),
        config.string("postgres.password"));
         PreparedStatement st = c.prepareStatement("SELECT to_regclass(?) IS NOT NULL")) {
      st.setString(1, tables.documents());
      try (ResultSet rs = st.executeQuery()) {
        rs.next();
        if (!rs.getBoolean(1)) {
          LOG.info("application table {} does not exist: document tracking and usage are not installed (the S3 phase"
              + " and usage reports need it)", tables.documents());
          return false;
        }
      }
    } catch (SQLException e) {
      throw new IllegalStateException("could not check for " + tables.documents() + ": " + e.getMessage(), e);
    }
    Flyway app = Flyway.configure()
        .dataSource(url, config.string("postgres.user"), config.string("postgres.password"))
        .schemas(tables.siloSchema())
        .defaultSchema(tables.siloSchema())
        .table("app_schema_history")
        .locations("classpath:db/app")
        .baselineOnMigrate(true)
        .baselineVersion("0")
        .placeholders(placeholders(tables))
        .load();
    MigrateResult result = app.migrate();
    LOG.info("application tables extended to version {} ({} migrations applied)", result.targetSchemaVersion,
        result.migrationsExecuted);
    return true;
  }

  /**
   * Installs the application-table extensions now if the documents table appeared after start-up (the S3 phase and
   * usage call this before relying on them). Blocking: call it from a worker. Returns whether the table exists.
   */
  public static boolean ensureAppTables(SiloConfig config) {
    Tables tables = Tables.from(config);
    return migrateAppTables(config, tables, jdbcUrl(config));
  }

  private static String jdbcUrl(SiloConfig config) {
    return "jdbc:postgresql://" + config.string("postgres.host") + ":" + config.integer("postgres.port")
        + "/" + config.string("postgres.database");
  }

  private static Map<String, String> placeholders(Tables tables) {
    return Map.of(
        "silo_schema", tables.siloSchema(),
        "tenants_table", tables.tenants(),
        "app_schema", tables.appSchema(),
        "tenants_index", tables.tenantsSlugIndex(),
        "documents_table", tables.documents());
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
