package io.silo.api;

import com.google.protobuf.Timestamp;
import io.silo.api.v1.GetDocumentUrlRequest;
import io.silo.api.v1.GetDocumentUrlResponse;
import io.silo.api.v1.GetTenantUsageRequest;
import io.silo.api.v1.GetTenantUsageResponse;
import io.silo.api.v1.GetUploadUrlRequest;
import io.silo.api.v1.GetUploadUrlResponse;
import io.silo.api.v1.ListMigrationStatusRequest;
import io.silo.api.v1.ListMigrationStatusResponse;
import io.silo.api.v1.ListUsageRequest;
import io.silo.api.v1.ListUsageResponse;
import io.silo.api.v1.MigrationPhase;
import io.silo.api.v1.MigrationRun;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.ReconcileUsageRequest;
import io.silo.api.v1.ReconcileUsageResponse;
import io.silo.api.v1.TenantMigrationStatus;
import io.silo.api.v1.TenantStatus;
import io.silo.api.v1.TenantUsage;
import io.silo.api.v1.UsageDrift;
import io.silo.api.v1.UsageServiceGrpcService;
import io.silo.auth.AccessControl;
import io.silo.s3.DocumentAccess;
import io.silo.s3.DocumentUrls;
import io.silo.store.UsageStore;
import io.vertx.core.Future;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.StatusException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.List;
import java.util.function.Function;

/** gRPC endpoint of silo.v1.UsageService: validates, applies the tenant scope, and delegates to the usage store. */
public final class UsageEndpoint {

  /** GetTenantUsage's default and largest number of months. */
  static final int DEFAULT_MONTHS = 12;
  static final int MAX_MONTHS = 120;
  /** Longest upload filename accepted, in UTF-8 bytes (what common file systems allow). */
  static final int MAX_FILENAME_BYTES = 255;
  private static final String USAGE_PAGES = "usage";
  private static final String STATUS_PAGES = "migration-status";
  /** google.protobuf.Timestamp's range: 0001-01-01 to 9999-12-31. */
  private static final long MIN_SECONDS = -62_135_596_800L;
  private static final long MAX_SECONDS = 253_402_300_799L;

  private final UsageStore store;
  private final DocumentAccess documents;
  private final AccessControl access;

  public UsageEndpoint(UsageStore store, DocumentAccess documents, AccessControl access) {
    this.store = store;
    this.documents = documents;
    this.access = access;
  }

  public void bind(GrpcServer server) {
    UnaryCalls.bind(server, access, UsageServiceGrpcService.GetTenantUsage, this::getTenantUsage);
    UnaryCalls.bind(server, access, UsageServiceGrpcService.ListUsage, this::listUsage);
    UnaryCalls.bind(server, access, UsageServiceGrpcService.ListMigrationStatus, this::listMigrationStatus);
    UnaryCalls.bind(server, access, UsageServiceGrpcService.GetDocumentUrl, this::getDocumentUrl);
    UnaryCalls.bind(server, access, UsageServiceGrpcService.GetUploadUrl, this::getUploadUrl);
    UnaryCalls.bind(server, access, UsageServiceGrpcService.ReconcileUsage, this::reconcileUsage);
  }

  Future<GetTenantUsageResponse> getTenantUsage(GetTenantUsageRequest request, CallContext ctx) {
    String slug;
    int months;
    try {
      slug = permittedTenant(request.getTenant(), ctx);
      months = request.getMonths();
      if (months < 0 || months > MAX_MONTHS) {
        throw GrpcErrors.invalidArgument("months", "must be between 0 and " + MAX_MONTHS + " (0 means "
            + DEFAULT_MONTHS + ")");
      }
    } catch (StatusException e) {
      return Future.failedFuture(e);
    }
    int count = months == 0 ? DEFAULT_MONTHS : months;
    return store.requireUsage().compose(f -> store.tenantId(slug)).compose(id -> id.isEmpty()
            ? Future.failedFuture(GrpcErrors.notFound("tenant '" + slug + "' not found"))
            : store.tenantUsage(slug, count))
        .map(rows -> GetTenantUsageResponse.newBuilder().addAllUsage(rows.stream().map(UsageEndpoint::toProto)
            .toList()).build())
        .recover(UsageEndpoint::status);
  }

  Future<ListUsageResponse> listUsage(ListUsageRequest request, CallContext ctx) {
    LocalDate month;
    Page page;
    try {
      month = request.hasMonth() ? month("month", request.getMonth()) : null;
      page = Page.of(request.getPageSize(), request.getPageToken(), USAGE_PAGES, ctx, request.getTenant());
    } catch (StatusException e) {
      return Future.failedFuture(e);
    }
    return store.listUsage(month, page.after(), page.size() + 1, page.only())
        .map(rows -> {
          ListUsageResponse.Builder out = ListUsageResponse.newBuilder();
          page.fill(rows, UsageStore.Usage::tenant, r -> out.addUsage(toProto(r)), out::setNextPageToken);
          return out.build();
        })
        .recover(UsageEndpoint::status);
  }

