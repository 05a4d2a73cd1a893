package io.silo.api;

import io.silo.api.v1.FindingKind;
import io.silo.api.v1.MigrationServiceGrpcService;
import io.silo.api.v1.VerifyFinding;
import io.silo.api.v1.VerifySummary;
import io.silo.api.v1.VerifyTenantRequest;
import io.silo.api.v1.VerifyTenantResponse;
import io.silo.auth.AccessControl;
import io.silo.auth.RpcPolicy;
import io.silo.jobs.Migrations;
import io.silo.mongo.EncryptionPlan;
import io.silo.jobs.Finding;
import io.silo.jobs.PhaseName;
import io.silo.jobs.TenantScope;
import io.vertx.core.Future;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.server.GrpcServerRequest;
import io.vertx.grpc.server.GrpcServerResponse;
import io.vertx.grpc.server.StatusException;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * One VerifyTenant stream. The verifier runs on a worker thread and hands each finding over here; when the client's
 * write queue is full the worker waits for the drain, so a slow reader slows only its own verify and memory stays
 * bounded. A reader that stops reading for {@link StreamLimits#stallMillis()} is cut off (the stream is reset, as
 * trailers cannot pass data the client will not read), and a cancel, a reset, a closed connection or an expired
 * deadline wakes a waiting worker at once; the verifier stops at its next finding or batch. At most
 * {@link StreamLimits#maxVerifies()} streams hold a worker at a time.
 */
final class VerifyCall {

  private static final long PROGRESS_EVERY_NANOS = 1_000_000_000L;

  private final GrpcServerRequest<VerifyTenantRequest, VerifyTenantResponse> request;
  private final GrpcServerResponse<VerifyTenantRequest, VerifyTenantResponse> response;
  private final Migrations migrations;
  private final ActiveStreams streams;
  private final EncryptionPlan.Namespace keyVault;
  private final StreamLimits limits;
  private final AccessControl access;
  private final Context context;
  private volatile boolean cancelled;
  private volatile CompletableFuture<Void> room;
  private long lastProgress;
  private List<PhaseName> selected = List.of();
  private final java.util.concurrent.atomic.AtomicLong extraTargets = new java.util.concurrent.atomic.AtomicLong();

  VerifyCall(GrpcServerRequest<VerifyTenantRequest, VerifyTenantResponse> request, Migrations migrations,
             ActiveStreams streams, EncryptionPlan.Namespace keyVault, StreamLimits limits, AccessControl access) {
    this.access = access;
    this.request = request;
    this.response = request.response();
    this.migrations = migrations;
    this.streams = streams;
    this.keyVault = keyVault;
    this.limits = limits;
    this.context = Vertx.currentContext();
    UnaryCalls.onMessage(request, MigrationServiceGrpcService.VerifyTenant.decoder(), access, this::begin);
    request.errorHandler(error -> cancel());
    request.exceptionHandler(error -> cancel());
    // Once the request half-closed (right after its one message) a dropped connection no longer reaches the request's
    // handlers; it does reach the response's, so a client that vanishes without cancelling frees its worker too.
    response.exceptionHandler(error -> cancel());
    // A deadline the server enforces ends the response without calling the handlers above; stop the worker too.
    if (request.deadline() != null) {
      request.deadline().onSuccess(expired -> cancel());
    }
  }

  private void begin(VerifyTenantRequest message) {
    String tenant;
    CallContext ctx;
    try {
      tenant = Validation.slug("tenant", message.getTenant());
      ctx = CallContext.of(request, access);
      ctx.permit("tenant", tenant);
      selected = selectedPhases(message);
    } catch (StatusException e) {
      GrpcErrors.fail(response, e);
      return;
    }
    if (!limits.tryAcquireVerify()) {
      GrpcErrors.fail(response, new StatusException(GrpcStatus.RESOURCE_EXHAUSTED, "tenant: " + limits.maxVerifies()
          + " verify streams are already running (the limit, verify.maxStreams); retry when one has finished"));
      return;
    }
    // Only a verify an operator (or admin) ran is recorded: a recorded clean verify is what allows a purge, and a
    // viewer must not be able to change what a purge may do.
    boolean record = ctx.principal().role().includes(RpcPolicy.RECORDED_VERIFY);
    if (!streams.register(response)) {
      limits.releaseVerify();
      return;
    }
    String caller = ctx.caller();
    migrations.requireTenants(List.of(tenant), "tenant")
        .compose(v -> MigrationEndpoint.verifyPlan(migrations, tenant, message.hasDefinition(), message.getDefinition(),
            keyVault, ctx))
        .compose(plan -> {
          for (PhaseName phase : selected) {
            if (!plan.has(phase)) {
              // Refused rather than ignored, so a clean answer never means "a phase that was not run was checked".
              return Future.failedFuture(GrpcErrors.failedPrecondition("phases: the definition verified has no "
                  + phase + " phase"));
            }
          }
          return migrations.verifyAndRecord(tenant, plan, selected, new Sink(), caller, record);
        })
        .onComplete(done -> {
          // The worker is free again only now; a cancel wakes it, but it still has to return.
          limits.releaseVerify();
          streams.unregister(response);
          if (cancelled) {
            return;
          }
          if (done.failed()) {
            GrpcErrors.fail(response, done.cause());
            return;
          }
          Migrations.Verification s = done.result();
          response.end(VerifyTenantResponse.newBuilder().setSummary(VerifySummary.newBuilder()
              .setChecked(s.checked()).setFindings(s.findings()).setClean(s.clean())
              .setExtraTargets(extraTargets.get())).build());
          CallAudits.finish(response, "OK", null);
        });
  }

  /** The request's phase selector; KEYS has nothing to verify and VERIFY/DONE are not phases of a definition. */
  private static List<PhaseName> selectedPhases(VerifyTenantRequest message) throws StatusException {
    List<PhaseName> out = new java.util.ArrayList<>();
    for (int i = 0; i < message.getPhasesCount(); i++) {
      switch (message.getPhases(i)) {
        case MIGRATION_PHASE_MONGO -> out.add(PhaseName.MONGO);
        case MIGRATION_PHASE_S3 -> out.add(PhaseName.S3);
        default -> throw GrpcErrors.invalidArgument("phases[" + i + "]", "must be MONGO or S3, got "
            + message.getPhases(i));
      }
    }
    return out;
  }

  private void cancel() {
    cancelled = true;
    CompletableFuture<Void> waiting = room;
    if (waiting != null) {
      waiting.completeExceptionally(new CancellationException("the caller cancelled the verify"));
    }
  }

  /** Cuts off a reader that stopped reading: runs on the call's context, resets the stream and frees the worker. */
  private void stalled() {
    cancel();
    context.runOnContext(v -> {
      try {
        response.cancel();
      } catch (RuntimeException ignored) {
        // The stream ended meanwhile; nothing is left to cut off.
      }
    });
  }

  /** Runs on the verifier's worker thread: each write hops to the call's context and waits for room if needed. */
  private final class Sink implements TenantScope.FindingSink {
    @Override
    public void finding(Finding f) {
      if (f.kind().equals("EXTRA_TARGET")) {
        extraTargets.incrementAndGet();
      }
      send(VerifyTenantResponse.newBuilder().setFinding(VerifyFinding.newBuilder()
          .setKind(FindingKind.valueOf("FINDING_KIND_" + f.kind()))
          .setPhase(MigrationProtos.phase(f.phase().name()))
          .setSourceId(f.item()).setField(f.field() == null ? "" : f.field()).setMessage(f.message())).build());
    }

    @Override
    public void checked(long soFar) {
      if (cancelled) {
        // Checked on every batch, not only when progress is due, so a cancelled verify stops at once.
        throw new CancellationException("the caller cancelled the verify");
      }
      long now = System.nanoTime();
      if (now - lastProgress >= PROGRESS_EVERY_NANOS) {
        lastProgress = now;
        send(VerifyTenantResponse.newBuilder().setCheckedSoFar(soFar).build());
      }
    }

    private void send(VerifyTenantResponse message) {
      if (cancelled) {
        throw new CancellationException("the caller cancelled the verify");
      }
      if (io.vertx.core.Context.isOnEventLoopThread()) {
        // A phase that verifies with non-blocking calls (S3) reports on an event loop, where waiting for room would
        // block the very loop that drains it: write at once; its findings are bounded by the tenant's documents.
        context.runOnContext(v -> {
          if (!cancelled) {
            response.write(message);
          }
        });
        return;
      }
      CompletableFuture<Void> ready = new CompletableFuture<>();
      room = ready;
      context.runOnContext(v -> {
        if (cancelled) {
          ready.completeExceptionally(new CancellationException("the caller cancelled the verify"));
          return;
        }
        response.write(message);
        if (response.writeQueueFull()) {
          response.drainHandler(x -> ready.complete(null));
        } else {
          ready.complete(null);
        }
      });
      try {
        ready.get(limits.stallMillis(), TimeUnit.MILLISECONDS);
      } catch (TimeoutException e) {
        stalled();
        throw new CancellationException("the caller stopped reading for " + limits.stallMillis() + " ms");
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new CancellationException("interrupted");
      } catch (java.util.concurrent.ExecutionException e) {
        throw e.getCause() instanceof RuntimeException r ? r : new CancellationException(e.getCause().toString());
      }
    }
  }
}
