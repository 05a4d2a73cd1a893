package io.silo.store;

import static io.silo.store.AppDatabase.document;
import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The tenant_usage triggers on the application's documents table, driven through plain JDBC as the application
 * would write: every total is checked against a recount of the documents table. Months are pinned with the
 * {@code silo.usage_month} session setting, far from the real clock.
 */
class TenantUsageTriggersTest {

  private static final String JAN = "2040-01-01";
  private static final String FEB = "2040-02-01";
  private static final String MAR = "2040-03-01";
  private static final String APR = "2040-04-01";

  private AppDatabase db;
  private long acme;
  private long globex;

  @BeforeEach
  void freshDatabase() throws Exception {
    db = AppDatabase.create();
    acme = db.tenant("acme");
    globex = db.tenant("globex");
  }

  private Connection in(String month) throws SQLException {
    Connection c = db.connect();
    try (Statement st = c.createStatement()) {
      st.execute("SET silo.usage_month = '" + month + "'");
    }
    return c;
  }

  /** Inserts one document in its own connection and transaction, counted in {@code month}. */
  private long insertIn(String month, long tenant, String filename, long size) throws SQLException {
    try (Connection c = in(month)) {
      return document(c, tenant, filename, size);
    }
  }

  private static void run(Connection c, String sql) throws SQLException {
    try (Statement st = c.createStatement()) {
      st.execute(sql);
    }
  }

  @Test
  void insertsDeletesAndSizeUpdatesKeepTheMonthEqualToARecount() throws Exception {
    try (Connection c = in(JAN)) {
      long a1 = document(c, acme, "a1.pdf", 1_000);
      document(c, acme, "a2.pdf", 2_500);
      document(c, globex, "g1.pdf", 7);
      assertThat(db.usage(acme, JAN)).containsExactly(3_500, 2);
      assertThat(db.usage(globex, JAN)).containsExactly(7, 1);

      run(c, "UPDATE documents SET size_bytes = 4000 WHERE id = " + a1);
      assertThat(db.usage(acme, JAN)).containsExactly(6_500, 2);
      // Updates of other columns leave usage alone.
      run(c, "UPDATE documents SET filename = 'renamed.pdf', content_type = 'text/plain' WHERE id = " + a1);
      assertThat(db.usage(acme, JAN)).containsExactly(6_500, 2);

      run(c, "DELETE FROM documents WHERE id = " + a1);
      assertThat(db.usage(acme, JAN)).containsExactly(2_500, 1);
      // One multi-row, multi-tenant statement.
      run(c, "INSERT INTO documents (tenant_id, filename, s3_bucket, s3_key, size_bytes) VALUES"
          + " (" + acme + ", 'b1', 's', 'k1', 10), (" + globex + ", 'b2', 's', 'k2', 20), (" + acme + ", 'b3', 's', 'k3', 30)");
      run(c, "DELETE FROM documents WHERE size_bytes < 25");
    }
    assertThat(db.usage(acme, JAN)).isEqualTo(db.recount(acme)).containsExactly(2_530, 2);
    assertThat(db.usage(globex, JAN)).isEqualTo(db.recount(globex)).containsExactly(0, 0);
    assertThat(openDrift()).isZero();
  }

  @Test
  void movingADocumentToAnotherTenantMovesItsBytesAndItsCount() throws Exception {
    try (Connection c = in(JAN)) {
      long doc = document(c, acme, "contract.pdf", 5_000);
      document(c, acme, "other.pdf", 1);
      run(c, "UPDATE documents SET tenant_id = " + globex + " WHERE id = " + doc);
      assertThat(db.usage(acme, JAN)).containsExactly(1, 1);
      assertThat(db.usage(globex, JAN)).containsExactly(5_000, 1);
      // Moved back with a new size in the same statement.
      run(c, "UPDATE documents SET tenant_id = " + acme + ", size_bytes = 6000 WHERE id = " + doc);
    }
    assertThat(db.usage(acme, JAN)).isEqualTo(db.recount(acme)).containsExactly(6_001, 2);
    assertThat(db.usage(globex, JAN)).isEqualTo(db.recount(globex)).containsExactly(0, 0);
  }

