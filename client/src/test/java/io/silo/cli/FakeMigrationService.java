package io.silo.cli;

import com.google.protobuf.Message;
import com.google.protobuf.Timestamp;
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.silo.api.v1.CancelMigrationRequest;
import io.silo.api.v1.CancelMigrationResponse;
import io.silo.api.v1.FailedItem;
import io.silo.api.v1.GetCompletionReportRequest;
import io.silo.api.v1.GetCompletionReportResponse;
import io.silo.api.v1.GetMigrationRequest;
import io.silo.api.v1.GetMigrationResponse;
import io.silo.api.v1.ListMigrationsRequest;
import io.silo.api.v1.ListMigrationsResponse;
import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationEvent;
import io.silo.api.v1.MigrationPhase;
import io.silo.api.v1.MigrationServiceGrpc;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.PauseMigrationRequest;
import io.silo.api.v1.PauseMigrationResponse;
import io.silo.api.v1.PhaseProgress;
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
import io.silo.api.v1.VerifyTenantRequest;
import io.silo.api.v1.VerifyTenantResponse;
import io.silo.api.v1.WatchMigrationRequest;
import io.silo.api.v1.WatchMigrationResponse;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.function.Predicate;

/**
 * In-memory MigrationService for CLI tests: records every request, keeps
 * migrations by id with the server's start rules (idempotency key, one active
 * migration per tenant), and plays scripted WatchMigration and VerifyTenant
 * streams. Watches by tenant or all stay open until the client cancels, as
 * the real server's do.
 */
final class FakeMigrationService extends MigrationServiceGrpc.MigrationServiceImplBase {

  /** Every request, in order. */
  final List<Message> requests = new CopyOnWriteArrayList<>();
  /** The deadline of each streaming call (empty: none), in order. */
  final List<Optional<Deadline>> streamDeadlines = new CopyOnWriteArrayList<>();
  /** Migrations by id, oldest first. */
  final Map<String, Migration> migrations = new LinkedHashMap<>();
  /** Plans by tenant; PlanMigration answers for the tenants asked (all of these with all_tenants). */
  final Map<String, TenantPlan> plans = new LinkedHashMap<>();
  /** Watch scripts by selector: "id:ID", "tenant:SLUG" or "all". */
  final Map<String, List<WatchMigrationResponse>> watchScripts = new HashMap<>();
  /** VerifyTenant scripts by tenant; a tenant without one is NOT_FOUND. */
  final Map<String, List<VerifyTenantResponse>> verifyScripts = new HashMap<>();
  /** Failed items by migration id, for GetCompletionReport. */
  final Map<String, List<FailedItem>> reportItems = new HashMap<>();
  /** Errors the next call of a method (by its proto name, e.g. "StartMigration") fails with, once. */
  final Map<String, StatusRuntimeException> errors = new HashMap<>();
  /** Which tenants exist, for the NOT_FOUND rules. */
  private final Predicate<String> tenantExists;

  /** Counted down when a watch stream opens, and when the client cancels one. */
  final CountDownLatch watchOpened = new CountDownLatch(1);
  final CountDownLatch watchCancelled = new CountDownLatch(1);

  /** Keeps even a watch by id open after its script, to prove the client stops at the final event by itself. */
  volatile boolean keepOpenAfterScript;

  private final Map<String, List<String>> byIdempotencyKey = new HashMap<>();
  private int nextId = 1;

  FakeMigrationService(Predicate<String> tenantExists) {
    this.tenantExists = tenantExists;
  }

  // --- test helpers ---

  /** A migration snapshot in the current phase with the given counts; earlier phases are complete. */
  static Migration migration(String id, String tenant, MigrationState state, MigrationPhase phase, long done, long total,
      long failed) {
    Migration.Builder m = Migration.newBuilder()
        .setId(id)
        .setTenant(tenant)
        .setState(state)
        .setPhase(phase)
        .setCreateTime(Timestamp.newBuilder().setSeconds(1_766_000_000L))
        .setUpdateTime(Timestamp.newBuilder().setSeconds(1_766_000_060L));
    if (phase.getNumber() >= MigrationPhase.MIGRATION_PHASE_KEYS_VALUE && phase != MigrationPhase.MIGRATION_PHASE_DONE) {
      if (phase != MigrationPhase.MIGRATION_PHASE_KEYS) {
        m.addProgress(PhaseProgress.newBuilder().setPhase(MigrationPhase.MIGRATION_PHASE_KEYS).setDone(1).setTotal(1));
      }
      m.addProgress(PhaseProgress.newBuilder().setPhase(phase).setDone(done).setTotal(total).setFailed(failed));
    }
    return m.build();
  }

