package io.silo.api;

import io.silo.auth.AccessControl;
import io.vertx.core.Future;
import io.vertx.grpc.common.ServiceMethod;
import io.vertx.grpc.server.GrpcServer;
import java.util.function.BiFunction;

/** Binds unary RPCs through the low-level handler, so endpoints see call metadata and every failure maps to a status. */
public final class UnaryCalls {

  private UnaryCalls() {
  }

  /** Binds {@code method} to {@code handler}, which gets the caller as {@code access} resolves it. */
  public static <Req, Resp> void bind(GrpcServer server, AccessControl access, ServiceMethod<Req, Resp> method,
                                      BiFunction<Req, CallContext, Future<Resp>> handler) {
    server.callHandler(method, request -> request.handler(message -> {
      Future<Resp> result;
      try {
        result = handler.apply(message, CallContext.of(request, access));
      } catch (RuntimeException e) {
        result = Future.failedFuture(e);
      }
      result.onComplete(done -> {
        if (done.succeeded()) {
          request.response().end(done.result());
        } else {
          request.response().fail(GrpcErrors.toStatus(done.cause()));
        }
      });
    }));
  }
}