  @Test
  void theFirstWriteOfAMonthCarriesTotalsForwardAndLeavesTheEarlierMonthAsItWas() throws Exception {
    long quiet = db.tenant("quiet");
    try (Connection c = in(JAN)) {
      document(c, acme, "a.pdf", 100);
      document(c, acme, "b.pdf", 200);
      document(c, quiet, "q.pdf", 50);
    }
    insertIn(FEB, acme, "c.pdf", 1_000);
    assertThat(db.usage(acme, JAN)).containsExactly(300, 2);
    assertThat(db.usage(acme, FEB)).containsExactly(1_300, 3);
    // A tenant without writes in February has no row yet; its next write carries January forward.
    assertThat(db.usage(quiet, FEB)).isNull();
    try (Connection c = in(MAR)) {
      run(c, "DELETE FROM documents WHERE filename = 'q.pdf'");
    }
    assertThat(db.usage(quiet, MAR)).containsExactly(0, 0);
    assertThat(db.usage(quiet, JAN)).containsExactly(50, 1);
    assertThat(db.usage(quiet, FEB)).as("a gap month is filled by reconcile, not by writes").isNull();
  }

  @Test
  void aBackDatedWriteReachesEveryLaterMonthOnRecord() throws Exception {
    insertIn(JAN, acme, "a.pdf", 100);
    insertIn(MAR, acme, "b.pdf", 10);
    insertIn(FEB, acme, "late.pdf", 5);
    assertThat(db.usage(acme, JAN)).containsExactly(100, 1);
    assertThat(db.usage(acme, FEB)).containsExactly(105, 2);
    assertThat(db.usage(acme, MAR)).isEqualTo(db.recount(acme)).containsExactly(115, 3);
  }

  @Test
  void applyingTheMigrationBackfillsTheCurrentMonthForEveryTenantIncludingOnesWithoutDocuments() throws Exception {
    AppDatabase legacy = AppDatabase.createWithoutSilo();
    long acme = legacy.tenant("acme");
    long empty = legacy.tenant("empty");
    try (Connection c = legacy.connect()) {
      document(c, acme, "a.pdf", 3 * 1_048_576L);
      document(c, acme, "b.pdf", 524_288);
    }
    legacy.applySiloAppMigrations();

    String month = (String) legacy.rows("SELECT to_char(date_trunc('month', now() AT TIME ZONE 'UTC'), 'YYYY-MM-DD')")
        .get(0).get(0);
    assertThat(legacy.usage(acme, month)).isEqualTo(legacy.recount(acme)).containsExactly(3_670_016, 2);
    assertThat(legacy.usage(empty, month)).containsExactly(0, 0);
    // MiB, rounded to three decimals, and the seed's support query as written in the guide.
    assertThat(legacy.rows("SELECT t.name, tu.storage_used_mb, tu.documents_count FROM tenants t JOIN tenant_usage tu"
        + " ON t.id = tu.tenant_id WHERE tu.month = date_trunc('month', CURRENT_DATE) ORDER BY t.name"))
        .containsExactly(List.of("Tenant acme", new java.math.BigDecimal("3.500"), 2L),
            List.of("Tenant empty", new java.math.BigDecimal("0.000"), 0L));
  }

  @Test
  void aTriggerThatFailsRecordsDriftAndTheApplicationWriteStillCommits() throws Exception {
    insertIn(JAN, acme, "a.pdf", 100);
    try (Connection c = in("not a month"); Statement st = c.createStatement()) {
      assertThat(st.executeUpdate("INSERT INTO documents (tenant_id, filename, s3_bucket, s3_key, size_bytes)"
          + " VALUES (" + acme + ", 'b.pdf', 's', 'k', 40)")).isEqualTo(1);
      assertThat((Object) st.getWarnings()).as("the failure is raised as a WARNING").isNotNull();
      assertThat(st.getWarnings().getMessage()).contains("tenant_usage missed a change", "silo usage --reconcile");
    }
    assertThat(db.recount(acme)).containsExactly(140, 2);
    assertThat(db.usage(acme, JAN)).containsExactly(100, 1);
    assertThat(db.rows("SELECT tenant_id, bytes_delta, documents_delta, operation, sqlstate FROM silo.usage_drift"))
        .containsExactly(List.of(acme, 40L, 1L, "INSERT", "22007"));

    List<Object> report = reconcile(acme, JAN, true);
    assertThat(report).containsExactly(true, 100L, 1L, 140L, 2L, 0, 1);
    assertThat(db.usage(acme, JAN)).containsExactly(140, 2);
    assertThat(openDrift()).isZero();
  }

