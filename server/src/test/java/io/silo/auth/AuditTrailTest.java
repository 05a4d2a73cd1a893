package io.silo.auth;

import static io.silo.auth.AuthTestSupport.ADMIN;
import static io.silo.auth.AuthTestSupport.OPERATOR;
import static io.silo.auth.AuthTestSupport.OWN;
import static io.silo.auth.AuthTestSupport.VIEWER;
import static io.silo.auth.AuthTestSupport.as;
import static io.silo.auth.AuthTestSupport.statusOf;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.Timestamp;
import io.grpc.Channel;
import io.grpc.Status;
import io.silo.TestServer;
import io.silo.api.v1.AuditEvent;
import io.silo.api.v1.AuditServiceGrpc;
import io.silo.api.v1.AuditSource;
import io.silo.api.v1.CreateTenantKeyRequest;
import io.silo.api.v1.GetTenantRequest;
import io.silo.api.v1.KeyServiceGrpc;
import io.silo.api.v1.ListAuditEventsRequest;
import io.silo.api.v1.ListAuditEventsResponse;
import io.silo.api.v1.ListTenantsRequest;
import io.silo.api.v1.RegisterTenantRequest;
import io.silo.api.v1.TenantServiceGrpc;
import io.silo.cli.SiloCli;
import io.silo.jobs.MigrationFixture;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import picocli.CommandLine;

