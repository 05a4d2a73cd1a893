package io.silo.api;

import io.vertx.core.Handler;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.internal.http.HttpServerRequestInternal;
import io.vertx.core.internal.http.HttpServerRequestWrapper;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Answers gRPC-Web-text calls whose body cannot be decoded. Vert.x decodes a gRPC-Web-text body (over HTTP/1.1) only
 * when it has ended, inside the request's end handler; invalid base64, or a body too short for a frame header, throws
 * there and the call is never answered, holding its connection. This wrapper catches that failure and ends the call
 * with INVALID_ARGUMENT in a trailers-only response.
 */
public final class GrpcWebTextGuard {

  private static final Logger LOG = LoggerFactory.getLogger(GrpcWebTextGuard.class);

  private GrpcWebTextGuard() {
  }

  /** The request itself, or a guarded view of it when it is a gRPC-Web-text call. */
  public static HttpServerRequest guard(HttpServerRequest request) {
    String type = request.getHeader("content-type");
    if (type == null || !type.toLowerCase(Locale.ROOT).startsWith("application/grpc-web-text")
        || !(request instanceof HttpServerRequestInternal internal)) {
      return request;
    }
    return new HttpServerRequestWrapper(internal) {
      private boolean refused;

      /**
       * Over HTTP/2 Vert.x decodes the text as it arrives and reads garbage as a frame header, answering
       * RESOURCE_EXHAUSTED without a message; a byte outside the base64 alphabet is refused here first, on any version.
       */
      @Override
      public HttpServerRequest handler(Handler<io.vertx.core.buffer.Buffer> handler) {
        if (handler == null) {
          return super.handler(null);
        }
        return super.handler(chunk -> {
          if (refused) {
            return;
          }
          if (!base64(chunk)) {
            refused = true;
            refuse(delegate.response(), new IllegalArgumentException("not base64"));
            return;
          }
          handler.handle(chunk);
        });
      }

      @Override
      public HttpServerRequest endHandler(Handler<Void> handler) {
        if (handler == null) {
          return super.endHandler(null);
        }
        return super.endHandler(v -> {
          if (refused) {
            return;
          }
          try {
            handler.handle(v);
          } catch (RuntimeException e) {
            refuse(delegate.response(), e);
          }
        });
      }
    };
  }

  private static boolean base64(io.vertx.core.buffer.Buffer chunk) {
    for (int i = 0; i < chunk.length(); i++) {
      byte b = chunk.getByte(i);
      boolean ok = (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') || b == '+' || b == '/'
          || b == '=' || b == '\r' || b == '\n';
      if (!ok) {
        return false;
      }
    }
    return true;
  }

  private static void refuse(HttpServerResponse response, RuntimeException cause) {
    LOG.debug("undecodable gRPC-Web-text body: {}", cause.toString());
    if (response.ended()) {
      return;
    }
    if (!response.headWritten()) {
      response.setStatusCode(200)
          .putHeader("content-type", "application/grpc-web-text+proto")
          .putHeader("grpc-status", "3")
          .putHeader("grpc-message", GrpcErrors.percentEncode(
              "request: the body is not a base64-encoded gRPC-Web message"));
    }
    response.end();
  }
}
