package io.silo.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.util.JsonFormat;
import io.silo.api.v1.GetTenantResponse;
import io.silo.api.v1.ListTenantsRequest;
import io.silo.api.v1.ListTenantsResponse;
import io.silo.api.v1.RegisterTenantResponse;
import io.silo.api.v1.Tenant;
import io.silo.api.v1.TenantStatus;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class TenantCommandsTest {

  private FakeSiloServer server;

  @BeforeEach
  void start() throws Exception {
    server = new FakeSiloServer();
  }

  @AfterEach
  void stop() throws Exception {
    server.close();
  }

  private CliRun silo(String... args) {
    String[] all = new String[args.length + 2];
    all[0] = "--server";
    all[1] = server.address();
    System.arraycopy(args, 0, all, 2, args.length);
    return CliRun.run(all);
  }

  @Test
  void addReportsCreatedFirstAndAlreadyExistedOnRepeat() {
    CliRun first = silo("tenants", "add", "acme", "--name", "Acme Corp");
    assertThat(first.exitCode()).isZero();
    assertThat(first.err()).isEmpty();
    assertThat(first.out()).startsWith("Created tenant acme\n").contains("SLUG", "acme", "Acme Corp", "POOLED");
    assertThat(server.tenants).containsKey("acme");

    CliRun again = silo("tenants", "add", "acme", "--name", "Acme Corp");
    assertThat(again.exitCode()).isZero();
    assertThat(again.out()).startsWith("Tenant already existed: acme\n");
    assertThat(server.tenants).hasSize(1);
  }

  @Test
  void addJsonIsTheRegisterResponseIncludingCreatedFalse() throws Exception {
    silo("tenants", "add", "acme", "--name", "Acme Corp");
    CliRun run = silo("tenants", "add", "acme", "--name", "Acme Corp", "--output", "json");
    assertThat(run.exitCode()).isZero();
    // No human remark in JSON mode: stdout must be exactly one parseable object.
    RegisterTenantResponse.Builder parsed = RegisterTenantResponse.newBuilder();
    JsonFormat.parser().merge(run.out(), parsed);
    assertThat(parsed.getTenant()).isEqualTo(server.tenants.get("acme"));
    assertThat(run.out()).contains("\"created\": false");
  }

  @Test
  void addWithAnotherNameForAnExistingSlugFailsWithAlreadyExists() {
    server.seed("acme", "Acme Corp", TenantStatus.TENANT_STATUS_POOLED);
    CliRun run = silo("tenants", "add", "acme", "--name", "Other");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.err()).isEqualTo("silo: ALREADY_EXISTS: tenant 'acme' exists with another name\n");
  }

  @Test
  void getPrintsAlignedColumnsWithShortStatusAndUtcCreateTime() {
    Tenant t = server.seed("globex", "Globex Corporation", TenantStatus.TENANT_STATUS_ISOLATED);
    CliRun run = silo("tenants", "get", "globex");
    assertThat(run.exitCode()).isZero();
    String[] lines = run.out().split("\n");
    assertThat(lines).hasSize(2);
    assertThat(lines[0]).matches("SLUG +NAME +STATUS +CREATED");
    String created = java.time.Instant.ofEpochSecond(t.getCreateTime().getSeconds()).toString();
    assertThat(lines[1]).matches("globex +Globex Corporation +ISOLATED +" + created);
    // Each value starts in its header's column.
    assertThat(lines[1].indexOf("Globex Corporation")).isEqualTo(lines[0].indexOf("NAME"));
    assertThat(lines[1].indexOf("ISOLATED")).isEqualTo(lines[0].indexOf("STATUS"));
    assertThat(lines[1].indexOf(created)).isEqualTo(lines[0].indexOf("CREATED"));
  }

  @Test
  void getJsonRoundTripsToTheServersTenant() throws Exception {
    Tenant t = server.seed("globex", "Globex Corporation", TenantStatus.TENANT_STATUS_MIGRATING);
    CliRun run = silo("tenants", "get", "globex", "-o", "JSON");
    assertThat(run.exitCode()).isZero();
    GetTenantResponse.Builder parsed = GetTenantResponse.newBuilder();
    JsonFormat.parser().merge(run.out(), parsed);
    assertThat(parsed.getTenant()).isEqualTo(t);
    assertThat(run.out()).contains("\"status\": \"TENANT_STATUS_MIGRATING\"", "\"displayName\": \"Globex Corporation\"");
  }

  @Test
  void getUnknownTenantExitsOneWithStatusLineAndNoStackTrace() {
    CliRun run = silo("tenants", "get", "nope");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.out()).isEmpty();
    assertThat(run.err()).isEqualTo("silo: NOT_FOUND: tenant 'nope' not found\n");
  }

  @Test
  void listWithoutAllPrintsOnePageAndHowToContinue() {
    seedFive();
    CliRun run = silo("tenants", "list", "--page-size", "2");
    assertThat(run.exitCode()).isZero();
    assertThat(run.out().lines().filter(l -> l.startsWith("t")).toList()).hasSize(2);
    assertThat(run.out()).contains("t1", "t2").doesNotContain("t3 ").endsWith("More tenants: --page-token off-2 (or use --all)\n");
    assertThat(server.listRequests).containsExactly(ListTenantsRequest.newBuilder().setPageSize(2).build());
  }

  @Test
  void listPassesPageTokenAndJsonKeepsNextPageToken() throws Exception {
    seedFive();
    CliRun run = silo("tenants", "list", "--page-size", "2", "--page-token", "off-2", "--output", "json");
    assertThat(run.exitCode()).isZero();
    ListTenantsResponse.Builder parsed = ListTenantsResponse.newBuilder();
    JsonFormat.parser().merge(run.out(), parsed);
    assertThat(parsed.getTenantsList()).extracting(Tenant::getSlug).containsExactly("t3", "t4");
    assertThat(parsed.getNextPageToken()).isEqualTo("off-4");
  }

  @Test
  void listAllFollowsNextPageTokenAcrossThreePages() {
    seedFive();
    CliRun run = silo("tenants", "list", "--all", "--page-size", "2");
    assertThat(run.exitCode()).isZero();
    assertThat(server.listRequests).extracting(ListTenantsRequest::getPageToken).containsExactly("", "off-2", "off-4");
    assertThat(run.out().lines().toList())
        .hasSize(6)
        .first().asString().startsWith("SLUG");
    assertThat(run.out()).contains("t1", "t2", "t3", "t4", "t5").doesNotContain("More tenants");
    // Each page is its own call with its own deadline.
    assertThat(server.deadlines).hasSize(3);
  }

  @Test
  void listAllJsonIsOneResponseWithEveryTenantAndNoToken() throws Exception {
    seedFive();
    CliRun run = silo("tenants", "list", "--all", "--page-size", "2", "-o", "json");
    assertThat(run.exitCode()).isZero();
    ListTenantsResponse.Builder parsed = ListTenantsResponse.newBuilder();
    JsonFormat.parser().merge(run.out(), parsed);
    assertThat(parsed.getTenantsList()).containsExactlyElementsOf(server.tenants.values());
    assertThat(parsed.getNextPageToken()).isEmpty();
    assertThat(run.out()).contains("\"nextPageToken\": \"\"");
  }

  @Test
  void listOfNoTenantsPrintsJustTheHeader() {
    CliRun run = silo("tenants", "list");
    assertThat(run.exitCode()).isZero();
    assertThat(run.out()).isEqualTo("SLUG  NAME  STATUS  CREATED\n");
  }

  private void seedFive() {
    for (int i = 1; i <= 5; i++) {
      server.seed("t" + i, "Tenant " + i, TenantStatus.TENANT_STATUS_POOLED);
    }
  }
}