  Future<ListMigrationStatusResponse> listMigrationStatus(ListMigrationStatusRequest request, CallContext ctx) {
    Page page;
    try {
      page = Page.of(request.getPageSize(), request.getPageToken(), STATUS_PAGES, ctx, "");
    } catch (StatusException e) {
      return Future.failedFuture(e);
    }
    return store.migrationStatus(page.after(), page.size() + 1, page.only())
        .map(rows -> {
          ListMigrationStatusResponse.Builder out = ListMigrationStatusResponse.newBuilder();
          page.fill(rows, UsageStore.MigrationStatus::tenant, r -> out.addStatuses(toProto(r)),
              out::setNextPageToken);
          return out.build();
        })
        .recover(UsageEndpoint::status);
  }

  Future<GetDocumentUrlResponse> getDocumentUrl(GetDocumentUrlRequest request, CallContext ctx) {
    String slug;
    Duration validity;
    try {
      slug = permittedTenant(request.getTenant(), ctx);
      if (request.getDocumentId() <= 0) {
        throw GrpcErrors.invalidArgument("document_id", "is required and must be positive");
      }
      validity = validity(request.hasExpiresIn(), request.getExpiresIn());
    } catch (StatusException e) {
      return Future.failedFuture(e);
    }
    return documents.downloadUrl(slug, request.getDocumentId(), validity)
        .map(url -> GetDocumentUrlResponse.newBuilder().setUrl(url.url()).setExpireTime(timestamp(url.expireTime()))
            .setBucket(url.bucket()).setKey(url.key()).setNotice(url.notice()).build())
        .recover(UsageEndpoint::status);
  }

  Future<GetUploadUrlResponse> getUploadUrl(GetUploadUrlRequest request, CallContext ctx) {
    String slug;
    Duration validity;
    try {
      slug = permittedTenant(request.getTenant(), ctx);
      uploadFilename("filename", request.getFilename());
      validity = validity(request.hasExpiresIn(), request.getExpiresIn());
    } catch (StatusException e) {
      return Future.failedFuture(e);
    }
    return documents.uploadUrl(slug, request.getFilename(), validity)
        .map(url -> GetUploadUrlResponse.newBuilder().setUrl(url.url()).setExpireTime(timestamp(url.expireTime()))
            .setBucket(url.bucket()).setKey(url.key()).putAllHeaders(url.headers()).setNotice(url.notice()).build())
        .recover(UsageEndpoint::status);
  }

  Future<ReconcileUsageResponse> reconcileUsage(ReconcileUsageRequest request, CallContext ctx) {
    String only;
    try {
      only = ctx.narrow("tenant", request.getTenant().isEmpty() ? ""
          : Validation.slug("tenant", request.getTenant()));
    } catch (StatusException e) {
      return Future.failedFuture(e);
    }
    return store.reconcile(only, !request.getDryRun())
        .map(result -> {
          ReconcileUsageResponse.Builder out = ReconcileUsageResponse.newBuilder()
              .setMonth(timestamp(result.month()))
              .setTenantsChecked(result.tenants().size())
              .setRepaired(!request.getDryRun());
          long filled = 0;
          long resolved = result.globalMarkersResolved();
          for (UsageStore.Reconciled t : result.tenants()) {
            filled += t.monthsFilled();
            resolved += t.markersResolved();
            if (t.drifted()) {
              out.addDrift(UsageDrift.newBuilder().setTenant(t.tenant())
                  .setRecordedBytes(t.recordedBytes() == null ? 0 : t.recordedBytes())
                  .setRecordedCount(t.recordedCount() == null ? 0 : t.recordedCount())
                  .setActualBytes(t.actualBytes()).setActualCount(t.actualCount())
                  .setRowMissing(t.recordedBytes() == null));
            }
          }
          return out.setMonthsFilled(filled).setMarkersResolved(resolved).build();
        })
        .recover(UsageEndpoint::status);
  }

  /** Paging over tenant slugs, with the tenant scope applied: a scoped caller's list holds its own tenant only. */
  private record Page(int size, String after, String only, String kind) {

    /** {@code tenant} limits the list to one tenant when not empty. */
    static Page of(int pageSize, String token, String kind, CallContext ctx, String tenant) throws StatusException {
      int size = Validation.pageSize("page_size", pageSize);
      String after = Validation.decodePageToken("page_token", kind, token,
          key -> Validation.SLUG.matcher(key).matches());
      return new Page(size, after, ctx.narrow("tenant", tenant.isEmpty() ? "" : Validation.slug("tenant", tenant)),
          kind);
    }

    /** Adds at most {@link #size} rows and, when there were more, the token of the next page. */
    <T> void fill(List<T> rows, Function<T, String> slug, java.util.function.Consumer<T> add,
                  java.util.function.Consumer<String> nextToken) {
      List<T> shown = rows.size() > size ? rows.subList(0, size) : rows;
      shown.forEach(add);
      if (rows.size() > size) {
        nextToken.accept(Validation.encodePageToken(kind, slug.apply(shown.get(shown.size() - 1))));
      }
    }
  }

