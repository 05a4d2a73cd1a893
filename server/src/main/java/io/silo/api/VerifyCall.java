package io.silo.api;

import io.silo.api.v1.FindingKind;
import io.silo.api.v1.VerifyFinding;
import io.silo.api.v1.VerifySummary;
import io.silo.api.v1.VerifyTenantRequest;
import io.silo.api.v1.VerifyTenantResponse;
import io.silo.auth.AccessControl;
import io.silo.auth.RpcPolicy;
import io.silo.jobs.Migrations;
import io.silo.mongo.TenantVerifier;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
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
 * bounded. A cancelled call stops the verifier at its next finding or batch.
 */
final class VerifyCall {

  /** How long a stalled reader may hold a verify open; MongoDB's idle cursor timeout is 10 minutes. */
  private static final long MAX_STALL_SECONDS = 540;
  private static final long PROGRESS_EVERY_NANOS = 1_000_000_000L;

  private final GrpcServerRequest<VerifyTenantRequest, VerifyTenantResponse> request;
  private final GrpcServerResponse<VerifyTenantRequest, VerifyTenantResponse> response;
  private final Migrations migrations;
  private final ActiveStreams streams;
  private final AccessControl access;
  private final Context context;
  private volatile boolean cancelled;
  private volatile CompletableFuture<Void> room;
  private long lastProgress;

  VerifyCall(GrpcServerRequest<VerifyTenantRequest, VerifyTenantResponse> request, Migrations migrations,
             ActiveStreams streams, AccessControl access) {
    this.access = access;
    this.request = request;
    this.response = request.response();
    this.migrations = migrations;
    this.streams = streams;
    this.context = Vertx.currentContext();
    request.handler(this::begin);
    request.errorHandler(error -> cancel());
    request.exceptionHandler(error -> cancel());
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
    } catch (StatusException e) {
      response.fail(e);
      return;
    }
    // Only a verify an operator (or admin) ran is recorded: a recorded clean verify is what allows a purge, and a
    // viewer must not be able to change what a purge may do.
    boolean record = ctx.principal().role().includes(RpcPolicy.RECORDED_VERIFY);
    if (!streams.register(response)) {
      return;
    }
    String caller = ctx.caller();
    migrations.requireTenants(List.of(tenant), "tenant")
        .compose(v -> MigrationEndpoint.verifyPlan(migrations, tenant, message.hasDefinition(),
            message.getDefinition(), ctx))
        .compose(plan -> migrations.verifyAndRecord(tenant, plan, new Sink(), caller, record))
        .onComplete(done -> {
          streams.unregister(response);
          if (cancelled) {
            return;
          }
          if (done.failed()) {
            response.fail(GrpcErrors.toStatus(done.cause()));
            return;
          }
          TenantVerifier.Summary s = done.result();
          response.end(VerifyTenantResponse.newBuilder().setSummary(VerifySummary.newBuilder()
              .setChecked(s.checked()).setFindings(s.findings()).setClean(s.clean())
              .setExtraTargets(s.extraTargets())).build());
        });
  }

  private void cancel() {
    cancelled = true;
    CompletableFuture<Void> waiting = room;
    if (waiting != null) {
      waiting.completeExceptionally(new CancellationException("the caller cancelled the verify"));
    }
  }

  /** Runs on the verifier's worker thread: each write hops to the call's context and waits for room if needed. */
  private final class Sink implements TenantVerifier.Sink {
    @Override
    public void finding(TenantVerifier.Finding f) {
      send(VerifyTenantResponse.newBuilder().setFinding(VerifyFinding.newBuilder()
          .setKind(FindingKind.valueOf("FINDING_KIND_" + f.kind().name()))
          .setSourceId(f.sourceId()).setField(f.field()).setMessage(f.message())).build());
    }

    @Override
    public void checked(long soFar) {
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
        ready.get(MAX_STALL_SECONDS, TimeUnit.SECONDS);
      } catch (TimeoutException e) {
        cancelled = true;
        throw new CancellationException("the caller stopped reading for " + MAX_STALL_SECONDS + " s");
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new CancellationException("interrupted");
      } catch (java.util.concurrent.ExecutionException e) {
        throw e.getCause() instanceof RuntimeException r ? r : new CancellationException(e.getCause().toString());
      }
    }
  }
}
