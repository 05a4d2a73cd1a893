package io.silo.store;

import static org.assertj.core.api.Assertions.assertThat;

import io.silo.config.SiloConfig;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.sql.Connection;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The usage store's own SQL over Vert.x's pool: the current-month fill and a whole reconcile. */
class UsageStoreTest {

  private Vertx vertx;
  private Database database;
  private AppDatabase app;
  private UsageStore store;
  private String month;

  @BeforeEach
  void open() throws Exception {
    // The application's tables first; opening the database then applies Silo's schema and db/app, as at start-up.
    app = AppDatabase.createWithoutSilo();
    vertx = Vertx.vertx();
    database = await(Database.open(vertx, SiloConfig.of(app.settings)));
    store = new UsageStore(database.pool(), database.tables(), () -> Future.succeededFuture(true));
    month = LocalDate.now(ZoneOffset.UTC).withDayOfMonth(1).toString();
  }

  @AfterEach
  void close() throws Exception {
    database.close();
    await(vertx.close());
  }

  private static <T> T await(Future<T> future) throws Exception {
    return future.toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
  }

  @Test
  void theCurrentMonthFillGivesEveryTenantWithoutARowOneCarriedForward() throws Exception {
    long quiet = app.tenant("quiet");
    long late = app.tenant("late");
    app.execute("INSERT INTO tenant_usage (tenant_id, month, storage_bytes, documents_count) VALUES (" + quiet
        + ", DATE '" + month + "' - interval '2 months', 4096, 3)");

    assertThat(await(store.fillCurrentMonth())).isEqualTo(2);

    assertThat(app.usage(quiet, month)).containsExactly(4_096, 3);
    assertThat(app.usage(late, month)).containsExactly(0, 0);
    assertThat(await(store.fillCurrentMonth())).as("nothing left to fill").isZero();
  }

  @Test
  void aWholeReconcileRepairsEveryTenantAndResolvesTheEveryTenantMarkersItSaw() throws Exception {
    long acme = app.tenant("acme");
    long globex = app.tenant("globex");
    try (Connection c = app.connect()) {
      AppDatabase.document(c, acme, "a.pdf", 100);
      AppDatabase.document(c, globex, "g.pdf", 7);
    }
    app.execute("TRUNCATE documents");
    try (Connection c = app.connect()) {
      AppDatabase.document(c, acme, "b.pdf", 5);
    }

    UsageStore.Reconcile onlyGlobex = await(store.reconcile("globex", true));
    assertThat(onlyGlobex.tenants()).extracting(UsageStore.Reconciled::tenant).containsExactly("globex");
    assertThat(onlyGlobex.globalMarkersResolved()).as("a one-tenant reconcile leaves the TRUNCATE marker").isZero();

    UsageStore.Reconcile all = await(store.reconcile("", true));
    assertThat(all.month().toString()).isEqualTo(month);
    assertThat(all.tenants()).filteredOn(UsageStore.Reconciled::drifted).extracting(UsageStore.Reconciled::tenant)
        .containsExactly("acme");
    assertThat(all.globalMarkersResolved()).isEqualTo(1);
    assertThat(app.usage(acme, month)).isEqualTo(app.recount(acme)).containsExactly(5, 1);
    assertThat(app.usage(globex, month)).isEqualTo(app.recount(globex)).containsExactly(0, 0);
    assertThat(app.rows("SELECT count(*) FROM silo.usage_drift WHERE resolved_at IS NULL"))
        .isEqualTo(List.of(List.of(0L)));
  }
}