  /** A completed migration: KEYS 1/1 and MONGO total/total with {@code failed} failed items. */
  static Migration completed(String id, String tenant, long total, long failed) {
    return Migration.newBuilder()
        .setId(id)
        .setTenant(tenant)
        .setState(MigrationState.MIGRATION_STATE_COMPLETED)
        .setPhase(MigrationPhase.MIGRATION_PHASE_DONE)
        .addProgress(PhaseProgress.newBuilder().setPhase(MigrationPhase.MIGRATION_PHASE_KEYS).setDone(1).setTotal(1))
        .addProgress(PhaseProgress.newBuilder().setPhase(MigrationPhase.MIGRATION_PHASE_MONGO)
            .setDone(total).setTotal(total).setFailed(failed))
        .setCreateTime(Timestamp.newBuilder().setSeconds(1_766_000_000L))
        .setCompleteTime(Timestamp.newBuilder().setSeconds(1_766_000_600L))
        .build();
  }

  /** A watch message carrying {@code m}. */
  static WatchMigrationResponse event(Migration m, boolean isFinal) {
    return WatchMigrationResponse.newBuilder()
        .setEvent(MigrationEvent.newBuilder()
            .setMigration(m)
            .setFinal(isFinal)
            .setRatePerSecond(isFinal ? 0 : 250)
            .setEta(com.google.protobuf.Duration.newBuilder().setSeconds(isFinal ? 0 : 12)))
        .build();
  }

  /** Stores a migration as if started earlier. */
  synchronized Migration put(Migration m) {
    migrations.put(m.getId(), m);
    return m;
  }

  // --- the service ---

  private boolean failIfScripted(String method, StreamObserver<?> out) {
    StatusRuntimeException e;
    synchronized (this) {
      e = errors.remove(method);
    }
    if (e != null) {
      out.onError(e);
      return true;
    }
    return false;
  }

  private static <T> void reply(StreamObserver<T> out, T response) {
    out.onNext(response);
    out.onCompleted();
  }

  @Override
  public void planMigration(PlanMigrationRequest req, StreamObserver<PlanMigrationResponse> out) {
    requests.add(req);
    if (failIfScripted("PlanMigration", out)) {
      return;
    }
    PlanMigrationResponse.Builder response = PlanMigrationResponse.newBuilder();
    synchronized (this) {
      if (req.getAllTenants()) {
        response.addAllPlans(plans.values());
      }
      for (int i = 0; i < req.getTenantsCount(); i++) {
        TenantPlan p = plans.get(req.getTenants(i));
        if (p == null) {
          out.onError(Status.NOT_FOUND.withDescription("tenants[" + i + "]: tenant '" + req.getTenants(i) + "' not found")
              .asRuntimeException());
          return;
        }
        response.addPlans(p);
      }
    }
    reply(out, response.build());
  }

  @Override
  public void startMigration(StartMigrationRequest req, StreamObserver<StartMigrationResponse> out) {
    requests.add(req);
    if (failIfScripted("StartMigration", out)) {
      return;
    }
    StartMigrationResponse.Builder response = StartMigrationResponse.newBuilder();
    synchronized (this) {
      List<String> replay = byIdempotencyKey.get(req.getIdempotencyKey());
      if (!req.getIdempotencyKey().isEmpty() && replay != null) {
        replay.forEach(id -> response.addMigrations(migrations.get(id)));
        reply(out, response.build());
        return;
      }
      List<String> tenants = req.getAllTenants() ? new ArrayList<>(plans.keySet()) : req.getTenantsList();
      for (int i = 0; i < tenants.size(); i++) {
        String tenant = tenants.get(i);
        if (!tenantExists.test(tenant)) {
          out.onError(Status.NOT_FOUND.withDescription("tenants[" + i + "]: tenant '" + tenant + "' not found")
              .asRuntimeException());
          return;
        }
      }
      List<String> ids = new ArrayList<>();
      for (String tenant : tenants) {
        Migration active = migrations.values().stream()
            .filter(m -> m.getTenant().equals(tenant) && !MigrationText.isFinal(m.getState()))
            .findFirst().orElse(null);
        Migration m = active != null ? active : put(migration("mig-" + tenant + "-" + nextId++, tenant,
            MigrationState.MIGRATION_STATE_RUNNING, MigrationPhase.MIGRATION_PHASE_KEYS, 0, 1, 0).toBuilder()
            .setDefinition(req.getDefinition()).setIdempotencyKey(req.getIdempotencyKey()).build());
        ids.add(m.getId());
        response.addMigrations(m);
      }
      if (!req.getIdempotencyKey().isEmpty()) {
        byIdempotencyKey.put(req.getIdempotencyKey(), ids);
      }
    }
    reply(out, response.build());
  }

