package io.silo.api;

import io.silo.api.v1.WatchMigrationRequest;
import io.silo.api.v1.WatchMigrationResponse;
import io.silo.auth.AccessControl;
import io.silo.jobs.MigrationRecord;
import io.silo.jobs.MigrationStore;
import io.silo.jobs.ProgressBus;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.grpc.server.GrpcServerRequest;
import io.vertx.grpc.server.GrpcServerResponse;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.server.StatusException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * One WatchMigration stream. It keeps only the newest snapshot per migration: a watcher that reads slowly (or not
 * at all) gets coalesced snapshots when it catches up, holds at most one pending snapshot per migration, and never
 * slows the migration, because the bus only hands it a reference. Writes stop while {@code writeQueueFull()} and
 * resume on the drain handler.
 */
final class WatchCall {

  private static final long MAX_INTERVAL_MILLIS = 60_000;

  private final GrpcServerRequest<WatchMigrationRequest, WatchMigrationResponse> request;
  private final GrpcServerResponse<WatchMigrationRequest, WatchMigrationResponse> response;
  private final MigrationStore store;
  private final ProgressBus bus;
  private final ActiveStreams streams;
  private final Function<String, Future<Void>> requireTenant;
  private final int defaultIntervalMillis;
  private final AccessControl access;
  private final StreamLimits limits;
  private final Context context;
  private final Map<UUID, ProgressBus.Snapshot> pending = new LinkedHashMap<>();
  private final Map<UUID, Long> coalesced = new HashMap<>();
  private AutoCloseable subscription;
  private UUID onlyId;
  private long intervalMillis;
  private long lastFlush;
  private long timer = -1;
  /**
   * How often the stream also reads its scope from the store. Runs on this instance publish every batch on the bus;
   * runs on other instances sharing the database (and changes they make) reach this watcher through this poll.
   */
  static final long STORE_POLL_MILLIS = 2000;
  private final Map<UUID, java.time.OffsetDateTime> newest = new HashMap<>();
  private final java.util.Set<UUID> activeSeen = new java.util.HashSet<>();
  private java.util.function.Supplier<Future<List<MigrationRecord>>> scope;
  private long pollTimer = -1;
  private boolean polling;
  private boolean drainArmed;
  private boolean closed;
  // The caller whose watch slot this stream holds, once it holds one.
  private String watchSlot;

  WatchCall(GrpcServerRequest<WatchMigrationRequest, WatchMigrationResponse> request, MigrationStore store,
            ProgressBus bus, ActiveStreams streams, Function<String, Future<Void>> requireTenant,
            int defaultIntervalMillis, StreamLimits limits, AccessControl access) {
    this.access = access;
    this.limits = limits;
    this.request = request;
    this.response = request.response();
    this.store = store;
    this.bus = bus;
    this.streams = streams;
    this.requireTenant = requireTenant;
    this.defaultIntervalMillis = defaultIntervalMillis;
    this.context = Vertx.currentContext();
    UnaryCalls.onMessage(request, io.silo.api.v1.MigrationServiceGrpcService.WatchMigration.decoder(), access,
        this::begin);
    // A client cancel or an expired deadline shows up here only; drop the subscription so nothing leaks.
    request.errorHandler(error -> close());
    request.exceptionHandler(error -> close());
    response.exceptionHandler(error -> close());
    // A deadline the server enforces itself ends the response without calling any handler above (a client that
    // does not cancel on its deadline sends nothing), so the expiry must drop the subscription too.
    if (request.deadline() != null) {
      request.deadline().onSuccess(expired -> close());
    }
  }

