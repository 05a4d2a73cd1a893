package io.silo.api;

import com.google.protobuf.Timestamp;
import io.silo.api.v1.AuditEvent;
import io.silo.api.v1.AuditServiceGrpcService;
import io.silo.api.v1.AuditSource;
import io.silo.api.v1.ListAuditEventsRequest;
import io.silo.api.v1.ListAuditEventsResponse;
import io.silo.auth.AccessControl;
import io.silo.store.AuditStore;
import io.vertx.core.Future;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.StatusException;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Locale;

/** gRPC endpoint of silo.v1.AuditService: validates the filters and pages through the joined audit trail. */
public final class AuditEndpoint {

  private static final String PAGE_KIND = "audit";
  /** google.protobuf.Timestamp's range, 0001-01-01 to 9999-12-31. */
  private static final long MIN_SECONDS = -62_135_596_800L;
  private static final long MAX_SECONDS = 253_402_300_799L;

  private final AuditStore store;
  private final AccessControl access;

  public AuditEndpoint(AuditStore store, AccessControl access) {
    this.store = store;
    this.access = access;
  }

  public void bind(GrpcServer server) {
    UnaryCalls.bind(server, access, AuditServiceGrpcService.ListAuditEvents, this::list);
  }

  Future<ListAuditEventsResponse> list(ListAuditEventsRequest request, CallContext ctx) {
    String tenant;
    OffsetDateTime since;
    int pageSize;
    AuditStore.Cursor after;
    try {
      String requested = request.getTenant().isEmpty() ? "" : Validation.slug("tenant", request.getTenant());
      tenant = ctx.narrow("tenant", requested);
      since = request.hasSince() ? time("since", request.getSince()) : null;
      pageSize = Validation.pageSize("page_size", request.getPageSize());
      String key = Validation.decodePageToken("page_token", PAGE_KIND, request.getPageToken(),
          candidate -> cursor(candidate) != null);
      after = key.isEmpty() ? null : cursor(key);
    } catch (StatusException e) {
      return Future.failedFuture(e);
    }
    return store.list(new AuditStore.Query(tenant.isEmpty() ? null : tenant, since, request.getCallsOnly(), after,
            pageSize + 1))
        .map(rows -> {
          ListAuditEventsResponse.Builder out = ListAuditEventsResponse.newBuilder();
          List<AuditStore.Event> page = rows.size() > pageSize ? rows.subList(0, pageSize) : rows;
          page.forEach(e -> out.addEvents(toProto(e)));
          if (rows.size() > pageSize) {
            AuditStore.Event last = page.get(page.size() - 1);
            out.setNextPageToken(Validation.encodePageToken(PAGE_KIND, micros(last.time()) + ":" + last.source()
                + ":" + last.id()));
          }
          return out.build();
        })
        .recover(failure -> Future.failedFuture(GrpcErrors.toStatus(failure)));
  }

  private static AuditEvent toProto(AuditStore.Event e) {
    AuditEvent.Builder out = AuditEvent.newBuilder()
        .setTime(TenantEndpoint.timestamp(e.time()))
        .setSource(AuditSource.valueOf("AUDIT_SOURCE_" + e.source().toUpperCase(Locale.ROOT)))
        .setId(e.id())
        .setCaller(nonNull(e.caller()))
        .setAction(nonNull(e.action()))
        .setTenant(nonNull(e.tenant()))
        .setOutcome(nonNull(e.outcome()))
        .setMessage(nonNull(e.message()))
        .setRequestSha256(nonNull(e.requestSha256()))
        .setPeer(nonNull(e.peer()))
        .setMigrationId(nonNull(e.migrationId()))
        .setDetails(nonNull(e.details()));
    return out.build();
  }

  private static String nonNull(String value) {
    return value == null ? "" : value;
  }

  private static OffsetDateTime time(String field, Timestamp t) throws StatusException {
    if (t.getSeconds() < MIN_SECONDS || t.getSeconds() > MAX_SECONDS || t.getNanos() < 0
        || t.getNanos() > 999_999_999) {
      throw GrpcErrors.invalidArgument(field, "is not a valid timestamp (0001-01-01 to 9999-12-31)");
    }
    return Instant.ofEpochSecond(t.getSeconds(), t.getNanos()).atOffset(ZoneOffset.UTC);
  }

  /** PostgreSQL keeps microseconds, so the cursor does too and compares exactly. */
  private static long micros(OffsetDateTime time) {
    return ChronoUnit.MICROS.between(Instant.EPOCH, time.toInstant());
  }

  /** The cursor in a page token's key ({@code micros:source:id}), or null when it is not one. */
  private static AuditStore.Cursor cursor(String key) {
    String[] parts = key.split(":", -1);
    if (parts.length != 3 || !List.of("call", "key", "data").contains(parts[1])) {
      return null;
    }
    try {
      long micros = Long.parseLong(parts[0]);
      long id = Long.parseLong(parts[2]);
      if (Math.abs(micros) > MAX_SECONDS * 1_000_000L || id < 0) {
        return null;
      }
      return new AuditStore.Cursor(Instant.EPOCH.plus(micros, ChronoUnit.MICROS).atOffset(ZoneOffset.UTC),
          parts[1], id);
    } catch (NumberFormatException e) {
      return null;
    }
  }
}
