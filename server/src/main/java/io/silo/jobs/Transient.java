package io.silo.jobs;

import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeoutException;

/**
 * Tells faults that a retry heals (a connection reset, a timeout, a restarting server, throttling) from those that
 * need a person, by the exception types of the drivers on the cause chain, and paces the retries.
 */
final class Transient {

  /** Requeues in a row before a run is FAILED; with the backoff below that is about ten minutes. */
  static final int MAX_ATTEMPTS = 12;

  /**
   * Server error codes of a restarting or stepping-down MongoDB, and of a cursor lost with it: a resume from the
   * checkpoint opens a new one. (HostUnreachable, HostNotFound, NetworkTimeout, ShutdownInProgress, CursorNotFound,
   * PrimarySteppedDown, ExceededTimeLimit, SocketException, NotWritablePrimary, InterruptedAtShutdown,
   * InterruptedDueToReplStateChange, NotPrimaryNoSecondaryOk, NotPrimaryOrSecondary.)
   */
  private static final java.util.Set<Integer> RETRYABLE_MONGO_CODES = java.util.Set.of(6, 7, 89, 91, 43, 189, 262,
      9001, 10107, 11600, 11602, 13435, 13436);

  private Transient() {
  }

  static boolean is(Throwable failure) {
    for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (t instanceof com.mongodb.MongoSocketException
          || t instanceof com.mongodb.MongoTimeoutException
          || t instanceof com.mongodb.MongoConnectionPoolClearedException
          || t instanceof com.mongodb.MongoNotPrimaryException
          || t instanceof com.mongodb.MongoNodeIsRecoveringException
          || t instanceof com.mongodb.MongoExecutionTimeoutException
          || t instanceof com.mongodb.MongoCursorNotFoundException
          || t instanceof java.net.SocketException
          || t instanceof java.net.SocketTimeoutException
          || t instanceof java.nio.channels.ClosedChannelException
          || t instanceof java.io.EOFException
          || t instanceof TimeoutException
          || t instanceof io.vertx.core.http.StreamResetException) {
        return true;
      }
      if (t instanceof com.mongodb.MongoException m && (m.hasErrorLabel("RetryableWriteError")
          || m.hasErrorLabel("TransientTransactionError") || m.hasErrorLabel("ResumableChangeStreamError"))) {
        return true;
      }
      if (t instanceof io.silo.SiloException s && s.kind() == io.silo.SiloException.Kind.ABORTED) {
        return true; // another purge, rollback or re-sync of the tenant holds its data lock
      }
      if (t instanceof com.mongodb.MongoServerException m && RETRYABLE_MONGO_CODES.contains(m.getCode())) {
        return true;
      }
      if (t instanceof io.vertx.pgclient.PgException pg && pg.getSqlState() != null
          && (pg.getSqlState().startsWith("08") || pg.getSqlState().startsWith("57P")
          || pg.getSqlState().equals("40001") || pg.getSqlState().equals("40P01"))) {
        return true; // connection exceptions, admin shutdown / crash recovery, serialization failure, deadlock
      }
      String name = t.getClass().getName();
      String message = String.valueOf(t.getMessage());
      if (name.startsWith("io.vertx") && (message.contains("Connection closed") || message.contains("Connection refused")
          || message.contains("connection was closed") || message.contains("Timeout"))) {
        return true; // vertx-pg-client reports a dropped connection as a plain VertxException
      }
      if (message.contains("ThrottlingException") || message.contains("Rate exceeded")
          || message.contains("TooManyRequestsException")) {
        return true; // KMS throttling surfacing through libmongocrypt
      }
    }
    return false;
  }

  /** Exponential from 1 s, capped at 60 s, with ±20 % jitter so instances do not retry in step. */
  static double backoffSeconds(int attemptsSoFar) {
    double base = Math.min(60, Math.pow(2, attemptsSoFar));
    return base * (0.8 + 0.4 * ThreadLocalRandom.current().nextDouble());
  }
}
