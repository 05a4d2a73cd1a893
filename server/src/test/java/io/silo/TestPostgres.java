package io.silo;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.sql.Connection;
import java.sql.Statement;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/** One real embedded PostgreSQL per test JVM; each test class gets its own fresh database in it. */
public final class TestPostgres {

  private static EmbeddedPostgres postgres;
  private static final AtomicInteger COUNTER = new AtomicInteger();

  private TestPostgres() {
  }

  private static synchronized EmbeddedPostgres instance() throws Exception {
    if (postgres == null) {
      postgres = EmbeddedPostgres.builder().start();
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        try {
          postgres.close();
        } catch (Exception ignored) {
          // The JVM is exiting; the temporary cluster directory is removed by zonky.
        }
      }));
    }
    return postgres;
  }

  /** Creates an empty database and returns Silo settings that point at it. */
  public static Map<String, Object> freshDatabase() throws Exception {
    EmbeddedPostgres pg = instance();
    String name = "silo_test_" + COUNTER.incrementAndGet() + "_" + ProcessHandle.current().pid();
    try (Connection c = pg.getPostgresDatabase().getConnection(); Statement st = c.createStatement()) {
      st.execute("CREATE DATABASE " + name);
    }
    Map<String, Object> settings = new HashMap<>();
    settings.put("postgres.host", "localhost");
    settings.put("postgres.port", pg.getPort());
    settings.put("postgres.database", name);
    settings.put("postgres.user", "postgres");
    settings.put("postgres.password", "postgres");
    return settings;
  }

  /** Runs one SQL query against the given test database and returns the first column of the first row. */
  public static Object queryOne(Map<String, Object> settings, String sql) throws Exception {
    EmbeddedPostgres pg = instance();
    try (Connection c = pg.getDatabase("postgres", (String) settings.get("postgres.database")).getConnection();
         Statement st = c.createStatement();
         var rs = st.executeQuery(sql)) {
      return rs.next() ? rs.getObject(1) : null;
    }
  }
}