  @Override
  public void watchMigration(WatchMigrationRequest req, StreamObserver<WatchMigrationResponse> out) {
    requests.add(req);
    streamDeadlines.add(Optional.ofNullable(Context.current().getDeadline()));
    ServerCallStreamObserver<WatchMigrationResponse> call = (ServerCallStreamObserver<WatchMigrationResponse>) out;
    call.setOnCancelHandler(watchCancelled::countDown);
    watchOpened.countDown();
    if (failIfScripted("WatchMigration", out)) {
      return;
    }
    String key = !req.getMigrationId().isEmpty() ? "id:" + req.getMigrationId()
        : !req.getTenant().isEmpty() ? "tenant:" + req.getTenant() : "all";
    List<WatchMigrationResponse> script;
    synchronized (this) {
      script = watchScripts.get(key);
      if (script == null && !req.getMigrationId().isEmpty() && !migrations.containsKey(req.getMigrationId())) {
        out.onError(Status.NOT_FOUND.withDescription("migration_id: migration '" + req.getMigrationId() + "' not found")
            .asRuntimeException());
        return;
      }
    }
    for (WatchMigrationResponse r : script == null ? List.<WatchMigrationResponse>of() : script) {
      if (call.isCancelled()) {
        return;
      }
      out.onNext(r);
    }
    // By id the server ends the stream after the final event; by tenant or all
    // it stays open until the client goes away.
    if (!req.getMigrationId().isEmpty() && !keepOpenAfterScript) {
      out.onCompleted();
    }
  }

  @Override
  public void getMigration(GetMigrationRequest req, StreamObserver<GetMigrationResponse> out) {
    requests.add(req);
    Migration m = find(req.getMigrationId(), out);
    if (m != null) {
      reply(out, GetMigrationResponse.newBuilder().setMigration(m).build());
    }
  }

  private synchronized Migration find(String id, StreamObserver<?> out) {
    Migration m = migrations.get(id);
    if (m == null) {
      out.onError(Status.NOT_FOUND.withDescription("migration_id: migration '" + id + "' not found").asRuntimeException());
    }
    return m;
  }

  @Override
  public void listMigrations(ListMigrationsRequest req, StreamObserver<ListMigrationsResponse> out) {
    requests.add(req);
    List<Migration> newestFirst;
    synchronized (this) {
      newestFirst = new ArrayList<>(migrations.values());
    }
    java.util.Collections.reverse(newestFirst);
    List<Migration> matching = newestFirst.stream()
        .filter(m -> req.getTenant().isEmpty() || m.getTenant().equals(req.getTenant()))
        .filter(m -> req.getStatesCount() == 0 || req.getStatesList().contains(m.getState()))
        .toList();
    int size = req.getPageSize() == 0 ? 100 : req.getPageSize();
    int offset = req.getPageToken().isEmpty() ? 0 : Integer.parseInt(req.getPageToken().substring("moff-".length()));
    int end = Math.min(matching.size(), offset + size);
    ListMigrationsResponse.Builder page = ListMigrationsResponse.newBuilder().addAllMigrations(matching.subList(offset, end));
    if (end < matching.size()) {
      page.setNextPageToken("moff-" + end);
    }
    reply(out, page.build());
  }

  private Migration transition(String id, MigrationState to, StreamObserver<?> out) {
    synchronized (this) {
      Migration m = find(id, out);
      if (m == null) {
        return null;
      }
      if (MigrationText.isFinal(m.getState())) {
        out.onError(Status.FAILED_PRECONDITION.withDescription("migration_id: migration '" + id + "' is "
            + m.getState().name() + "; it cannot change any more").asRuntimeException());
        return null;
      }
      return put(m.toBuilder().setState(to).build());
    }
  }

