package io.silo.keys;

import io.silo.SiloException;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Supplier;

/**
 * Runs KMS-touching calls under the shared {@link KmsBudget} and retries throttling (and, a few times, an unreachable
 * KMS) with exponential backoff and jitter for a bounded time of retrying (waits for a permit do not count), then fails
 * UNAVAILABLE saying it retried. Never blocks: waits are Vert.x timers.
 */
public final class KmsRetry {

  /**
   * How long to keep trying: backoff from {@code initialBackoff} doubling up to {@code maxBackoff}, throttling retried
   * until {@code maxElapsed} has passed, an unreachable KMS tried {@code unreachableAttempts} times in all.
   */
  public record Policy(Duration initialBackoff, Duration maxBackoff, Duration maxElapsed, int unreachableAttempts) {

    /** Throttling retried for up to 60 s; an unreachable KMS 3 times, so that an outage is reported promptly. */
    public static final Policy DEFAULT = new Policy(Duration.ofMillis(50), Duration.ofSeconds(2),
        Duration.ofSeconds(60), 3);

    public Policy {
      if (initialBackoff.isNegative() || initialBackoff.isZero() || maxBackoff.compareTo(initialBackoff) < 0) {
        throw new IllegalArgumentException("backoff must satisfy 0 < initialBackoff <= maxBackoff");
      }
      if (unreachableAttempts < 1) {
        throw new IllegalArgumentException("unreachableAttempts must be >= 1");
      }
    }
  }

  private final Vertx vertx;
  private final Policy policy;

  public KmsRetry(Vertx vertx, Policy policy) {
    this.vertx = vertx;
    this.policy = policy;
  }

  public Policy policy() {
    return policy;
  }

  /**
   * Takes {@code permits} from {@code budget}, runs {@code attempt} and reports the outcome to the budget; retries on
   * throttling or an unreachable KMS as the policy allows. Other failures (including a full budget queue) are returned
   * at once. {@code what} names the operation in the final error, e.g. "creating the data key of tenant 'acme'".
   */
  public <T> Future<T> call(KmsBudget budget, int permits, String what, Supplier<Future<T>> attempt) {
    Promise<T> result = Promise.promise();
    run(budget, permits, what, attempt, 1, 0, 0, result);
    return result.future();
  }

  /**
   * One attempt. {@code retryingNanos} is the time spent so far in attempts and backoff; time queued for a permit
   * does not count, because waiting behind thousands of other callers (a bulk provisioning) is the budget working,
   * not the KMS refusing, and counting it would fail callers that were never retried.
   */
  private <T> void run(KmsBudget budget, int permits, String what, Supplier<Future<T>> attempt, int attemptNo,
                       int unreachableSoFar, long retryingNanos, Promise<T> result) {
    long[] grantedAt = {System.nanoTime()};
    budget.acquire(permits).compose(v -> {
      grantedAt[0] = System.nanoTime();
      return attempt.get();
    }).onComplete(done -> {
      if (done.succeeded()) {
        budget.onSuccess();
        result.complete(done.result());
        return;
      }
      Throwable failure = done.cause();
      boolean throttled = KmsErrors.reportThrottling(budget, failure);
      boolean unreachable = !throttled && KmsErrors.isUnreachable(failure);
      if (!throttled && !unreachable) {
        result.fail(failure);
        return;
      }
      int unreachableCount = unreachableSoFar + (unreachable ? 1 : 0);
      long delayMillis = backoffMillis(attemptNo);
      long spentNanos = retryingNanos + (System.nanoTime() - grantedAt[0]);
      boolean outOfTime = spentNanos + delayMillis * 1_000_000L > policy.maxElapsed().toNanos();
      if (outOfTime || unreachableCount >= policy.unreachableAttempts()) {
        String reason = throttled ? "KMS throttled the request" : "KMS is unreachable or refused the connection";
        result.fail(SiloException.unavailable(String.format(Locale.ROOT,
            "%s: %s; retried with backoff, %d attempts over %.1f s; try again later", what, reason, attemptNo,
            spentNanos / 1e9), failure));
        return;
      }
      vertx.setTimer(Math.max(1, delayMillis), id -> run(budget, permits, what, attempt, attemptNo + 1,
          unreachableCount, spentNanos + delayMillis * 1_000_000L, result));
    });
  }

  /**
   * Exponential backoff with "equal jitter": half of the capped exponential delay plus a random part up to the other
   * half, so that callers throttled together spread out and no retry comes immediately.
   */
  long backoffMillis(int attemptNo) {
    long initial = policy.initialBackoff().toMillis();
    long cap = policy.maxBackoff().toMillis();
    long exponential = attemptNo >= 31 ? cap : Math.min(cap, initial << Math.min(attemptNo - 1, 30));
    long half = Math.max(1, exponential / 2);
    return half + ThreadLocalRandom.current().nextLong(half + 1);
  }
}
