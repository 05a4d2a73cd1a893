package io.silo.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.silo.TestServer;
import io.silo.api.v1.GetTenantRequest;
import io.silo.api.v1.ListTenantsRequest;
import io.silo.api.v1.ListTenantsResponse;
import io.silo.api.v1.RegisterTenantRequest;
import io.silo.api.v1.RegisterTenantResponse;
import io.silo.api.v1.Tenant;
import io.silo.api.v1.TenantServiceGrpc;
import io.silo.api.v1.TenantStatus;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** TenantService through generated grpc-java stubs against a real server and a real PostgreSQL. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TenantServiceTest {

  private TestServer server;
  private TenantServiceGrpc.TenantServiceBlockingStub tenants;

  @BeforeAll
  void start() throws Exception {
    server = TestServer.start(Map.of("grpc.maxMessageBytes", 64 * 1024));
    tenants = TenantServiceGrpc.newBlockingStub(server.channel).withDeadlineAfter(30, TimeUnit.SECONDS);
  }

  @AfterAll
  void stop() throws Exception {
    server.close();
  }

  private RegisterTenantResponse register(String slug, String name) {
    return tenants.registerTenant(RegisterTenantRequest.newBuilder().setSlug(slug).setDisplayName(name).build());
  }

  private long tenantRows() throws Exception {
    return ((Number) server.queryOne("SELECT count(*) FROM tenants")).longValue();
  }

  @Test
  void registerCreatesTenantAndGetReturnsIt() {
    RegisterTenantResponse created = register("acme-health", "Acme Health");
    assertThat(created.getCreated()).isTrue();
    assertThat(created.getTenant().getSlug()).isEqualTo("acme-health");
    assertThat(created.getTenant().getStatus()).isEqualTo(TenantStatus.TENANT_STATUS_POOLED);
    assertThat(created.getTenant().getId()).isPositive();
    assertThat(created.getTenant().getCreateTime().getSeconds()).isPositive();

    Tenant got = tenants.getTenant(GetTenantRequest.newBuilder().setSlug("acme-health").build()).getTenant();
    assertThat(got).isEqualTo(created.getTenant());
  }

  @Test
  void reRegisteringSameSlugAndNameReturnsSameTenant() throws Exception {
    RegisterTenantResponse first = register("globex-clinic", "Globex Clinic");
    long rows = tenantRows();
    RegisterTenantResponse again = register("globex-clinic", "Globex Clinic");
    assertThat(again.getCreated()).isFalse();
    assertThat(again.getTenant().getId()).isEqualTo(first.getTenant().getId());
    assertThat(tenantRows()).isEqualTo(rows);
  }

  @Test
  void sameSlugWithDifferentNameIsAlreadyExistsAndChangesNothing() throws Exception {
    register("initech-care", "Initech Care");
    long rows = tenantRows();
    StatusRuntimeException e = catchThrowableOfType(StatusRuntimeException.class,
        () -> register("initech-care", "Initech Something Else"));
    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.ALREADY_EXISTS);
    assertThat(e.getStatus().getDescription()).contains("initech-care");
    assertThat(tenantRows()).isEqualTo(rows);
    assertThat(tenants.getTenant(GetTenantRequest.newBuilder().setSlug("initech-care").build())
        .getTenant().getDisplayName()).isEqualTo("Initech Care");
  }

  @Test
  void getUnknownTenantIsNotFound() {
    StatusRuntimeException e = catchThrowableOfType(StatusRuntimeException.class,
        () -> tenants.getTenant(GetTenantRequest.newBuilder().setSlug("no-such-tenant").build()));
    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
    assertThat(e.getStatus().getDescription()).contains("no-such-tenant");
  }

  @Test
  void listPagesThroughEveryTenantInSlugOrderWithoutRepeats() {
    for (int i = 0; i < 7; i++) {
      register("page-tenant-" + i, "Page Tenant " + i);
    }
    List<String> seen = new ArrayList<>();
    String token = "";
    int pages = 0;
    do {
      ListTenantsResponse page = tenants.listTenants(
          ListTenantsRequest.newBuilder().setPageSize(3).setPageToken(token).build());
      assertThat(page.getTenantsCount()).isLessThanOrEqualTo(3);
      page.getTenantsList().forEach(t -> seen.add(t.getSlug()));
      token = page.getNextPageToken();
      pages++;
    } while (!token.isEmpty() && pages < 100);
    assertThat(seen).doesNotHaveDuplicates().isSorted()
        .contains("page-tenant-0", "page-tenant-3", "page-tenant-6");
    assertThat(pages).isGreaterThanOrEqualTo(3);
  }

  @Test
  void listRejectsForgedPageTokenAndOutOfRangePageSize() {
    StatusRuntimeException badToken = catchThrowableOfType(StatusRuntimeException.class,
        () -> tenants.listTenants(ListTenantsRequest.newBuilder().setPageToken("not-a-token!").build()));
    assertThat(badToken.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(badToken.getStatus().getDescription()).startsWith("page_token");

    StatusRuntimeException badSize = catchThrowableOfType(StatusRuntimeException.class,
        () -> tenants.listTenants(ListTenantsRequest.newBuilder().setPageSize(5000).build()));
    assertThat(badSize.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(badSize.getStatus().getDescription()).startsWith("page_size");
  }

  static Stream<Arguments> badRegistrations() {
    String name = "Valid Name";
    return Stream.of(
        Arguments.of("empty slug", "", name, "slug"),
        Arguments.of("uppercase slug", "Acme-Health", name, "slug"),
        Arguments.of("41 characters", "a".repeat(41), name, "slug"),
        Arguments.of("2 characters", "ab", name, "slug"),
        Arguments.of("unicode", "acmé-health", name, "slug"),
        Arguments.of("sql injection", "'; drop table tenants; --", name, "slug"),
        Arguments.of("leading hyphen", "-acme", name, "slug"),
        Arguments.of("trailing hyphen", "acme-", name, "slug"),
        Arguments.of("underscore", "acme_health", name, "slug"),
        Arguments.of("missing display name", "valid-slug", "", "display_name"),
        Arguments.of("blank display name", "valid-slug", "   ", "display_name"),
        Arguments.of("control character in name", "valid-slug", "Bad\u0000Name", "display_name"),
        Arguments.of("201-character name", "valid-slug", "n".repeat(201), "display_name"));
  }

  @ParameterizedTest(name = "{0} is INVALID_ARGUMENT naming {3}")
  @MethodSource("badRegistrations")
  void badInputIsInvalidArgumentNamingTheFieldAndWritesNothing(String label, String slug, String name, String field)
      throws Exception {
    long rows = tenantRows();
    StatusRuntimeException e = catchThrowableOfType(StatusRuntimeException.class, () -> register(slug, name));
    assertThat(e).as(label).isNotNull();
    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(e.getStatus().getDescription()).startsWith(field + ":");
    assertThat(tenantRows()).isEqualTo(rows);
    assertThat(server.queryOne("SELECT to_regclass('public.tenants') IS NOT NULL")).isEqualTo(true);
  }

  @Test
  void oversizedMessageIsRejectedWithResourceExhaustedAndWritesNothing() throws Exception {
    long rows = tenantRows();
    StatusRuntimeException e = catchThrowableOfType(StatusRuntimeException.class,
        () -> register("huge-tenant", "x".repeat(200 * 1024)));
    assertThat(e).isNotNull();
    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    assertThat(tenantRows()).isEqualTo(rows);
  }

  @Test
  void invalidIdempotencyKeyIsRejected() {
    StatusRuntimeException e = catchThrowableOfType(StatusRuntimeException.class,
        () -> tenants.registerTenant(RegisterTenantRequest.newBuilder().setSlug("idem-tenant")
            .setDisplayName("Idem").setIdempotencyKey("k".repeat(129)).build()));
    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(e.getStatus().getDescription()).startsWith("idempotency_key:");
  }
}
