package io.silo.api;

import io.silo.auth.AccessControl;
import io.silo.auth.AuditTrail;
import io.silo.auth.ClientCertificates;
import io.vertx.grpc.server.GrpcServerRequest;
import io.vertx.grpc.server.GrpcServerResponse;
import io.vertx.grpc.server.StatusException;
import java.util.Collections;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * Calls between their request message and their answer, so the answer can be audited with the request's bytes and
 * caller wherever in the endpoints it is given: {@link GrpcErrors#fail} for every failure, {@link #finish} for
 * successes. Keyed weakly by the response, so a call that ends another way (a cancelled watch) leaves nothing behind.
 */
public final class CallAudits {

  private record Pending(AuditTrail trail, String rpc, String caller, String peer, byte[] request) {
  }

  private static final Map<GrpcServerResponse<?, ?>, Pending> OPEN =
      Collections.synchronizedMap(new WeakHashMap<>());

  private CallAudits() {
  }

  /** Remembers a call's request bytes and caller until it ends. */
  static void begin(GrpcServerRequest<?, ?> request, AccessControl access, byte[] bytes) {
    String caller;
    try {
      caller = CallContext.of(request, access).caller();
    } catch (StatusException e) {
      caller = access.callerName(request.headers().get("authorization"),
          ClientCertificates.subjectOf(request.connection()));
    }
    var remote = request.connection() == null ? null : request.connection().remoteAddress();
    OPEN.put(request.response(), new Pending(access.audit(), request.fullMethodName(), caller,
        remote == null ? null : remote.hostAddress(), bytes));
  }

  /** Records how a call ended ({@code outcome} is a gRPC status code name), if the trail audits it. */
  public static void finish(GrpcServerResponse<?, ?> response, String outcome, String message) {
    Pending call = OPEN.remove(response);
    if (call != null) {
      call.trail().record(call.rpc(), call.caller(), call.peer(), call.request(), outcome, message);
    }
  }
}
