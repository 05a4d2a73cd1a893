package io.silo.api;

import io.silo.api.v1.CancelMigrationRequest;
import io.silo.api.v1.CancelMigrationResponse;
import io.silo.api.v1.GetCompletionReportRequest;
import io.silo.api.v1.GetCompletionReportResponse;
import io.silo.api.v1.GetMigrationRequest;
import io.silo.api.v1.GetMigrationResponse;
import io.silo.api.v1.ListMigrationsRequest;
import io.silo.api.v1.ListMigrationsResponse;
import io.silo.api.v1.MigrationDefinition;
import io.silo.api.v1.MigrationServiceGrpcService;
import io.silo.api.v1.PauseMigrationRequest;
import io.silo.api.v1.PauseMigrationResponse;
import io.silo.api.v1.PlanMigrationRequest;
import io.silo.api.v1.PlanMigrationResponse;
import io.silo.api.v1.PurgeSourceRequest;
import io.silo.api.v1.PurgeSourceResponse;
import io.silo.api.v1.ResumeMigrationRequest;
import io.silo.api.v1.ResumeMigrationResponse;
import io.silo.api.v1.RollbackMigrationRequest;
import io.silo.api.v1.RollbackMigrationResponse;
import io.silo.api.v1.StartMigrationRequest;
import io.silo.api.v1.StartMigrationResponse;
import io.silo.api.v1.TenantPlan;
import io.silo.auth.AccessControl;
import io.silo.jobs.JobDefinition;
import io.silo.jobs.PhaseName;
import io.silo.mongo.MongoSpec;
import io.silo.jobs.MigrationRecord;
import io.silo.jobs.MigrationStore;
import io.silo.jobs.Migrations;
import io.silo.mongo.EncryptionPlan;
import io.silo.store.KeyAuditStore;
import io.vertx.core.Future;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.StatusException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.TreeSet;
import java.util.UUID;

/** gRPC endpoint of silo.v1.MigrationService: validates requests, then delegates to {@link Migrations}. */
public final class MigrationEndpoint {

  private static final String LIST_PAGE = "migrations";
  private static final String REPORT_PAGE = "report";

  private final Migrations migrations;
  private final KeyAuditStore idempotency;
  private final ActiveStreams streams;
  private final int defaultWatchIntervalMillis;
  private final EncryptionPlan.Namespace keyVault;
  private final StreamLimits verifyLimits;
  private final AccessControl access;

  public MigrationEndpoint(Migrations migrations, KeyAuditStore idempotency, ActiveStreams streams,
                           int defaultWatchIntervalMillis, String keyVaultNamespace, StreamLimits verifyLimits,
                           AccessControl access) {
    this.access = access;
    this.migrations = migrations;
    this.idempotency = idempotency;
    this.streams = streams;
    this.defaultWatchIntervalMillis = defaultWatchIntervalMillis;
    this.keyVault = EncryptionPlan.Namespace.parse("mongo.keyVaultNamespace", keyVaultNamespace);
    this.verifyLimits = verifyLimits;
  }

  public void bind(GrpcServer server) {
    UnaryCalls.bind(server, access, MigrationServiceGrpcService.PlanMigration, this::plan);
    UnaryCalls.bind(server, access, MigrationServiceGrpcService.StartMigration, this::start);
    UnaryCalls.bind(server, access, MigrationServiceGrpcService.GetMigration, this::get);
    UnaryCalls.bind(server, access, MigrationServiceGrpcService.ListMigrations, this::list);
    UnaryCalls.bind(server, access, MigrationServiceGrpcService.PauseMigration, this::pause);
    UnaryCalls.bind(server, access, MigrationServiceGrpcService.ResumeMigration, this::resume);
    UnaryCalls.bind(server, access, MigrationServiceGrpcService.CancelMigration, this::cancel);
    UnaryCalls.bind(server, access, MigrationServiceGrpcService.RollbackMigration, this::rollback);
    UnaryCalls.bind(server, access, MigrationServiceGrpcService.PurgeSource, this::purge);
    UnaryCalls.bind(server, access, MigrationServiceGrpcService.GetCompletionReport, this::report);
    server.callHandler(MigrationServiceGrpcService.WatchMigration,
        request -> new WatchCall(request, migrations.store(), migrations.bus(), streams,
            tenant -> migrations.requireTenants(List.of(tenant), "tenant"), defaultWatchIntervalMillis, verifyLimits,
            access));
    server.callHandler(MigrationServiceGrpcService.VerifyTenant,
        request -> new VerifyCall(request, migrations, streams, keyVault, verifyLimits, access));
  }

