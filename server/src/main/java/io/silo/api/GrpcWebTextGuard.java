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

  /** The request itself, or a guarded view of it when it is a gRPC-Web-text call over HTTP/1.x. */
  public static HttpServerRequest guard(HttpServerRequest request) {
    String type = request.getHeader("content-type");
    if (request.version() == HttpVersion.HTTP_2 || type == null
        || !type.toLowerCase(Locale.ROOT).startsWith("application/grpc-web-text")
        || !(request instanceof HttpServerRequestInternal internal)) {
      return request;
    }
    return new HttpServerRequestWrapper(internal) {
      @Override
      public HttpServerRequest endHandler(Handler<Void> handler) {
        if (handler == null) {
          return super.endHandler(null);
        }
        return super.endHandler(v -> {
          try {
            handler.handle(v);
          } catch (RuntimeException e) {
            refuse(delegate.response(), e);
          }
        });
      }
    };
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
