package io.silo.api;

import io.silo.auth.AccessControl;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.buffer.Buffer;
import io.vertx.grpc.common.GrpcMessage;
import io.vertx.grpc.common.GrpcMessageDecoder;
import io.vertx.grpc.common.ServiceMethod;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerRequest;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.function.BiFunction;
import java.util.zip.GZIPInputStream;

/** Binds unary RPCs through the low-level handler, so endpoints see call metadata and every failure maps to a status. */
public final class UnaryCalls {

  private UnaryCalls() {
  }

  /** Binds {@code method} to {@code handler}, which gets the caller as {@code access} resolves it. */
  public static <Req, Resp> void bind(GrpcServer server, AccessControl access, ServiceMethod<Req, Resp> method,
                                      BiFunction<Req, CallContext, Future<Resp>> handler) {
    server.callHandler(method, request -> onMessage(request, method.decoder(), access, message -> {
      Future<Resp> result;
      try {
        result = handler.apply(message, CallContext.of(request, access));
      } catch (RuntimeException e) {
        result = Future.failedFuture(e);
      }
      result.onComplete(done -> {
        if (done.succeeded()) {
          request.response().end(done.result());
          CallAudits.finish(request.response(), "OK", null);
        } else {
          GrpcErrors.fail(request.response(), done.cause());
        }
      });
    }));
  }

  /**
   * Delivers each request message decoded, or answers INVALID_ARGUMENT when the body is not a valid message. Vert.x's
   * own {@code handler} resets the stream with CANCEL on a body it cannot decode, which leaves the caller with no
   * status and no message.
   */
  public static <Req> void onMessage(GrpcServerRequest<Req, ?> request, GrpcMessageDecoder<Req> decoder,
                                     Handler<Req> handler) {
    onMessage(request, decoder, null, handler);
  }

  /**
   * Like {@link #onMessage(GrpcServerRequest, GrpcMessageDecoder, Handler)} for a call that is audited through
   * {@code access}: the request's bytes and caller are kept until the call ends with {@link GrpcErrors#fail} or
   * {@link CallAudits#finish}, which records it if it is an audited RPC or was refused.
   */
  public static <Req> void onMessage(GrpcServerRequest<Req, ?> request, GrpcMessageDecoder<Req> decoder,
                                     AccessControl access, Handler<Req> handler) {
    request.messageHandler(raw -> {
      Req decoded;
      byte[] bytes = null;
      try {
        GrpcMessage plain = identity(raw);
        bytes = plain.payload().getBytes();
        if (access != null) {
          CallAudits.begin(request, access, bytes);
        }
        decoded = decoder.decode(plain);
      } catch (RuntimeException e) {
        if (access != null && bytes == null) {
          CallAudits.begin(request, access, raw.payload().getBytes());
        }
        GrpcErrors.fail(request.response(), GrpcErrors.invalidArgument("request",
            "the body is not a valid " + messageName(request) + " message"));
        return;
      }
      try {
        handler.handle(decoded);
      } catch (RuntimeException e) {
        GrpcErrors.fail(request.response(), e);
      }
    });
  }

  private static String messageName(GrpcServerRequest<?, ?> request) {
    String method = request.methodName();
    return method == null ? "request" : method + " request";
  }

  /** The message with its compression undone; Vert.x only negotiates identity and gzip. */
  private static GrpcMessage identity(GrpcMessage message) {
    String encoding = message.encoding();
    if (encoding == null || encoding.equals("identity")) {
      return message;
    }
    if (!encoding.equals("gzip")) {
      throw new IllegalArgumentException("unsupported message encoding");
    }
    try (InputStream in = new GZIPInputStream(new java.io.ByteArrayInputStream(message.payload().getBytes()))) {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      in.transferTo(out);
      return GrpcMessage.message("identity", message.format(), Buffer.buffer(out.toByteArray()));
    } catch (IOException e) {
      throw new IllegalArgumentException("corrupt gzip message", e);
    }
  }
}