  /** The tenants a request names: either a list (validated, de-duplicated, in order) or every registered tenant. */
  private Future<List<String>> tenants(List<String> listed, boolean all, CallContext ctx) {
    try {
      if (all && listed.isEmpty() && ctx.scoped()) {
        // "Every tenant" for a tenant-scoped caller is its own tenant.
        listed = List.of(ctx.principal().tenant());
        all = false;
      }
      if (all && !listed.isEmpty()) {
        throw GrpcErrors.invalidArgument("tenants", "must be empty when all_tenants is set");
      }
      if (!all && listed.isEmpty()) {
        throw GrpcErrors.invalidArgument("tenants", "name at least one tenant, or set all_tenants");
      }
      Validation.tenantCount("tenants", listed);
      // A set keeps de-duplication linear: a list's contains() made 1,000 slugs a million comparisons.
      java.util.LinkedHashSet<String> unique = new java.util.LinkedHashSet<>();
      for (int i = 0; i < listed.size(); i++) {
        unique.add(Validation.slug("tenants[" + i + "]", listed.get(i)));
        ctx.permit("tenants[" + i + "]", listed.get(i));
      }
      List<String> out = new ArrayList<>(unique);
      if (all) {
        return migrations.allTenants().compose(found -> found.isEmpty()
            ? Future.failedFuture(GrpcErrors.failedPrecondition("all_tenants: no registered tenant is left to migrate (none, or all are ISOLATED)"))
            : Future.succeededFuture(found));
      }
      return migrations.requireTenants(out, "tenants").map(out);
    } catch (StatusException e) {
      return Future.failedFuture(e);
    }
  }

  /** The Mongo plan of the deployment's default definition. */
  private EncryptionPlan mongoDefaults() {
    return migrations.defaults().part(PhaseName.MONGO, MongoSpec.class).plan();
  }

  private Future<JobDefinition> plan(boolean has, MigrationDefinition definition, CallContext ctx) {
    try {
      JobDefinition job = MigrationProtos.job(has, definition, migrations.defaults(), keyVault);
      StatusException outside = outsideScope(job.part(PhaseName.MONGO, MongoSpec.class).plan(), mongoDefaults(), ctx);
      if (outside != null) {
        return Future.failedFuture(outside);
      }
      return migrations.check(job, "definition.").map(job);
    } catch (EncryptionPlan.InvalidPlanException e) {
      return Future.failedFuture(e); // GrpcErrors maps it to INVALID_ARGUMENT naming the field
    } catch (StatusException e) {
      return Future.failedFuture(e);
    }
  }

  Future<PlanMigrationResponse> plan(PlanMigrationRequest request, CallContext ctx) {
    return plan(request.hasDefinition(), request.getDefinition(), ctx).compose(plan ->
        tenants(request.getTenantsList(), request.getAllTenants(), ctx)
            .compose(slugs -> migrations.plan(slugs, plan))
            .map(plans -> {
              PlanMigrationResponse.Builder out = PlanMigrationResponse.newBuilder();
              for (Migrations.TenantPlan p : plans) {
                out.addPlans(MigrationProtos.tenantPlan(p));
              }
              return out.build();
            }));
  }

  Future<StartMigrationResponse> start(StartMigrationRequest original, CallContext ctx) {
    // A scoped caller's all_tenants becomes its own tenant before anything else, so the idempotency fingerprint
    // names that tenant and a replay can never hand back other tenants' migrations.
    StartMigrationRequest request = ctx.scoped() && original.getAllTenants() && original.getTenantsCount() == 0
        ? original.toBuilder().setAllTenants(false).addTenants(ctx.principal().tenant()).build() : original;
    String idem = request.getIdempotencyKey();
    try {
      Validation.idempotencyKey("idempotency_key", idem);
    } catch (StatusException e) {
      return Future.failedFuture(e);
    }
    Future<Optional<String>> seen = idem.isEmpty() ? Future.succeededFuture(Optional.empty())
        : idempotency.idempotentResource("StartMigration", idem);
    return seen.compose(previous -> {
      if (previous.isPresent()) {
        try {
          ctx.permitAll("tenants", request.getTenantsList());
        } catch (StatusException e) {
          return Future.failedFuture(e);
        }
        return replayStart(request, previous.get());
      }
      return plan(request.hasDefinition(), request.getDefinition(), ctx).compose(plan ->
          tenants(request.getTenantsList(), request.getAllTenants(), ctx).compose(slugs ->
              migrations.start(slugs, plan, idem, ctx.caller()).compose(started -> {
                StartMigrationResponse.Builder out = StartMigrationResponse.newBuilder();
                List<String> ids = new ArrayList<>();
                started.forEach(s -> {
                  out.addMigrations(MigrationProtos.migration(s.migration()));
                  ids.add(s.migration().id().toString());
                });
                StartMigrationResponse response = out.build();
                return idem.isEmpty() ? Future.succeededFuture(response)
                    : idempotency.rememberIdempotency("StartMigration", idem,
                        requestFingerprint(request) + "|" + String.join(",", ids)).map(response);
              })));
    });
  }