  @Test
  void reconcileReportsDriftWithoutChangesOnADryRunThenRepairsAndFillsGapMonths() throws Exception {
    insertIn(JAN, acme, "a.pdf", 100);
    insertIn(APR, acme, "b.pdf", 1);
    db.execute("UPDATE tenant_usage SET storage_bytes = 999 WHERE tenant_id = " + acme + " AND month = '" + APR + "'");

    assertThat(reconcile(acme, APR, false)).containsExactly(true, 999L, 2L, 101L, 2L, 0, 0);
    assertThat(db.usage(acme, APR)).containsExactly(999, 2);
    assertThat(db.usage(acme, FEB)).isNull();

    assertThat(reconcile(acme, APR, true)).containsExactly(true, 999L, 2L, 101L, 2L, 2, 0);
    assertThat(db.usage(acme, APR)).containsExactly(101, 2);
    assertThat(db.usage(acme, FEB)).containsExactly(100, 1);
    assertThat(db.usage(acme, MAR)).containsExactly(100, 1);
    // A tenant that never had a row gets one.
    long fresh = db.tenant("fresh");
    assertThat(reconcile(fresh, APR, true)).containsExactly(false, null, null, 0L, 0L, 0, 0);
    assertThat(db.usage(fresh, APR)).containsExactly(0, 0);
  }