  private void begin(WatchMigrationRequest message) {
    Predicate<MigrationRecord> filter;
    Future<List<MigrationRecord>> initial;
    try {
      CallContext ctx = CallContext.of(request, access);
      if (message.getAll() && ctx.scoped()) {
        // A tenant-scoped caller's "everything" is its own tenant: the stream carries nothing else.
        message = message.toBuilder().setAll(false).setTenant(ctx.principal().tenant()).build();
      }
      int selectors = (message.getMigrationId().isEmpty() ? 0 : 1) + (message.getTenant().isEmpty() ? 0 : 1)
          + (message.getAll() ? 1 : 0);
      if (selectors != 1) {
        throw GrpcErrors.invalidArgument("migration_id", "set exactly one of migration_id, tenant or all");
      }
      // Validated before any arithmetic: seconds * 1000 of a huge duration would wrap into the allowed range.
      long interval = message.hasMinInterval()
          ? Validation.duration("min_interval", message.getMinInterval(), MAX_INTERVAL_MILLIS)
          : defaultIntervalMillis;
      intervalMillis = interval;
      if (!message.getMigrationId().isEmpty()) {
        try {
          onlyId = MigrationEndpoint.parseId(message.getMigrationId());
        } catch (IllegalArgumentException e) {
          throw GrpcErrors.invalidArgument("migration_id", io.silo.Quote.of(message.getMigrationId())
              + " is not a migration id (a UUID)");
        }
        UUID id = onlyId;
        filter = m -> m.id().equals(id);
        initial = store.get(id).compose(found -> found.isPresent()
            ? ctx.permittedOwner("migration_id", found.get().tenant()).map(v -> List.of(found.get()))
            : Future.failedFuture(GrpcErrors.notFound("migration_id: no migration " + id)));
      } else if (!message.getTenant().isEmpty()) {
        String tenant = Validation.slug("tenant", message.getTenant());
        ctx.permit("tenant", tenant);
        filter = m -> m.tenant().equals(tenant);
        // The tenant's active runs, or else its newest one, so a late watcher sees where things stand. A tenant
        // that is not registered is NOT_FOUND, so a misspelt slug fails at once instead of waiting forever.
        scope = () -> store.activeJobs(tenant);
        initial = requireTenant.apply(tenant).compose(v -> store.activeJobs(tenant))
            .compose(active -> active.isEmpty()
                ? store.latest(tenant).map(latest -> latest.map(List::of).orElse(List.of()))
                : Future.succeededFuture(active));
      } else {
        filter = m -> true;
        scope = () -> store.activeJobs(null);
        initial = store.activeJobs(null);
      }
      if (!limits.tryAcquireWatch(ctx.caller())) {
        throw new StatusException(GrpcStatus.RESOURCE_EXHAUSTED, "watch.maxPerCaller: " + ctx.caller()
            + " already holds " + limits.maxWatchesPerCaller() + " WatchMigration streams (the limit); close one"
            + " and retry");
      }
      watchSlot = ctx.caller();
    } catch (StatusException e) {
      GrpcErrors.fail(response, e);
      return;
    }
    if (!streams.register(response)) {
      close();
      return;
    }
    // Subscribe before reading the store, so nothing published in between is missed; the newer snapshot wins.
    subscription = bus.subscribe(filter, snapshot -> context.runOnContext(v -> offer(snapshot, false)));
    initial.onComplete(done -> {
      if (closed) {
        return;
      }
      if (done.failed()) {
        fail(GrpcErrors.toStatus(done.cause()));
        return;
      }
      for (MigrationRecord record : done.result()) {
        ProgressBus.Snapshot live = bus.latest(record.id()).orElse(null);
        ProgressBus.Snapshot snapshot = live != null && !record.isFinal() ? live
            : new ProgressBus.Snapshot(record, 0, null);
        offer(snapshot, true);
      }
      flush();
      if (!closed) {
        pollTimer = context.owner().setPeriodic(STORE_POLL_MILLIS, t -> pollStore());
      }
    });
  }