  /** A retried start returns the migrations the first call started, as they are now. */
  private Future<StartMigrationResponse> replayStart(StartMigrationRequest request, String recorded) {
    int bar = recorded.lastIndexOf('|');
    if (!recorded.substring(0, bar).equals(requestFingerprint(request))) {
      return Future.failedFuture(GrpcErrors.failedPrecondition(
          "idempotency_key was already used for a different StartMigration request"));
    }
    List<Future<MigrationRecord>> found = new ArrayList<>();
    for (String id : recorded.substring(bar + 1).split(",")) {
      found.add(migrations.get(UUID.fromString(id)));
    }
    return Future.all(found).map(all -> {
      StartMigrationResponse.Builder out = StartMigrationResponse.newBuilder();
      for (int i = 0; i < found.size(); i++) {
        out.addMigrations(MigrationProtos.migration(all.resultAt(i)));
      }
      return out.build();
    });
  }

  /**
   * What a retry must repeat: the tenants and a SHA-256 of the definition's bytes. Not the message's hashCode, which
   * collides easily ("Aa" and "BB") and depends on descriptor identity, so it differs between instances and restarts.
   */
  private static String requestFingerprint(StartMigrationRequest request) {
    byte[] digest;
    try {
      digest = MessageDigest.getInstance("SHA-256").digest(request.getDefinition().toByteArray());
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java runtime has SHA-256", e);
    }
    return (request.getAllTenants() ? "*" : String.join(" ", new TreeSet<>(request.getTenantsList())))
        + "#" + HexFormat.of().formatHex(digest);
  }

  Future<GetMigrationResponse> get(GetMigrationRequest request, CallContext ctx) {
    return id("migration_id", request.getMigrationId()).compose(id -> visible(id, ctx))
        .map(m -> GetMigrationResponse.newBuilder().setMigration(MigrationProtos.migration(m)).build());
  }

  Future<ListMigrationsResponse> list(ListMigrationsRequest request, CallContext ctx) {
    int pageSize;
    String after;
    List<String> states = new ArrayList<>();
    OffsetDateTime afterTime = null;
    UUID afterId = null;
    String tenant;
    try {
      if (!request.getTenant().isEmpty()) {
        Validation.slug("tenant", request.getTenant());
      }
      tenant = ctx.narrow("tenant", request.getTenant());
      for (int i = 0; i < request.getStatesCount(); i++) {
        String state = MigrationProtos.state(request.getStates(i));
        if (state == null) {
          throw GrpcErrors.invalidArgument("states[" + i + "]", "must be a specific state");
        }
        states.add(state);
      }
      pageSize = Validation.pageSize("page_size", request.getPageSize());
      after = Validation.decodePageToken("page_token", LIST_PAGE, request.getPageToken());
      if (!after.isEmpty()) {
        String[] parts = after.split("\\|", 2);
        afterTime = OffsetDateTime.parse(parts[0]);
        afterId = UUID.fromString(parts[1]);
      }
    } catch (StatusException e) {
      return Future.failedFuture(e);
    } catch (RuntimeException e) {
      return Future.failedFuture(GrpcErrors.invalidArgument("page_token", "is not a token returned by this list call"));
    }
    return migrations.store().list(tenant, states, afterTime, afterId, pageSize + 1).map(rows -> {
      ListMigrationsResponse.Builder out = ListMigrationsResponse.newBuilder();
      List<MigrationRecord> page = rows.size() > pageSize ? rows.subList(0, pageSize) : rows;
      page.forEach(m -> out.addMigrations(MigrationProtos.migration(m)));
      if (rows.size() > pageSize) {
        MigrationRecord last = page.get(page.size() - 1);
        out.setNextPageToken(Validation.encodePageToken(LIST_PAGE, last.createdAt() + "|" + last.id()));
      }
      return out.build();
    });
  }

