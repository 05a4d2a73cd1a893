package io.silo.api;

import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.StatusException;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Holds Silo's own RPCs (silo.v1) back with UNAVAILABLE until the server is ready, for example while
 * {@code silo-server dev --demo} is still seeding: a migration started then would copy half-written data.
 * Health and reflection stay reachable, so callers can watch for SERVING.
 */
public final class ReadinessGate {

  private static final String GATED_PREFIX = "/silo.v1.";

  private final AtomicReference<String> notReadyReason;
  // A gRPC server with only a fallback handler answers refused calls properly for gRPC and gRPC-Web alike.
  private final GrpcServer refusing;

  /** A gate that is closed with {@code notReadyReason}, or open from the start when it is null. */
  public ReadinessGate(Vertx vertx, String notReadyReason) {
    this.notReadyReason = new AtomicReference<>(notReadyReason);
    this.refusing = GrpcServer.server(vertx);
    refusing.callHandler(request -> {
      String reason = this.notReadyReason.get();
      // Drain the request so the HTTP/2 stream is not left half-open, then answer.
      request.handler(ignored -> { });
      request.response().fail(new StatusException(GrpcStatus.UNAVAILABLE, request.fullMethodName()
          + " is refused until the server is ready: " + (reason == null ? "starting" : reason)
          + "; grpc.health.v1 reports SERVING once it is"));
    });
  }

  /** Whether the request may go to the real endpoints: the gate is open, or the request is not a silo.v1 call. */
  public boolean admits(HttpServerRequest request) {
    return notReadyReason.get() == null || !request.path().startsWith(GATED_PREFIX);
  }

  /** Answers a request that {@link #admits} refused with UNAVAILABLE naming the reason. */
  public void refuse(HttpServerRequest request) {
    refusing.handle(request);
  }

  /** Opens the gate; returns false if it was open already. */
  public boolean open() {
    return notReadyReason.getAndSet(null) != null;
  }

  public boolean isOpen() {
    return notReadyReason.get() == null;
  }
}
