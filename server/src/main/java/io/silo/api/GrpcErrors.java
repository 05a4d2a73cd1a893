package io.silo.api;

import io.silo.SiloException;
import io.silo.store.TenantStore;
import io.vertx.core.MultiMap;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.server.GrpcServerResponse;
import io.vertx.grpc.server.StatusException;
import io.vertx.pgclient.PgException;
import java.net.ConnectException;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Maps failures to gRPC statuses so callers always get a specific code and a message, never UNKNOWN. */
public final class GrpcErrors {

  private static final Logger LOG = LoggerFactory.getLogger(GrpcErrors.class);
  /**
   * Longest status message sent. Values quoted in messages are already cut by {@link io.silo.Quote}; this is the
   * backstop that keeps the grpc-message trailer far below the 8 KiB header lists HTTP/2 peers accept.
   */
  static final int MAX_MESSAGE_CHARS = 1024;
  private static final char[] HEX = "0123456789ABCDEF".toCharArray();

  private GrpcErrors() {
  }

  /**
   * Ends a call with the status {@code failure} maps to. The grpc-message trailer is set here, encoded as the gRPC
   * spec asks (only bytes outside 0x20-0x7E and '%' are percent-encoded): Vert.x URL-encodes the whole message,
   * which clients that decode per spec, such as grpc-js and browsers, then show as {@code slug%3A must ...}.
   */
  public static void fail(GrpcServerResponse<?, ?> response, Throwable failure) {
    StatusException status = toStatus(failure);
    String message = bounded(status.message());
    CallAudits.finish(response, status.status().name(), message);
    try {
      if (message != null) {
        grpcMessage(response, percentEncode(message));
      }
      response.fail(new StatusException(status.status(), message));
    } catch (IllegalStateException alreadyEnded) {
      // The stream ended concurrently (a cancel, a reset or a deadline); there is nobody left to tell.
      LOG.debug("status {} not sent: {}", status.status(), alreadyEnded.toString());
    }
  }

  /**
   * Puts the encoded message where Vert.x looks before encoding its own: in the headers when none were sent (a
   * failure then makes a trailers-only response, whose status is encoded together with the headers), otherwise in
   * the trailers.
   */
  private static void grpcMessage(GrpcServerResponse<?, ?> response, String encoded) {
    MultiMap target;
    try {
      target = response.headers();
    } catch (IllegalStateException headersSent) {
      target = response.trailers();
    }
    target.set("grpc-message", encoded);
  }

  /** Cuts a message to {@link #MAX_MESSAGE_CHARS}, saying so, without splitting a surrogate pair. */
  static String bounded(String message) {
    if (message == null || message.length() <= MAX_MESSAGE_CHARS) {
      return message;
    }
    int end = MAX_MESSAGE_CHARS;
    if (Character.isHighSurrogate(message.charAt(end - 1))) {
      end--;
    }
    return message.substring(0, end) + "… (message truncated)";
  }

  /** The gRPC wire form of a status message: UTF-8, with bytes outside 0x20-0x7E and '%' as %XX. */
  static String percentEncode(String message) {
    byte[] utf8 = message.getBytes(StandardCharsets.UTF_8);
    StringBuilder out = new StringBuilder(utf8.length);
    for (byte b : utf8) {
      int c = b & 0xFF;
      if (c >= 0x20 && c <= 0x7E && c != '%') {
        out.append((char) c);
      } else {
        out.append('%').append(HEX[c >> 4]).append(HEX[c & 0xF]);
      }
    }
    return out.toString();
  }

  /** INVALID_ARGUMENT whose message starts with the offending field's name. */
  public static StatusException invalidArgument(String field, String problem) {
    return new StatusException(GrpcStatus.INVALID_ARGUMENT, field + ": " + problem);
  }

  public static StatusException notFound(String message) {
    return new StatusException(GrpcStatus.NOT_FOUND, message);
  }

  public static StatusException alreadyExists(String message) {
    return new StatusException(GrpcStatus.ALREADY_EXISTS, message);
  }