  Future<PauseMigrationResponse> pause(PauseMigrationRequest request, CallContext ctx) {
    return id("migration_id", request.getMigrationId()).compose(id -> owned(id, ctx))
        .compose(id -> migrations.request(id, "PAUSE"))
        .map(m -> PauseMigrationResponse.newBuilder().setMigration(MigrationProtos.migration(m)).build());
  }

  Future<ResumeMigrationResponse> resume(ResumeMigrationRequest request, CallContext ctx) {
    return id("migration_id", request.getMigrationId()).compose(id -> owned(id, ctx)).compose(migrations::resume)
        .map(m -> ResumeMigrationResponse.newBuilder().setMigration(MigrationProtos.migration(m)).build());
  }

  Future<CancelMigrationResponse> cancel(CancelMigrationRequest request, CallContext ctx) {
    return id("migration_id", request.getMigrationId()).compose(id -> owned(id, ctx))
        .compose(id -> migrations.request(id, "CANCEL"))
        .map(m -> CancelMigrationResponse.newBuilder().setMigration(MigrationProtos.migration(m)).build());
  }

  Future<RollbackMigrationResponse> rollback(RollbackMigrationRequest request, CallContext ctx) {
    try {
      Validation.slug("tenant", request.getTenant());
      ctx.permit("tenant", request.getTenant());
      Validation.idempotencyKey("idempotency_key", request.getIdempotencyKey());
    } catch (StatusException e) {
      return Future.failedFuture(e);
    }
    // Checked before Migrations.rollback, whose mismatch message would name the other tenant.
    Future<UUID> which = request.getMigrationId().isEmpty() ? Future.succeededFuture(null)
        : id("migration_id", request.getMigrationId()).compose(id -> owned(id, ctx));
    String idem = request.getIdempotencyKey();
    return which.compose(id -> migrations.requireTenants(List.of(request.getTenant()), "tenant").map(id))
        .compose(id -> (idem.isEmpty() ? Future.succeededFuture(Optional.<String>empty())
            : idempotency.idempotentResource("RollbackMigration", idem)).compose(previous -> {
              if (previous.isPresent() && !previous.get().startsWith(request.getTenant() + "#")) {
                return Future.failedFuture(GrpcErrors.failedPrecondition(
                    "idempotency_key was already used for another tenant's rollback"));
              }
              // A rollback is idempotent in itself (a second one removes nothing), so a replay simply runs again.
              return migrations.rollback(request.getTenant(), id, ctx.caller()).compose(rolled -> {
                RollbackMigrationResponse response = RollbackMigrationResponse.newBuilder()
                    .setMigration(MigrationProtos.migration(rolled.migration()))
                    .setDocumentsRemoved(rolled.removed(PhaseName.MONGO))
                    .setObjectsRemoved(rolled.removed(PhaseName.S3)).build();
                return idem.isEmpty() || previous.isPresent() ? Future.succeededFuture(response)
                    : idempotency.rememberIdempotency("RollbackMigration", idem,
                        request.getTenant() + "#" + rolled.migration().id()).map(response);
              });
            }));
  }

  Future<PurgeSourceResponse> purge(PurgeSourceRequest request, CallContext ctx) {
    try {
      Validation.slug("tenant", request.getTenant());
      ctx.permit("tenant", request.getTenant());
      // A missing confirmation is a bad request naming the field; whether it matches is checked by the purge.
      Validation.confirmation("confirm", request.getConfirm());
    } catch (StatusException e) {
      return Future.failedFuture(e);
    }
    return migrations.requireTenants(List.of(request.getTenant()), "tenant")
        .compose(v -> migrations.purge(request.getTenant(), request.getConfirm(), ctx.caller()))
        .map(p -> PurgeSourceResponse.newBuilder()
            .setDocumentsDeleted(p.of(PhaseName.MONGO).removed()).setDocumentsKept(p.of(PhaseName.MONGO).kept())
            .setObjectsDeleted(p.of(PhaseName.S3).removed()).setObjectsKept(p.of(PhaseName.S3).kept())
            .setAuditId(p.auditId()).build());
  }

