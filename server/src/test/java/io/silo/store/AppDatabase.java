package io.silo.store;

import io.silo.TestPostgres;
import io.silo.config.SiloConfig;
import io.silo.dev.AppSchema;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A fresh test database holding the legacy application's tables ({@code tenants}, {@code documents}) with Silo's
 * db/app extensions applied the way the server applies them, plus JDBC helpers for acting as the application.
 */
public final class AppDatabase {

  public final Map<String, Object> settings;

  private AppDatabase(Map<String, Object> settings) {
    this.settings = settings;
  }

  /** A fresh database with the app tables and Silo's app migrations (tenant_usage and its triggers). */
  public static AppDatabase create() throws Exception {
    AppDatabase db = createWithoutSilo();
    db.applySiloAppMigrations();
    return db;
  }

  /**
   * The application's tables in the database a test server already uses (whose start-up found no documents table),
   * with Silo's app migrations applied as the server would on first use.
   */
  public static AppDatabase installedIn(Map<String, Object> serverSettings) throws Exception {
    AppDatabase db = of(serverSettings);
    try (Connection c = db.connect()) {
      AppSchema.defaults().createIfAbsent(c);
    }
    db.applySiloAppMigrations();
    return db;
  }

  /** JDBC helpers for the database these Silo settings point at, as it is. */
  public static AppDatabase of(Map<String, Object> settings) {
    return new AppDatabase(settings);
  }

  /** A fresh database with the application's tables only, as before Silo was installed. */
  public static AppDatabase createWithoutSilo() throws Exception {
    AppDatabase db = new AppDatabase(TestPostgres.freshDatabase());
    try (Connection c = db.connect()) {
      AppSchema.defaults().createIfAbsent(c);
    }
    return db;
  }

  /** Applies db/app as the server does at start-up. */
  public void applySiloAppMigrations() {
    if (!Database.ensureAppTables(SiloConfig.of(settings))) {
      throw new IllegalStateException("documents table missing after it was created");
    }
  }

  /**
   * Creates what the S3 engineer's {@code db/app/V1__s3_tracking.sql} adds, per the shared schema contract, when it
   * is not there yet (it was not on main when this was written). Idempotent, and a no-op once V1 has run.
   */
  public static void ensureS3TrackingPerContract(Connection c) throws SQLException {
    try (Statement st = c.createStatement()) {
      for (String column : List.of("silo_bucket text", "silo_key text", "silo_version_id text", "silo_etag text",
          "silo_source_etag text", "silo_status text", "silo_error text", "silo_migration_id uuid",
          "silo_migrated_at timestamptz", "silo_source_purged_at timestamptz")) {
        st.execute("ALTER TABLE public.documents ADD COLUMN IF NOT EXISTS " + column);
      }
      st.execute("CREATE TABLE IF NOT EXISTS public.s3_migrations (id bigserial PRIMARY KEY,"
          + " tenant_id bigint NOT NULL UNIQUE REFERENCES public.tenants (id), status text NOT NULL,"
          + " documents_migrated integer NOT NULL DEFAULT 0, errors integer NOT NULL DEFAULT 0,"
          + " started_at timestamptz, completed_at timestamptz, bucket text, migration_id uuid, updated_at timestamptz)");
    }
  }

  public Connection connect() throws SQLException {
    return connectAs((String) settings.get("postgres.user"), (String) settings.get("postgres.password"));
  }

  public Connection connectAs(String user, String password) throws SQLException {
    return DriverManager.getConnection("jdbc:postgresql://" + settings.get("postgres.host") + ":"
        + settings.get("postgres.port") + "/" + settings.get("postgres.database"), user, password);
  }

  /** Registers a tenant row as the application would and returns its id. */
  public long tenant(String slug) throws SQLException {
    try (Connection c = connect();
         PreparedStatement ps = c.prepareStatement("INSERT INTO tenants (name, slug) VALUES (?, ?) RETURNING id")) {
      ps.setString(1, "Tenant " + slug);
      ps.setString(2, slug);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getLong(1);
      }
    }
  }

  /** Inserts one documents row as the application would and returns its id. */
  public static long document(Connection c, long tenantId, String filename, long size) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement("INSERT INTO documents (tenant_id, filename, s3_bucket, s3_key,"
        + " size_bytes, content_type) VALUES (?, ?, 'shared', ?, ?, 'application/pdf') RETURNING id")) {
      ps.setLong(1, tenantId);
      ps.setString(2, filename);
      ps.setString(3, "uploads/" + tenantId + "/" + filename);
      ps.setLong(4, size);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getLong(1);
      }
    }
  }

  /** Runs one statement on a new connection. */
  public void execute(String sql) throws SQLException {
    try (Connection c = connect(); Statement st = c.createStatement()) {
      st.execute(sql);
    }
  }

  /** Every row of a query as lists of column values, for whole-result assertions. */
  public List<List<Object>> rows(String sql) throws SQLException {
    try (Connection c = connect(); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      List<List<Object>> out = new ArrayList<>();
      int columns = rs.getMetaData().getColumnCount();
      while (rs.next()) {
        List<Object> row = new ArrayList<>(columns);
        for (int i = 1; i <= columns; i++) {
          row.add(rs.getObject(i));
        }
        out.add(row);
      }
      return out;
    }
  }

  /** A tenant's recorded usage in a month as {bytes, count}, or null when there is no row. */
  public long[] usage(long tenantId, String month) throws SQLException {
    List<List<Object>> rows = rows("SELECT storage_bytes, documents_count FROM public.tenant_usage WHERE tenant_id = "
        + tenantId + " AND month = DATE '" + month + "'");
    return rows.isEmpty() ? null : new long[] {((Number) rows.get(0).get(0)).longValue(),
        ((Number) rows.get(0).get(1)).longValue()};
  }

  /** A tenant's documents counted from the documents table as {bytes, count}. */
  public long[] recount(long tenantId) throws SQLException {
    List<Object> row = rows("SELECT coalesce(sum(size_bytes), 0), count(*) FROM public.documents WHERE tenant_id = "
        + tenantId).get(0);
    return new long[] {((Number) row.get(0)).longValue(), ((Number) row.get(1)).longValue()};
  }
}