/**
 * The audit trail against a real server and PostgreSQL: which calls leave a row and what it holds, the joined read-out
 * with key operations, its filters and pages, the CLI, the append-only table, and a stalled or failing PostgreSQL that
 * neither delays nor fails a call but is counted.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class AuditTrailTest {

  private TestServer server;

  @BeforeAll
  void start() throws Exception {
    server = TestServer.startWithMongo(Map.of("auth.tokens", AuthTestSupport.TOKENS),
        Files.createTempDirectory("silo-audit"));
  }

  @AfterAll
  void stop() throws Exception {
    if (server != null) {
      server.close();
    }
  }

  @Test
  @Order(1)
  void mutatingAndRefusedCallsLeaveARowNamingTheCallerButNeverTheToken() throws Exception {
    RegisterTenantRequest register = RegisterTenantRequest.newBuilder().setSlug(OWN).setDisplayName("Acme").build();
    tenants(ADMIN).registerTenant(register);
    statusOf(() -> tenants(VIEWER).registerTenant(register.toBuilder().setSlug("viewer-co").build()));
    statusOf(() -> tenants("not-a-real-token").listTenants(ListTenantsRequest.getDefaultInstance()));
    statusOf(() -> tenants(null).getTenant(GetTenantRequest.newBuilder().setSlug(OWN).build()));
    statusOf(() -> tenants(ADMIN).getTenant(GetTenantRequest.newBuilder().setSlug("Not A Slug").build()));
    tenants(ADMIN).listTenants(ListTenantsRequest.getDefaultInstance());
    tenants(ADMIN).getTenant(GetTenantRequest.newBuilder().setSlug(OWN).build());
    KeyServiceGrpc.newBlockingStub(as(server.channel, ADMIN)).createTenantKey(
        CreateTenantKeyRequest.newBuilder().setTenant(OWN).build());
    awaitRows(6);

    List<AuditEvent> calls = audit(ListAuditEventsRequest.newBuilder().setCallsOnly(true)).getEventsList();
    assertThat(calls).extracting(e -> e.getAction().replace("silo.v1.", ""), AuditEvent::getCaller,
        AuditEvent::getTenant, AuditEvent::getOutcome).containsExactly(
        org.assertj.core.groups.Tuple.tuple("TenantService/RegisterTenant", "token:root", OWN, "OK"),
        org.assertj.core.groups.Tuple.tuple("TenantService/RegisterTenant", "token:look", "viewer-co",
            "PERMISSION_DENIED"),
        org.assertj.core.groups.Tuple.tuple("TenantService/ListTenants",
            "invalid-token:" + AuditTrail.sha256("Bearer not-a-real-token".getBytes()).substring(0, 12), "",
            "UNAUTHENTICATED"),
        org.assertj.core.groups.Tuple.tuple("TenantService/GetTenant", "anonymous", OWN, "UNAUTHENTICATED"),
        org.assertj.core.groups.Tuple.tuple("TenantService/GetTenant", "token:root", "Not A Slug",
            "INVALID_ARGUMENT"),
        org.assertj.core.groups.Tuple.tuple("KeyService/CreateTenantKey", "token:root", OWN, "OK"));
    assertThat(calls.get(0).getRequestSha256()).as("digest of the request's protobuf bytes")
        .isEqualTo(AuditTrail.sha256(register.toByteArray()));
    assertThat(calls.get(1).getMessage()).contains("needs the admin role");
    assertThat(calls).allSatisfy(e -> assertThat(e.getPeer()).isEqualTo("127.0.0.1"));

    String everything = String.valueOf(server.queryOne(
        "SELECT string_agg(row_to_json(a)::text, ' ') FROM silo.audit_log a"));
    for (String token : List.of(ADMIN, VIEWER, "not-a-real-token")) {
      assertThat(everything).as("no token is stored").doesNotContain(token);
    }
  }

  @Test
  @Order(2)
  void theReadOutJoinsKeyOperationsAndFiltersByTenantTimeAndPage() throws Exception {
    List<AuditEvent> all = audit(ListAuditEventsRequest.newBuilder()).getEventsList();
    assertThat(all).anySatisfy(e -> {
      assertThat(e.getSource()).isEqualTo(AuditSource.AUDIT_SOURCE_KEY);
      assertThat(e.getAction()).isEqualTo("CREATE");
      assertThat(e.getTenant()).isEqualTo(OWN);
      assertThat(e.getDetails()).startsWith("key_id=");
    });
    assertThat(all).as("oldest first").isSortedAccordingTo(java.util.Comparator.comparing(
        (AuditEvent e) -> e.getTime().getSeconds() * 1_000_000_000L + e.getTime().getNanos()));
    assertThat(audit(ListAuditEventsRequest.newBuilder().setTenant(OWN)).getEventsList())
        .isNotEmpty().allSatisfy(e -> assertThat(e.getTenant()).isEqualTo(OWN));
    Timestamp last = all.get(all.size() - 1).getTime();
    assertThat(audit(ListAuditEventsRequest.newBuilder().setSince(last)).getEventsList())
        .allSatisfy(e -> assertThat(e.getTime().getSeconds()).isGreaterThanOrEqualTo(last.getSeconds()))
        .hasSizeLessThan(all.size());

    List<String> paged = new ArrayList<>();
    Set<String> tokens = new HashSet<>();
    String token = "";
    do {
      ListAuditEventsResponse page = audit(ListAuditEventsRequest.newBuilder().setPageSize(2).setPageToken(token));
      page.getEventsList().forEach(e -> paged.add(e.getSource() + "/" + e.getId()));
      token = page.getNextPageToken();
    } while (!token.isEmpty() && tokens.add(token));
    List<String> whole = all.stream().map(e -> e.getSource() + "/" + e.getId()).toList();
    // Reading the audit is audited too, so later pages may hold rows the first read did not.
    assertThat(paged).startsWith(whole.toArray(String[]::new)).doesNotHaveDuplicates();

    Status operator = statusOf(() -> AuditServiceGrpc.newBlockingStub(as(server.channel, OPERATOR))
        .listAuditEvents(ListAuditEventsRequest.getDefaultInstance()));
    assertThat(operator.getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
    Status forged = statusOf(() -> audit(ListAuditEventsRequest.newBuilder().setPageToken(
        io.silo.api.Validation.encodePageToken("audit", "1:secrets:1"))));
    assertThat(forged.getDescription()).startsWith("page_token:");
    Status badSince = statusOf(() -> audit(ListAuditEventsRequest.newBuilder().setSince(
        Timestamp.newBuilder().setSeconds(253_402_300_800L))));
    assertThat(badSince.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(badSince.getDescription()).startsWith("since:");
  }

  @Test
  @Order(3)
  void theCliPrintsTheTrailOfATenant() {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cli = SiloCli.commandLine();
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    int code = cli.execute("--server", "127.0.0.1:" + server.server.port(), "--token", ADMIN, "audit",
        "--tenant", OWN, "--since", "2000-01-01T00:00:00Z", "--all", "-o", "json");
    assertThat(code).as("stderr: %s", err).isZero();
    assertThat(out.toString()).contains("silo.v1.TenantService/RegisterTenant").contains("AUDIT_SOURCE_KEY")
        .doesNotContain("viewer-co");
  }

  @Test
  @Order(4)
  void theTableRefusesUpdateDeleteAndTruncate() {
    for (String sql : List.of("UPDATE silo.audit_log SET outcome = 'OK'", "DELETE FROM silo.audit_log",
        "TRUNCATE silo.audit_log")) {
      assertThatThrownBy(() -> execute(sql)).as(sql).isInstanceOf(SQLException.class)
          .hasMessageContaining("audit_log is append-only");
    }
  }

  @Test
  @Order(5)
  void aStalledOrFailingDatabaseNeitherDelaysNorFailsCallsAndIsCounted() throws Exception {
    long before = rows();
    try (Connection lock = connection()) {
      lock.setAutoCommit(false);
      try (Statement st = lock.createStatement()) {
        st.execute("LOCK TABLE silo.audit_log IN ACCESS EXCLUSIVE MODE");
      }
      long started = System.nanoTime();
      tenants(ADMIN).registerTenant(RegisterTenantRequest.newBuilder().setSlug("stalled-co").setDisplayName("S")
          .build());
      for (int i = 0; i <= AuditTrail.MAX_IN_FLIGHT; i++) {
        statusOf(() -> tenants("not-a-real-token").listTenants(ListTenantsRequest.getDefaultInstance()));
      }
      assertThat(Duration.ofNanos(System.nanoTime() - started)).as("calls answered while audit rows wait")
          .isLessThan(Duration.ofSeconds(20));
      assertThat(counter("silo_audit_dropped")).as("rows beyond the in-flight limit are dropped and counted")
          .isGreaterThanOrEqualTo(1);
      lock.rollback();
    }
    MigrationFixture.awaitTrue(Duration.ofSeconds(30), "the waiting rows are written", () -> rows()
        == before + AuditTrail.MAX_IN_FLIGHT);

    execute("ALTER TABLE silo.audit_log ADD CONSTRAINT refuse_rows CHECK (false) NOT VALID");
    try {
      tenants(ADMIN).registerTenant(RegisterTenantRequest.newBuilder().setSlug("failing-co").setDisplayName("F")
          .build());
      MigrationFixture.awaitTrue(Duration.ofSeconds(30), "the failed write is counted",
          () -> counter("silo_audit_write_failures") >= 1);
    } finally {
      execute("ALTER TABLE silo.audit_log DROP CONSTRAINT refuse_rows");
    }
  }

  private double counter(String name) {
    var counter = server.server.metrics().find(name).counter();
    return counter == null ? 0 : counter.count();
  }

  private TenantServiceGrpc.TenantServiceBlockingStub tenants(String token) {
    Channel channel = as(server.channel, token);
    return TenantServiceGrpc.newBlockingStub(channel);
  }

  private ListAuditEventsResponse audit(ListAuditEventsRequest.Builder request) {
    return AuditServiceGrpc.newBlockingStub(as(server.channel, ADMIN)).listAuditEvents(request.build());
  }

  private long rows() {
    try {
      return ((Number) server.queryOne("SELECT count(*) FROM silo.audit_log")).longValue();
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  private void awaitRows(long count) throws Exception {
    MigrationFixture.awaitTrue(Duration.ofSeconds(30), count + " audit rows", () -> rows() >= count);
  }

  private Connection connection() throws SQLException {
    Map<String, Object> s = server.settings;
    return DriverManager.getConnection("jdbc:postgresql://localhost:" + s.get("postgres.port") + "/"
        + s.get("postgres.database"), (String) s.get("postgres.user"), (String) s.get("postgres.password"));
  }

  private void execute(String sql) throws SQLException {
    try (Connection c = connection(); Statement st = c.createStatement()) {
      st.execute(sql);
    }
  }
}