  Future<GetCompletionReportResponse> report(GetCompletionReportRequest request, CallContext ctx) {
    int pageSize;
    long afterSeq;
    try {
      pageSize = Validation.pageSize("page_size", request.getPageSize());
      String after = Validation.decodePageToken("page_token", REPORT_PAGE, request.getPageToken());
      afterSeq = after.isEmpty() ? 0 : Long.parseLong(after);
      if (afterSeq < 0) {
        throw new NumberFormatException("negative sequence");
      }
    } catch (StatusException e) {
      return Future.failedFuture(e);
    } catch (NumberFormatException e) {
      return Future.failedFuture(GrpcErrors.invalidArgument("page_token", "is not a token returned by this call"));
    }
    return id("migration_id", request.getMigrationId()).compose(id -> visible(id, ctx)).compose(m ->
        migrations.store().failures(m.id(), afterSeq, pageSize + 1).map(rows -> {
          GetCompletionReportResponse.Builder out = GetCompletionReportResponse.newBuilder()
              .setMigration(MigrationProtos.migration(m));
          List<MigrationStore.Failure> page = rows.size() > pageSize ? rows.subList(0, pageSize) : rows;
          page.forEach(f -> out.addItems(MigrationProtos.failedItem(f)));
          if (rows.size() > pageSize) {
            out.setNextPageToken(Validation.encodePageToken(REPORT_PAGE,
                Long.toString(page.get(page.size() - 1).seq())));
          }
          return out.build();
        }));
  }

  /**
   * PERMISSION_DENIED when a tenant-scoped caller's definition points away from the configured namespaces or tenant
   * field: another collection or routing field could reach documents the scope does not cover. Null when allowed.
   */
  private static StatusException outsideScope(EncryptionPlan plan, EncryptionPlan defaults, CallContext ctx) {
    if (!ctx.scoped()) {
      return null;
    }
    String field = !plan.source().equals(defaults.source()) ? "definition.source_namespace"
        : !plan.target().equals(defaults.target()) ? "definition.target_namespace"
        : !plan.tenantField().equals(defaults.tenantField()) ? "definition.tenant_field" : null;
    return field == null ? null : new StatusException(io.vertx.grpc.common.GrpcStatus.PERMISSION_DENIED, field
        + ": a token limited to one tenant must use the configured namespaces and tenant field");
  }

  /** The migration, if the caller may see its tenant; PERMISSION_DENIED for another tenant's. */
  private Future<MigrationRecord> visible(UUID id, CallContext ctx) {
    return migrations.get(id).compose(m -> ctx.permittedOwner("migration_id", m.tenant()).map(m));
  }

  /** The id back if the caller may act on the migration's tenant; unscoped callers skip the extra read. */
  private Future<UUID> owned(UUID id, CallContext ctx) {
    return ctx.scoped() ? visible(id, ctx).map(id) : Future.succeededFuture(id);
  }

  static Future<UUID> id(String field, String value) {
    if (value == null || value.isEmpty()) {
      return Future.failedFuture(GrpcErrors.invalidArgument(field, "is required"));
    }
    try {
      return Future.succeededFuture(parseId(value));
    } catch (IllegalArgumentException e) {
      return Future.failedFuture(GrpcErrors.invalidArgument(field, io.silo.Quote.of(value)
          + " is not a migration id (a UUID)"));
    }
  }

  /**
   * Parses a migration id in its canonical 36-character form only: UUID.fromString also takes "1-2-3-4-5" and
   * ids missing a digit, which would turn a copy-paste slip into NOT_FOUND for some other id.
   */
  static UUID parseId(String value) {
    if (value.length() != 36) {
      // Checked first: UUID.fromString's own message would quote the whole (unbounded) value.
      throw new IllegalArgumentException("not a canonical UUID (length " + value.length() + ")");
    }
    UUID id = UUID.fromString(value);
    if (!id.toString().equalsIgnoreCase(value)) {
      throw new IllegalArgumentException("not a canonical UUID: " + io.silo.Quote.of(value));
    }
    return id;
  }

  /**
   * The definition a verify checks: the request's, else the one the tenant's latest migration ran with, else the
   * defaults.
   */
  static Future<JobDefinition> verifyPlan(Migrations migrations, String tenant, boolean has, MigrationDefinition d,
                                          EncryptionPlan.Namespace keyVault, CallContext ctx) {
    if (has) {
      try {
        JobDefinition job = MigrationProtos.job(true, d, migrations.defaults(), keyVault);
        EncryptionPlan defaults = migrations.defaults().part(PhaseName.MONGO, MongoSpec.class).plan();
        StatusException outside = outsideScope(job.part(PhaseName.MONGO, MongoSpec.class).plan(), defaults, ctx);
        return outside != null ? Future.failedFuture(outside) : Future.succeededFuture(job);
      } catch (EncryptionPlan.InvalidPlanException e) {
        return Future.failedFuture(e); // GrpcErrors maps it to INVALID_ARGUMENT naming the field
      } catch (StatusException e) {
        return Future.failedFuture(e);
      }
    }
    return migrations.store().latest(tenant).map(latest -> latest
        .map(migrations::definitionOf).orElse(migrations.defaults()));
  }
}
