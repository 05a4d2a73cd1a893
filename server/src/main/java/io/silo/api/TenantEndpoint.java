package io.silo.api;

import com.google.protobuf.Timestamp;
import io.silo.api.v1.GetTenantRequest;
import io.silo.api.v1.GetTenantResponse;
import io.silo.api.v1.ListTenantsRequest;
import io.silo.api.v1.ListTenantsResponse;
import io.silo.api.v1.RegisterTenantRequest;
import io.silo.api.v1.RegisterTenantResponse;
import io.silo.api.v1.Tenant;
import io.silo.api.v1.TenantServiceGrpcService;
import io.silo.api.v1.TenantStatus;
import io.silo.auth.AccessControl;
import io.silo.store.TenantRecord;
import io.silo.store.TenantStore;
import io.vertx.core.Future;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.StatusException;
import java.time.OffsetDateTime;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** gRPC endpoint of silo.v1.TenantService: validates requests and delegates to the tenant store. */
public final class TenantEndpoint {

  private static final Logger LOG = LoggerFactory.getLogger(TenantEndpoint.class);
  private static final String PAGE_KIND = "tenants";

  private final TenantStore store;
  private final AccessControl access;

  public TenantEndpoint(TenantStore store, AccessControl access) {
    this.store = store;
    this.access = access;
  }

  /**
   * Binds the three RPCs through {@link UnaryCalls} rather than the generated service, so a body that is not a valid
   * message and every failure get the same status handling (and grpc-message encoding) as the other services, and
   * each handler sees its caller for the tenant scope.
   */
  public void bind(GrpcServer server) {
    UnaryCalls.bind(server, access, TenantServiceGrpcService.RegisterTenant, this::registerTenant);
    UnaryCalls.bind(server, access, TenantServiceGrpcService.GetTenant, this::getTenant);
    UnaryCalls.bind(server, access, TenantServiceGrpcService.ListTenants, this::listTenants);
  }

  Future<RegisterTenantResponse> registerTenant(RegisterTenantRequest request, CallContext ctx) {
    String slug;
    String name;
    try {
      slug = Validation.slug("slug", request.getSlug());
      ctx.permit("slug", slug);
      name = Validation.displayName("display_name", request.getDisplayName());
      Validation.idempotencyKey("idempotency_key", request.getIdempotencyKey());
    } catch (StatusException e) {
      return Future.failedFuture(e);
    }
    return store.register(slug, name)
        .map(reg -> {
          if (reg.created()) {
            LOG.info("tenant registered slug={} id={}", slug, reg.tenant().id());
          }
          return RegisterTenantResponse.newBuilder().setTenant(toProto(reg.tenant())).setCreated(reg.created()).build();
        })
        .recover(failure -> Future.failedFuture(GrpcErrors.toStatus(failure)));
  }

  Future<GetTenantResponse> getTenant(GetTenantRequest request, CallContext ctx) {
    String slug;
    try {
      slug = Validation.slug("slug", request.getSlug());
      ctx.permit("slug", slug);
    } catch (StatusException e) {
      return Future.failedFuture(e);
    }
    return store.get(slug)
        .compose(found -> found.isPresent()
            ? Future.succeededFuture(GetTenantResponse.newBuilder().setTenant(toProto(found.get())).build())
            : Future.<GetTenantResponse>failedFuture(GrpcErrors.notFound("tenant '" + slug + "' not found")))
        .recover(failure -> Future.failedFuture(GrpcErrors.toStatus(failure)));
  }

  Future<ListTenantsResponse> listTenants(ListTenantsRequest request, CallContext ctx) {
    int pageSize;
    String after;
    try {
      pageSize = Validation.pageSize("page_size", request.getPageSize());
      after = Validation.decodePageToken("page_token", PAGE_KIND, request.getPageToken(),
          key -> Validation.SLUG.matcher(key).matches());
    } catch (StatusException e) {
      return Future.failedFuture(e);
    }
    // A tenant-scoped caller's list holds its own tenant at most, on one page.
    Future<List<TenantRecord>> listed = ctx.scoped()
        ? store.get(ctx.principal().tenant()).map(own -> own.filter(t -> t.slug().compareTo(after) > 0)
            .map(List::of).orElse(List.of()))
        : store.listAfter(after, pageSize + 1);
    return listed
        .map(rows -> {
          ListTenantsResponse.Builder out = ListTenantsResponse.newBuilder();
          List<TenantRecord> page = rows.size() > pageSize ? rows.subList(0, pageSize) : rows;
          page.forEach(t -> out.addTenants(toProto(t)));
          if (rows.size() > pageSize) {
            out.setNextPageToken(Validation.encodePageToken(PAGE_KIND, page.get(page.size() - 1).slug()));
          }
          return out.build();
        })
        .recover(failure -> Future.failedFuture(GrpcErrors.toStatus(failure)));
  }

  static Tenant toProto(TenantRecord record) {
    Tenant.Builder out = Tenant.newBuilder()
        .setSlug(record.slug())
        .setDisplayName(record.name())
        .setId(record.id())
        .setStatus(status(record.status()));
    if (record.createdAt() != null) {
      out.setCreateTime(timestamp(record.createdAt()));
    }
    if (record.updatedAt() != null) {
      out.setUpdateTime(timestamp(record.updatedAt()));
    }
    return out.build();
  }

  private static TenantStatus status(String value) {
    try {
      return TenantStatus.valueOf("TENANT_STATUS_" + value);
    } catch (IllegalArgumentException | NullPointerException e) {
      return TenantStatus.TENANT_STATUS_UNSPECIFIED;
    }
  }

  static Timestamp timestamp(OffsetDateTime time) {
    return Timestamp.newBuilder().setSeconds(time.toEpochSecond()).setNanos(time.getNano()).build();
  }
}
