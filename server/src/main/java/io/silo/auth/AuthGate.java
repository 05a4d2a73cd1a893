package io.silo.auth;

import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.StatusException;

/**
 * The one place every gRPC and gRPC-Web call passes before any endpoint sees it: it authenticates the bearer token
 * and checks the role the method needs, and answers refused calls with UNAUTHENTICATED or PERMISSION_DENIED.
 * Tenant scope depends on the request message, so endpoints apply it with the caller {@link AccessControl} names.
 */
public final class AuthGate {

  private final AccessControl access;
  // A gRPC server with only a fallback handler frames the refusal properly for gRPC and gRPC-Web alike.
  private final GrpcServer refusing;

  /** A gate that applies {@code access}. */
  public AuthGate(Vertx vertx, AccessControl access) {
    this.access = access;
    this.refusing = GrpcServer.server(vertx);
    refusing.callHandler(request -> {
      // Decided again from the same method and header: the answer is a pure function of both.
      AccessControl.Decision decision = access.decide(request.fullMethodName(),
          request.headers().get("authorization"), ClientCertificates.subjectOf(request.connection()));
      request.handler(ignored -> { });
      request.response().fail(new StatusException(
          decision.refusal() == AccessControl.Refusal.PERMISSION_DENIED
              ? GrpcStatus.PERMISSION_DENIED : GrpcStatus.UNAUTHENTICATED,
          decision.allowed() ? "refused" : decision.message()));
    });
  }

  /** The access control this gate applies. */
  public AccessControl access() {
    return access;
  }

  /** Whether the call may reach the endpoints. */
  public boolean admits(HttpServerRequest request) {
    return access.decide(methodOf(request.path()), request.getHeader("authorization"),
        ClientCertificates.subjectOf(request.connection())).allowed();
  }

  /** Answers a call {@link #admits} refused, with the status and message for the caller. */
  public void refuse(HttpServerRequest request) {
    refusing.handle(request);
  }

  /** The gRPC method name ({@code package.Service/Method}) of a request path. */
  static String methodOf(String path) {
    return path == null ? "" : path.startsWith("/") ? path.substring(1) : path;
  }
}