  /**
   * Offers what the store shows that is newer than anything offered so far, including the final state of runs that
   * left the active set. Local runs' rows are never newer than what they published, so nothing is sent twice.
   */
  private void pollStore() {
    if (closed || polling) {
      return;
    }
    polling = true;
    Future<List<MigrationRecord>> current = onlyId != null
        ? store.get(onlyId).map(found -> found.map(List::of).orElse(List.of()))
        : scope.get().compose(active -> {
          java.util.Set<UUID> still = new java.util.HashSet<>();
          active.forEach(m -> still.add(m.id()));
          List<Future<java.util.Optional<MigrationRecord>>> left = new ArrayList<>();
          for (UUID id : activeSeen) {
            if (!still.contains(id)) {
              left.add(store.get(id));
            }
          }
          return Future.all(left).map(done -> {
            List<MigrationRecord> out = new ArrayList<>(active);
            left.forEach(f -> f.result().ifPresent(out::add));
            return out;
          });
        });
    current.onComplete(done -> {
      polling = false;
      if (done.failed() || closed) {
        return; // a failed poll is retried at the next tick; the bus keeps local runs flowing meanwhile
      }
      for (MigrationRecord record : done.result()) {
        java.time.OffsetDateTime seen = newest.get(record.id());
        if (seen == null || record.updatedAt().isAfter(seen)) {
          offer(new ProgressBus.Snapshot(record, 0, null), false);
        }
      }
    });
  }

  private void offer(ProgressBus.Snapshot snapshot, boolean initialSnapshot) {
    if (closed) {
      return;
    }
    UUID id = snapshot.migration().id();
    ProgressBus.Snapshot previous = pending.get(id);
    if (initialSnapshot && previous != null) {
      return; // a live snapshot arrived first and is newer
    }
    MigrationRecord m = snapshot.migration();
    if (m.updatedAt() != null) {
      newest.merge(id, m.updatedAt(), (a, b) -> b.isAfter(a) ? b : a);
    }
    if (m.isActive()) {
      activeSeen.add(id);
    } else {
      activeSeen.remove(id);
    }
    if (previous != null) {
      coalesced.merge(id, 1L, Long::sum);
    }
    pending.put(id, snapshot);
    if (snapshot.migration().isFinal() || initialSnapshot) {
      flush();
    } else {
      schedule();
    }
  }

  private void schedule() {
    if (timer >= 0 || drainArmed) {
      return;
    }
    long wait = lastFlush + intervalMillis - System.currentTimeMillis();
    if (wait <= 0) {
      flush();
    } else {
      timer = context.owner().setTimer(wait, t -> {
        timer = -1;
        flush();
      });
    }
  }

  private void flush() {
    if (closed) {
      return;
    }
    lastFlush = System.currentTimeMillis();
    List<UUID> ids = new ArrayList<>(pending.keySet());
    for (UUID id : ids) {
      if (response.writeQueueFull()) {
        if (!drainArmed) {
          drainArmed = true;
          response.drainHandler(v -> {
            drainArmed = false;
            flush();
          });
        }
        return;
      }
      ProgressBus.Snapshot snapshot = pending.remove(id);
      long skipped = coalesced.getOrDefault(id, 0L);
      coalesced.remove(id);
      response.write(WatchMigrationResponse.newBuilder()
          .setEvent(MigrationProtos.event(snapshot, skipped)).build());
      if (onlyId != null && snapshot.migration().isFinal()) {
        close();
        response.end();
        return;
      }
    }
  }

  private void fail(StatusException status) {
    close();
    GrpcErrors.fail(response, status);
  }

  private void close() {
    if (closed) {
      return;
    }
    closed = true;
    pending.clear();
    if (timer >= 0) {
      context.owner().cancelTimer(timer);
    }
    if (pollTimer >= 0) {
      context.owner().cancelTimer(pollTimer);
    }
    closeSubscription();
    streams.unregister(response);
    if (watchSlot != null) {
      limits.releaseWatch(watchSlot);
      watchSlot = null;
    }
  }

  private void closeSubscription() {
    if (subscription != null) {
      try {
        subscription.close();
      } catch (Exception ignored) {
        // Removing a listener from a list cannot fail in a way the caller could act on.
      }
      subscription = null;
    }
  }
}