  /** The request's tenant, a valid slug inside the caller's scope. */
  private static String permittedTenant(String tenant, CallContext ctx) throws StatusException {
    String slug = Validation.slug("tenant", tenant);
    ctx.permit("tenant", slug);
    return slug;
  }

  /** A validity from an optional Duration: 15 minutes when unset, else 1 s to 7 days. */
  private static Duration validity(boolean present, com.google.protobuf.Duration asked) throws StatusException {
    if (!present) {
      return DocumentUrls.DEFAULT_VALIDITY;
    }
    long millis = Validation.duration("expires_in", asked, DocumentUrls.MAX_VALIDITY.toMillis());
    if (millis < 1_000) {
      throw GrpcErrors.invalidArgument("expires_in", "must be at least 1 s (unset means "
          + DocumentUrls.DEFAULT_VALIDITY.toMinutes() + " minutes)");
    }
    return Duration.ofMillis(millis);
  }

  private static void uploadFilename(String field, String value) throws StatusException {
    if (value.isBlank()) {
      throw GrpcErrors.invalidArgument(field, "is required");
    }
    int bytes = value.getBytes(StandardCharsets.UTF_8).length;
    if (bytes > MAX_FILENAME_BYTES) {
      throw GrpcErrors.invalidArgument(field, "must be at most " + MAX_FILENAME_BYTES + " bytes of UTF-8 (got "
          + bytes + ")");
    }
    Validation.rejectInvisible(field, value);
  }

  /** The first day of the UTC month a well-formed Timestamp falls in. */
  private static LocalDate month(String field, Timestamp t) throws StatusException {
    if (t.getSeconds() < MIN_SECONDS || t.getSeconds() > MAX_SECONDS || t.getNanos() < 0
        || t.getNanos() > 999_999_999) {
      throw GrpcErrors.invalidArgument(field, "is not a valid timestamp (years 1-9999, nanos 0-999999999)");
    }
    return Instant.ofEpochSecond(t.getSeconds()).atOffset(ZoneOffset.UTC).toLocalDate().withDayOfMonth(1);
  }

  private static TenantUsage toProto(UsageStore.Usage u) {
    return TenantUsage.newBuilder().setTenant(u.tenant()).setMonth(timestamp(u.month()))
        .setStorageUsedMb(u.mebibytes()).setDocumentsCount(u.documents()).setStorageBytes(u.bytes())
        .setBucket(u.bucket() == null ? "" : u.bucket()).setCarriedForward(u.carriedForward()).build();
  }

  private static TenantMigrationStatus toProto(UsageStore.MigrationStatus s) {
    TenantMigrationStatus.Builder out = TenantMigrationStatus.newBuilder().setTenant(s.tenant())
        .setDisplayName(s.displayName()).setStatus(s.s3Status() == null ? "" : s.s3Status())
        .setDocumentsMigrated(s.documentsMigrated()).setErrors(s.errors())
        .setBucket(s.bucket() == null ? "" : s.bucket()).setTenantStatus(enumOf(TenantStatus.class,
            "TENANT_STATUS_", s.tenantStatus(), TenantStatus.TENANT_STATUS_UNSPECIFIED));
    optional(s.s3StartedAt(), out::setStartTime);
    optional(s.s3CompletedAt(), out::setCompleteTime);
    UsageStore.LatestRun run = s.latestRun();
    if (run != null) {
      MigrationRun.Builder r = MigrationRun.newBuilder().setId(run.id())
          .setState(enumOf(MigrationState.class, "MIGRATION_STATE_", run.state(),
              MigrationState.MIGRATION_STATE_UNSPECIFIED))
          .setPhase(enumOf(MigrationPhase.class, "MIGRATION_PHASE_", run.phase(),
              MigrationPhase.MIGRATION_PHASE_UNSPECIFIED))
          .setDocumentsCopied(run.documentsCopied()).setDocumentsFailed(run.documentsFailed())
          .setLastError(run.lastError() == null ? "" : run.lastError());
      optional(run.createdAt(), r::setCreateTime);
      optional(run.completedAt(), r::setCompleteTime);
      out.setLatestRun(r);
    }
    return out.build();
  }

  private static void optional(OffsetDateTime time, java.util.function.Consumer<Timestamp> set) {
    if (time != null) {
      set.accept(TenantEndpoint.timestamp(time));
    }
  }

  private static <E extends Enum<E>> E enumOf(Class<E> type, String prefix, String value, E fallback) {
    try {
      return value == null ? fallback : Enum.valueOf(type, prefix + value);
    } catch (IllegalArgumentException e) {
      return fallback;
    }
  }

  private static Timestamp timestamp(LocalDate month) {
    return Timestamp.newBuilder().setSeconds(month.atStartOfDay(ZoneOffset.UTC).toEpochSecond()).build();
  }

  private static Timestamp timestamp(Instant time) {
    return Timestamp.newBuilder().setSeconds(time.getEpochSecond()).setNanos(time.getNano()).build();
  }

  private static <T> Future<T> status(Throwable failure) {
    return Future.failedFuture(GrpcErrors.toStatus(failure));
  }
}