  public static StatusException failedPrecondition(String message) {
    return new StatusException(GrpcStatus.FAILED_PRECONDITION, message);
  }

  public static StatusException unavailable(String message) {
    return new StatusException(GrpcStatus.UNAVAILABLE, message);
  }

  /**
   * Turns any failure into a StatusException. Unexpected failures become INTERNAL with a reference id
   * that is also logged, so operators can find the cause without leaking internals to the caller.
   */
  public static StatusException toStatus(Throwable failure) {
    if (failure instanceof StatusException status) {
      return status;
    }
    if (failure instanceof SiloException silo) {
      GrpcStatus code = switch (silo.kind()) {
        case INVALID_ARGUMENT -> GrpcStatus.INVALID_ARGUMENT;
        case NOT_FOUND -> GrpcStatus.NOT_FOUND;
        case ALREADY_EXISTS -> GrpcStatus.ALREADY_EXISTS;
        case FAILED_PRECONDITION -> GrpcStatus.FAILED_PRECONDITION;
        case UNAVAILABLE -> GrpcStatus.UNAVAILABLE;
        case RESOURCE_EXHAUSTED -> GrpcStatus.RESOURCE_EXHAUSTED;
        case ABORTED -> GrpcStatus.ABORTED;
      };
      if (silo.getCause() != null) {
        LOG.warn("{}: {} (cause: {})", code, silo.getMessage(), silo.getCause().toString());
      }
      return new StatusException(code, silo.getMessage());
    }
    if (failure instanceof io.silo.mongo.EncryptionPlan.InvalidPlanException plan) {
      return invalidArgument(plan.field(), plan.getMessage().substring(plan.field().length() + 1));
    }
    if (failure instanceof io.silo.jobs.MigrationStore.LeaseLostException) {
      return new StatusException(GrpcStatus.ABORTED, failure.getMessage());
    }
    if (failure instanceof java.util.concurrent.CancellationException) {
      return new StatusException(GrpcStatus.CANCELLED, "cancelled: " + failure.getMessage());
    }
    if (failure instanceof com.mongodb.MongoSocketException || failure instanceof com.mongodb.MongoTimeoutException) {
      LOG.warn("MongoDB unavailable: {}", failure.toString());
      return unavailable("MongoDB is unavailable (" + failure.getClass().getSimpleName() + "), retry later");
    }
    if (failure instanceof java.util.concurrent.RejectedExecutionException) {
      return new StatusException(GrpcStatus.RESOURCE_EXHAUSTED, "server is at capacity: " + failure.getMessage());
    }
    if (failure instanceof TenantStore.SlugTakenException taken) {
      return alreadyExists(taken.getMessage());
    }
    if (failure instanceof ConnectException || isConnectionFailure(failure)) {
      LOG.warn("dependency unavailable: {}", failure.toString());
      return unavailable("a backing store is unavailable, retry later");
    }
    if (failure instanceof PgException pg && pg.getSqlState() != null) {
      String state = pg.getSqlState();
      if (state.startsWith("08") || state.equals("57P01") || state.equals("53300")) {
        return unavailable("PostgreSQL is unavailable (SQLSTATE " + state + "), retry later");
      }
      if (state.equals("40001") || state.equals("40P01")) {
        return new StatusException(GrpcStatus.ABORTED, "concurrent update conflict, retry");
      }
      if (state.equals("23502") || state.equals("23503") || state.equals("23514")) {
        return failedPrecondition("the application's table rejected the row (SQLSTATE " + state + "): "
            + pg.getErrorMessage());
      }
    }
    String ref = UUID.randomUUID().toString();
    LOG.error("internal error ref={}", ref, failure);
    return new StatusException(GrpcStatus.INTERNAL, "internal error (ref " + ref + ", see server log)");
  }

  private static boolean isConnectionFailure(Throwable failure) {
    String name = failure.getClass().getName();
    return name.endsWith("ClosedConnectionException") || name.endsWith("NoStackTraceTimeoutException")
        || (failure.getCause() != null && failure.getCause() != failure && failure.getCause() instanceof ConnectException);
  }
}
