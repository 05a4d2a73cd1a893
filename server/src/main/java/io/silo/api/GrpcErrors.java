package io.silo.api;

import io.silo.SiloException;
import io.silo.store.TenantStore;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.server.StatusException;
import io.vertx.pgclient.PgException;
import java.net.ConnectException;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Maps failures to gRPC statuses so callers always get a specific code and a message, never UNKNOWN. */
public final class GrpcErrors {

  private static final Logger LOG = LoggerFactory.getLogger(GrpcErrors.class);

  private GrpcErrors() {
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