  @Override
  public void pauseMigration(PauseMigrationRequest req, StreamObserver<PauseMigrationResponse> out) {
    requests.add(req);
    Migration m = transition(req.getMigrationId(), MigrationState.MIGRATION_STATE_PAUSED, out);
    if (m != null) {
      reply(out, PauseMigrationResponse.newBuilder().setMigration(m).build());
    }
  }

  @Override
  public void resumeMigration(ResumeMigrationRequest req, StreamObserver<ResumeMigrationResponse> out) {
    requests.add(req);
    Migration m = transition(req.getMigrationId(), MigrationState.MIGRATION_STATE_RUNNING, out);
    if (m != null) {
      reply(out, ResumeMigrationResponse.newBuilder().setMigration(m).build());
    }
  }

  @Override
  public void cancelMigration(CancelMigrationRequest req, StreamObserver<CancelMigrationResponse> out) {
    requests.add(req);
    Migration m = transition(req.getMigrationId(), MigrationState.MIGRATION_STATE_CANCELLED, out);
    if (m != null) {
      reply(out, CancelMigrationResponse.newBuilder().setMigration(m).build());
    }
  }

  @Override
  public void verifyTenant(VerifyTenantRequest req, StreamObserver<VerifyTenantResponse> out) {
    requests.add(req);
    streamDeadlines.add(Optional.ofNullable(Context.current().getDeadline()));
    if (failIfScripted("VerifyTenant", out)) {
      return;
    }
    List<VerifyTenantResponse> script;
    synchronized (this) {
      script = verifyScripts.get(req.getTenant());
    }
    if (script == null) {
      out.onError(Status.NOT_FOUND.withDescription("tenant: tenant '" + req.getTenant() + "' has no migrated data")
          .asRuntimeException());
      return;
    }
    script.forEach(out::onNext);
    out.onCompleted();
  }

  @Override
  public void rollbackMigration(RollbackMigrationRequest req, StreamObserver<RollbackMigrationResponse> out) {
    requests.add(req);
    Migration rolledBack;
    synchronized (this) {
      Migration m = !req.getMigrationId().isEmpty() ? migrations.get(req.getMigrationId())
          : migrations.values().stream().filter(x -> x.getTenant().equals(req.getTenant()))
              .reduce((a, b) -> b).orElse(null);
      if (m == null) {
        out.onError(Status.NOT_FOUND.withDescription("tenant: no migration of tenant '" + req.getTenant() + "'")
            .asRuntimeException());
        return;
      }
      rolledBack = put(m.toBuilder().setState(MigrationState.MIGRATION_STATE_ROLLED_BACK).build());
    }
    reply(out, RollbackMigrationResponse.newBuilder().setMigration(rolledBack).setDocumentsRemoved(1200).setObjectsRemoved(7).build());
  }

  @Override
  public void purgeSource(PurgeSourceRequest req, StreamObserver<PurgeSourceResponse> out) {
    requests.add(req);
    if (!req.getConfirm().equals(req.getTenant())) {
      out.onError(Status.FAILED_PRECONDITION.withDescription("confirm: must equal the tenant slug '" + req.getTenant() + "'")
          .asRuntimeException());
      return;
    }
    // Tenant "changing" answers as a purge that found source items changed since their copy.
    reply(out, req.getTenant().equals("changing")
        ? PurgeSourceResponse.newBuilder().setDocumentsDeleted(1199).setDocumentsKept(1).setObjectsDeleted(5)
            .setObjectsKept(2).setAuditId(4712).build()
        : PurgeSourceResponse.newBuilder().setDocumentsDeleted(1200).setObjectsDeleted(7).setAuditId(4711).build());
  }

  @Override
  public void getCompletionReport(GetCompletionReportRequest req, StreamObserver<GetCompletionReportResponse> out) {
    requests.add(req);
    Migration m = find(req.getMigrationId(), out);
    if (m == null) {
      return;
    }
    List<FailedItem> items;
    synchronized (this) {
      items = reportItems.getOrDefault(req.getMigrationId(), List.of());
    }
    int size = req.getPageSize() == 0 ? 100 : req.getPageSize();
    int offset = req.getPageToken().isEmpty() ? 0 : Integer.parseInt(req.getPageToken().substring("roff-".length()));
    int end = Math.min(items.size(), offset + size);
    GetCompletionReportResponse.Builder page =
        GetCompletionReportResponse.newBuilder().setMigration(m).addAllItems(items.subList(offset, end));
    if (end < items.size()) {
      page.setNextPageToken("roff-" + end);
    }
    reply(out, page.build());
  }
}
