package io.silo.ui;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.mongodb.client.MongoClient;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.Metadata;
import io.grpc.stub.MetadataUtils;
import io.silo.TestServer;
import io.silo.api.v1.CreateTenantKeyRequest;
import io.silo.api.v1.KeyServiceGrpc;
import io.silo.api.v1.ListMigrationsRequest;
import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationServiceGrpc;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.RegisterTenantRequest;
import io.silo.api.v1.StartMigrationRequest;
import io.silo.api.v1.TenantServiceGrpc;
import io.silo.auth.TokenRegistry;
import io.silo.bench.LatencyProxy;
import io.silo.jobs.MigrationFixture;
import io.vertx.core.json.JsonArray;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The dashboard at /ui in a real headless Chromium against a real Silo with MongoDB, signed in with each kind of
 * token. Migrations are throttled as in MigrationLifecycleTest (batches of 10, a KMS budget of 20 permits a second,
 * so about 200 documents a second) so that live progress and a pause half-way can be seen. Screenshots of the main
 * views go to target/ui-screenshots.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DashboardBrowserTest {

  private static final String ADMIN = "dash-admin-token-0001";
  private static final String OPERATOR = "dash-operator-token-0002";
  private static final String VIEWER = "dash-viewer-token-0003";
  private static final String SCOPED = "dash-scoped-token-0004";
  private static final List<String> TENANTS = List.of("acme-co", "globex-co", "initech-co");
  private static final Path SHOTS = Path.of("target", "ui-screenshots");

  private TestServer server;
  private MongoClient mongo;
  private HeadlessChromium browser;
  private String base;
  private int navigation;

  @BeforeAll
  void start() throws Exception {
    Path chromium = HeadlessChromium.binary();
    assumeTrue(chromium != null, "no Chromium on this machine: install the Debian packages "
        + HeadlessChromium.PACKAGES + " to run the dashboard's browser test");
    server = TestServer.startWithMongo(Map.of(
        "auth.tokens", List.of("root:admin:" + TokenRegistry.hashHex(ADMIN),
            "ops:operator:" + TokenRegistry.hashHex(OPERATOR), "look:viewer:" + TokenRegistry.hashHex(VIEWER),
            "acme-ops:operator:acme-co:" + TokenRegistry.hashHex(SCOPED)),
        "migration.batchSize", 10, "migration.batchesInFlight", 1, "jobs.pollMillis", 100,
        "kms.budget.ratePerSecond", 20, "migration.verifyAfterCopy", false),
        Files.createTempDirectory("silo-dashboard"));
    base = "http://127.0.0.1:" + server.server.port();
    mongo = MigrationFixture.plainClient(server);
    for (String tenant : TENANTS) {
      TenantServiceGrpc.newBlockingStub(as(ADMIN)).registerTenant(
          RegisterTenantRequest.newBuilder().setSlug(tenant).setDisplayName(tenant.replace("-co", " Co")).build());
      KeyServiceGrpc.newBlockingStub(as(ADMIN)).createTenantKey(
          CreateTenantKeyRequest.newBuilder().setTenant(tenant).build());
    }
    MigrationFixture.seed(mongo, "legacy.patients", 500, "acme-co");
    MigrationFixture.seed(mongo, "legacy.patients", 300, "initech-co");
    MigrationFixture.seed(mongo, "legacy.patients", 30, "globex-co");
    browser = HeadlessChromium.start(chromium);
  }

  @AfterAll
  void stop() throws Exception {
    if (browser != null) {
      browser.close();
    }
    if (mongo != null) {
      mongo.close();
    }
    if (server != null) {
      server.close();
    }
  }

  @Test
  @Order(1)
  void tenantListLoadsWithStateKeysAndUsage() throws Exception {
    signIn(ADMIN, 3);
    assertThat(tenantsShown())
        .containsExactlyElementsOf(TENANTS);
    assertThat(text(".tenant[data-tenant=\"acme-co\"] .status")).isEqualTo("pooled");
    assertThat(text(".tenant[data-tenant=\"acme-co\"] .state")).isEqualTo("no migration");
    // This server has no application documents table, so usage cannot be reported; the page says so, not fails.
    assertThat(text(".tenant[data-tenant=\"acme-co\"] .usage")).isEqualTo("usage n/a");
    assertThat(text("#who")).isEqualTo("root · admin");
    openDetails("globex-co", ".keys", "textContent.includes('provider local')");
    browser.screenshot(SHOTS.resolve("01-tenants.png"));
  }

  @Test
  @Order(2)
  void migrationStartedThroughTheApiShowsLiveProgressToCompletion() throws Exception {
    signIn(ADMIN, 3);
    String row = ".tenant[data-tenant=\"initech-co\"]";
    startThroughApi("initech-co");
    // Seen on the open page through the watch stream alone: nothing reloads the list.
    browser.await(Duration.ofSeconds(5), "initech-co running on the page",
        "document.querySelector('" + row + " .state').textContent === 'running'");
    browser.await(Duration.ofSeconds(20), "initech-co's MONGO bar part-way",
        "(b => b && b.value > 0 && b.value < b.max)(document.querySelector('" + row
            + " .phase[data-phase=MONGO] progress'))");
    assertThat(text(row + " .phase[data-phase=MONGO] .phase-detail")).contains("/ 300").contains("/s").contains("ETA");
    browser.screenshot(SHOTS.resolve("02-live-progress.png"));
    browser.await(Duration.ofSeconds(90), "initech-co completed on the page",
        "document.querySelector('" + row + " .state').textContent === 'completed'");
    assertThat(text(row + " .phase[data-phase=MONGO] .phase-detail")).startsWith("300 / 300");
    assertThat(browser.eval("document.querySelector('" + row + " .phase[data-phase=MONGO] progress').value"))
        .isEqualTo(300);
    assertThat(latest("initech-co").getState()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
    browser.screenshot(SHOTS.resolve("03-completed.png"));
  }

  @Test
  @Order(3)
  void pauseAndResumeFromThePage() throws Exception {
    signIn(OPERATOR, 3);
    String row = ".tenant[data-tenant=\"acme-co\"]";
    browser.await(Duration.ofSeconds(15), "acme-co's start button", "document.querySelector('" + row
        + " [data-action=start]')");
    click(row + " [data-action=start]");
    browser.await(Duration.ofSeconds(10), "acme-co running with a pause button", "document.querySelector('" + row
        + " .state').textContent === 'running' && document.querySelector('" + row + " [data-action=pause]')");
    click(row + " [data-action=pause]");
    browser.await(Duration.ofSeconds(15), "acme-co paused on the page",
        "document.querySelector('" + row + " .state').textContent === 'paused'");
    String id = latest("acme-co").getId();
    Migration paused = MigrationFixture.await(as(ADMIN), id, Duration.ofSeconds(15),
        m -> m.getState() == MigrationState.MIGRATION_STATE_PAUSED, "PAUSED");
    assertThat(MigrationFixture.mongoProgress(paused).getDone()).isLessThan(500);
    browser.screenshot(SHOTS.resolve("04-paused.png"));
    browser.await(Duration.ofSeconds(5), "a resume button", "document.querySelector('" + row
        + " [data-action=resume]')");
    click(row + " [data-action=resume]");
    browser.await(Duration.ofSeconds(90), "acme-co completed on the page",
        "document.querySelector('" + row + " .state').textContent === 'completed'");
    Migration done = MigrationFixture.await(as(ADMIN), id, Duration.ofSeconds(15),
        m -> m.getState() == MigrationState.MIGRATION_STATE_COMPLETED, "COMPLETED");
    assertThat(MigrationFixture.mongoProgress(done).getDone()).isEqualTo(500);
  }

  @Test
  @Order(4)
  void viewerTokenSeesNoActionButtons() throws Exception {
    signIn(VIEWER, 3);
    browser.await(Duration.ofSeconds(15), "acme-co's latest migration", "document.querySelector("
        + "'.tenant[data-tenant=\"acme-co\"] .state').textContent === 'completed'");
    assertThat(text("#who")).isEqualTo("look · viewer");
    assertThat(browser.eval("document.querySelectorAll('.action').length")).isEqualTo(0);
    // The details stay readable: a viewer may look, and run the read-only verify.
    openDetails("acme-co", ".failures", "textContent === 'no failed items'");
    assertThat(browser.eval("document.querySelectorAll('.action').length")).isEqualTo(0);
    browser.screenshot(SHOTS.resolve("05-viewer.png"));
  }

  @Test
  @Order(5)
  void tenantScopedTokenSeesOnlyItsTenant() throws Exception {
    signIn(SCOPED, 1);
    // Other tenants' migrations keep running meanwhile; the scoped page must stay at one row.
    startThroughApi("globex-co");
    Thread.sleep(1500);
    assertThat(tenantsShown())
        .containsExactly("acme-co");
    assertThat(text("#who")).isEqualTo("acme-ops · operator · tenant acme-co");
    browser.screenshot(SHOTS.resolve("06-scoped.png"));
  }

  @Test
  @Order(6)
  void aCutConnectionReconnectsWithBackoffSaysSoAndKeepsShowingProgress() throws Exception {
    try (LatencyProxy relay = LatencyProxy.start(new InetSocketAddress(InetAddress.getLoopbackAddress(),
        server.server.port()), Duration.ZERO)) {
      signIn(ADMIN, 3, "http://127.0.0.1:" + relay.port());
      String row = ".tenant[data-tenant=\"initech-co\"]";
      browser.await(Duration.ofSeconds(15), "the live stream", "document.getElementById('live').textContent === 'live'"
          + " && document.querySelector('" + row + " .state').textContent === 'completed'");
      // Every change of the stream's status and of initech-co's state, in order, as the page showed them.
      browser.eval("window.seen = []; new MutationObserver(() => { const v = document.querySelector('" + row
          + " .state').textContent + ' | ' + document.getElementById('live').textContent;"
          + " if (seen[seen.length - 1] !== v) seen.push(v); }).observe(document.body,"
          + " {subtree: true, childList: true, characterData: true, attributes: true}); true");
      MigrationServiceGrpc.newBlockingStub(as(ADMIN)).startMigration(StartMigrationRequest.newBuilder()
          .addTenants("initech-co").setIdempotencyKey("dashboard-reconnect").build());
      browser.await(Duration.ofSeconds(15), "initech-co's new run on the page",
          "document.querySelector('" + row + " .state').textContent === 'running'");

      // Cut while progress events flow (a stream cut before its first answer is retried by the browser unseen).
      relay.dropConnections();
      try {
        browser.await(Duration.ofSeconds(90), "the run completed on the page after the cut", "seen.some(v =>"
            + " v.includes('reconnecting in')) && document.getElementById('live').textContent === 'live'"
            + " && document.querySelector('" + row + " .state').textContent === 'completed'");
      } catch (AssertionError e) {
        throw new AssertionError(e.getMessage() + "; the page showed: " + browser.eval("JSON.stringify(seen)"), e);
      }
      browser.screenshot(SHOTS.resolve("07-reconnected.png"));
      List<Object> seen = new JsonArray((String) browser.eval("JSON.stringify(seen)")).getList();
      assertThat(seen).as("the cut was shown, with the first backoff").anySatisfy(v ->
          assertThat((String) v).startsWith("running | reconnecting in 0.5 s"));
      int reconnecting = seen.indexOf(seen.stream().filter(v -> ((String) v).contains("reconnecting")).findFirst()
          .orElseThrow());
      assertThat(seen.subList(reconnecting, seen.size())).as("live again after saying so")
          .anySatisfy(v -> assertThat((String) v).endsWith("| live"));
    }
  }

  /** Signs in with {@code token} on a fresh page and waits for {@code rows} tenant rows. */
  private void signIn(String token, int rows) throws Exception {
    signIn(token, rows, base);
  }

  /** Signs in with {@code token} on a fresh page served from {@code origin} and waits for {@code rows} rows. */
  private void signIn(String token, int rows, String origin) throws Exception {
    // A fresh load with an empty sessionStorage, as a person opening the page for the first time.
    browser.open(origin + "/ui?n=" + ++navigation);
    browser.eval("sessionStorage.clear()");
    browser.open(origin + "/ui?n=" + ++navigation);
    browser.eval("document.getElementById('token').value = " + new JsonArray().add(token).encode() + "[0];"
        + " document.getElementById('login-button').click()");
    browser.await(Duration.ofSeconds(10), "the signed-in page", "!document.getElementById('main').hidden");
    browser.await(Duration.ofSeconds(15), rows + " tenant rows", "document.querySelectorAll('.tenant').length === "
        + rows);
  }

  private List<Object> tenantsShown() throws Exception {
    return new JsonArray((String) browser.eval(
        "JSON.stringify([...document.querySelectorAll('.tenant')].map(e => e.dataset.tenant))")).getList();
  }

  private void startThroughApi(String tenant) {
    MigrationServiceGrpc.newBlockingStub(as(ADMIN)).startMigration(StartMigrationRequest.newBuilder()
        .addTenants(tenant).setIdempotencyKey("dashboard-test-" + tenant).build());
  }

  /** Opens a tenant's details and waits until {@code part} of them satisfies {@code condition}. */
  private void openDetails(String tenant, String part, String condition) throws Exception {
    String row = ".tenant[data-tenant=\"" + tenant + "\"]";
    click(row + " .toggle");
    browser.await(Duration.ofSeconds(10), tenant + "'s details " + part + " " + condition,
        "document.querySelector('" + row + " .details " + part + "')." + condition);
  }

  private String text(String selector) throws Exception {
    return (String) browser.eval("document.querySelector(" + new JsonArray().add(selector).encode()
        + "[0]).textContent");
  }

  private void click(String selector) throws Exception {
    browser.eval("document.querySelector(" + new JsonArray().add(selector).encode() + "[0]).click()");
  }

  private Migration latest(String tenant) {
    return MigrationServiceGrpc.newBlockingStub(as(ADMIN)).listMigrations(ListMigrationsRequest.newBuilder()
        .setTenant(tenant).setPageSize(1).build()).getMigrations(0);
  }

  private Channel as(String token) {
    Metadata headers = new Metadata();
    headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
    return ClientInterceptors.intercept(server.channel, MetadataUtils.newAttachHeadersInterceptor(headers));
  }
}
