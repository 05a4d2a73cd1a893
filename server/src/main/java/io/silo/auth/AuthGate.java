package io.silo.auth;

import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerRequest;
import io.vertx.grpc.server.StatusException;
import javax.security.auth.x500.X500Principal;

/**
 * The one place every gRPC and gRPC-Web call passes before any endpoint sees it: it authenticates the bearer token
 * or client certificate and checks the role the method needs, and answers refused calls with UNAUTHENTICATED or
 * PERMISSION_DENIED, recording each refusal in the audit trail. Tenant scope depends on the request message, so
 * endpoints apply it with the caller {@link AccessControl} names.
 */
public final class AuthGate {

  /**
   * How long a refusal waits for the request message, whose digest the audit row keeps. Clients send it with the
   * headers; one that sends none is refused after this, and its row has no digest.
   */
  static final long MESSAGE_WAIT_MILLIS = 2_000;

  private final AccessControl access;
  // A gRPC server with only a fallback handler frames the refusal properly for gRPC and gRPC-Web alike.
  private final GrpcServer refusing;

  /** A gate that applies {@code access}. */
  public AuthGate(Vertx vertx, AccessControl access) {
    this.access = access;
    this.refusing = GrpcServer.server(vertx);
    refusing.callHandler(request -> {
      long timer = vertx.setTimer(MESSAGE_WAIT_MILLIS, t -> refuse(request, null));
      request.handler(message -> {
        if (vertx.cancelTimer(timer)) {
          refuse(request, message);
        }
      });
      request.endHandler(v -> {
        if (vertx.cancelTimer(timer)) {
          refuse(request, Buffer.buffer());
        }
      });
      request.exceptionHandler(e -> {
        if (vertx.cancelTimer(timer)) {
          refuse(request, null);
        }
      });
    });
  }

  private void refuse(GrpcServerRequest<Buffer, Buffer> request, Buffer message) {
    String authorization = request.headers().get("authorization");
    X500Principal subject = ClientCertificates.subjectOf(request.connection());
    // Decided again from the same method, header and certificate: the answer is a pure function of them.
    AccessControl.Decision decision = access.decide(request.fullMethodName(), authorization, subject);
    GrpcStatus status = decision.refusal() == AccessControl.Refusal.PERMISSION_DENIED
        ? GrpcStatus.PERMISSION_DENIED : GrpcStatus.UNAUTHENTICATED;
    String text = decision.allowed() ? "refused" : decision.message();
    try {
      request.response().fail(new StatusException(status, text));
    } catch (IllegalStateException ended) {
      // The caller reset the stream meanwhile; the refusal is still recorded.
    }
    var remote = request.connection() == null ? null : request.connection().remoteAddress();
    access.audit().record(request.fullMethodName(), access.callerName(authorization, subject),
        remote == null ? null : remote.hostAddress(), message == null ? null : message.getBytes(), status.name(),
        text);
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