  @Test
  void anApplicationRoleWithoutGrantsOnSiloTablesAndWithADecoySearchPathUpdatesTheRealTable() throws Exception {
    // Roles are cluster-wide and the cluster lives as long as the test JVM.
    db.execute("DO $$ BEGIN CREATE ROLE legacy_app LOGIN PASSWORD 'app'; EXCEPTION WHEN duplicate_object THEN NULL;"
        + " END $$");
    db.execute("GRANT USAGE ON SCHEMA public TO legacy_app");
    db.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON public.documents, public.tenants TO legacy_app");
    db.execute("GRANT USAGE ON SEQUENCE public.documents_id_seq TO legacy_app");
    db.execute("CREATE SCHEMA decoy AUTHORIZATION legacy_app");
    try (Connection c = db.connectAs("legacy_app", "app")) {
      run(c, "CREATE TABLE decoy.tenant_usage (tenant_id bigint, month date, storage_bytes bigint,"
          + " documents_count bigint, updated_at timestamptz)");
      run(c, "CREATE FUNCTION decoy.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT timestamptz '1999-01-01' $$");
      run(c, "SET search_path = decoy, pg_catalog, public");
      run(c, "SET silo.usage_month = '" + JAN + "'");
      document(c, acme, "a.pdf", 77);
      try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT count(*) FROM decoy.tenant_usage")) {
        rs.next();
        assertThat(rs.getLong(1)).as("rows in the decoy").isZero();
      }
    }
    assertThat(db.usage(acme, JAN)).containsExactly(77, 1);
    assertThat(openDrift()).isZero();
  }

  @Test
  void transactionsThatTouchTwoTenantsInOppositeOrdersNeverFailTheApplicationAndReconcileMakesTotalsExact()
      throws Exception {
    long a = db.tenant("tenant-a");
    long b = db.tenant("tenant-b");
    CyclicBarrier bothWroteFirst = new CyclicBarrier(2);
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      List<Future<Long>> writes = new ArrayList<>();
      for (long[] order : List.of(new long[] {a, b}, new long[] {b, a})) {
        writes.add(pool.submit(() -> {
          try (Connection c = in(JAN)) {
            c.setAutoCommit(false);
            document(c, order[0], "first.pdf", 10);
            bothWroteFirst.await(10, TimeUnit.SECONDS);
            long id = document(c, order[1], "second.pdf", 20);
            c.commit();
            return id;
          }
        }));
      }
      for (Future<Long> w : writes) {
        assertThat(w.get(60, TimeUnit.SECONDS)).as("the application's transaction committed").isPositive();
      }
    } finally {
      pool.shutdownNow();
    }
    // Each waited for the other's lock on its usage: a deadlock, which the trigger of one swallowed and recorded.
    assertThat(db.recount(a)).containsExactly(30, 2);
    assertThat(db.recount(b)).containsExactly(30, 2);
    assertThat(openDrift()).isEqualTo(1);
    for (long tenant : List.of(a, b)) {
      reconcile(tenant, JAN, true);
      assertThat(db.usage(tenant, JAN)).isEqualTo(db.recount(tenant));
    }
    assertThat(openDrift()).isZero();
  }

  /**
   * Eight connections write at once (inserts, deletes, size changes, moves between tenants), and each switches from
   * February to March at a point of its own, so March is first touched while others still write February: the
   * carry-forward race. March must equal a recount; February must hold what was written in February.
   */
  @Test
  void aConcurrentBurstAcrossAMonthRolloverKeepsTotalsExact() throws Exception {
    List<Long> tenants = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      tenants.add(db.tenant("burst-" + i));
    }
    int threads = 8;
    int transactions = 120;
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    CyclicBarrier start = new CyclicBarrier(threads);
    List<Future<Map<String, long[]>>> results = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      long seed = 1_000 + t;
      results.add(pool.submit(() -> burst(new Random(seed), tenants, transactions, start)));
    }
    Map<String, long[]> writtenInFeb = new HashMap<>();
    try {
      for (Future<Map<String, long[]>> r : results) {
        r.get(5, TimeUnit.MINUTES).forEach((key, delta) -> writtenInFeb.merge(key, delta,
            (x, y) -> new long[] {x[0] + y[0], x[1] + y[1]}));
      }
    } finally {
      pool.shutdownNow();
    }
    assertThat(db.rows("SELECT operation, sqlstate, message FROM silo.usage_drift")).as("no write was missed").isEmpty();
    for (long tenant : tenants) {
      assertThat(db.usage(tenant, MAR)).as("March of tenant %d", tenant).isEqualTo(db.recount(tenant));
      long[] feb = writtenInFeb.getOrDefault(String.valueOf(tenant), new long[2]);
      long[] row = db.usage(tenant, FEB);
      assertThat(row == null ? new long[2] : row).as("February of tenant %d", tenant).isEqualTo(feb);
    }
  }

  /** One connection's share of the burst; returns the deltas it committed in February, per tenant id. */
  private Map<String, long[]> burst(Random random, List<Long> tenants, int transactions, CyclicBarrier start)
      throws Exception {
    Map<String, long[]> feb = new HashMap<>();
    // Own documents as {id, tenant, size}; nobody else touches them, so only tenant_usage is contended.
    List<long[]> mine = new ArrayList<>();
    int switchAt = random.nextInt(transactions);
    try (Connection c = in(FEB)) {
      c.setAutoCommit(false);
      start.await(30, TimeUnit.SECONDS);
      for (int i = 0; i < transactions; i++) {
        boolean inFeb = i < switchAt;
        if (i == switchAt) {
          run(c, "SET silo.usage_month = '" + MAR + "'");
          c.commit();
        }
        Map<String, long[]> deltas = new HashMap<>();
        int op = mine.isEmpty() ? 0 : random.nextInt(4);
        long tenant = tenants.get(random.nextInt(tenants.size()));
        if (op == 0) {
          long size = 1 + random.nextInt(5_000_000);
          mine.add(new long[] {document(c, tenant, "f" + i, size), tenant, size});
          add(deltas, tenant, size, 1);
        } else {
          int index = random.nextInt(mine.size());
          long[] doc = mine.get(index);
          if (op == 1) {
            run(c, "DELETE FROM documents WHERE id = " + doc[0]);
            mine.remove(index);
            add(deltas, doc[1], -doc[2], -1);
          } else if (op == 2) {
            long size = random.nextInt(5_000_000);
            run(c, "UPDATE documents SET size_bytes = " + size + " WHERE id = " + doc[0]);
            add(deltas, doc[1], size - doc[2], 0);
            doc[2] = size;
          } else {
            run(c, "UPDATE documents SET tenant_id = " + tenant + " WHERE id = " + doc[0]);
            add(deltas, doc[1], -doc[2], -1);
            add(deltas, tenant, doc[2], 1);
            doc[1] = tenant;
          }
        }
        c.commit();
        if (inFeb) {
          deltas.forEach((key, d) -> add(feb, Long.parseLong(key), d[0], d[1]));
        }
      }
    }
    return feb;
  }

  private static void add(Map<String, long[]> deltas, long tenant, long bytes, long count) {
    long[] d = deltas.computeIfAbsent(String.valueOf(tenant), k -> new long[2]);
    d[0] += bytes;
    d[1] += count;
  }

  private List<Object> reconcile(long tenant, String month, boolean apply) throws SQLException {
    try (Connection c = db.connect();
         PreparedStatement ps = c.prepareStatement("SELECT * FROM silo.usage_reconcile(?, ?::date, ?)")) {
      ps.setLong(1, tenant);
      ps.setString(2, month);
      ps.setBoolean(3, apply);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        List<Object> out = new ArrayList<>();
        for (int i = 1; i <= 7; i++) {
          out.add(rs.getObject(i));
        }
        return out;
      }
    }
  }

  private long openDrift() throws SQLException {
    return ((Number) db.rows("SELECT count(*) FROM silo.usage_drift WHERE resolved_at IS NULL").get(0).get(0))
        .longValue();
  }
}
