package io.silo.keys;

import static org.assertj.core.api.Assertions.assertThat;

import com.mongodb.MongoClientException;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.silo.SiloException;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** KmsRetry: throttling is reported to the budget and retried until the time bound; other failures are not retried. */
class KmsRetryTest {

  private static final MongoClientException THROTTLED = new MongoClientException("Exception in encryption library: "
      + "Error in KMS response. HTTP status=400. Response body={\"__type\":\"ThrottlingException\",\"message\":"
      + "\"Rate exceeded\"}");
  private static final MongoClientException UNREACHABLE = new MongoClientException(
      "Exception in encryption library: failed to connect to KMS: Connection refused");

  private final Vertx vertx = Vertx.vertx();
  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private final KmsBudget budget = new KmsBudget(vertx, "aws", "us-east-1", KmsBudget.Settings.of(1000), registry);
  private final KmsRetry retry = new KmsRetry(vertx, new KmsRetry.Policy(Duration.ofMillis(5),
      Duration.ofMillis(40), Duration.ofMillis(600), 3));

  @AfterEach
  void close() {
    vertx.close().await();
  }

  @Test
  void throttledCallsAreRetriedAndEachThrottleIsReportedToTheBudget() throws Exception {
    AtomicInteger attempts = new AtomicInteger();
    String result = retry.call(budget, 1, "creating a key", () -> attempts.incrementAndGet() <= 3
        ? Future.failedFuture(THROTTLED) : Future.succeededFuture("ok"))
        .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    assertThat(result).isEqualTo("ok");
    assertThat(attempts).hasValue(4);
    assertThat(registry.get("silo.kms.budget.throttles").tags("provider", "aws", "region", "us-east-1", "plane",
        "data").counter().count()).isEqualTo(3);
    assertThat(budget.currentRate()).isLessThan(1000);
  }

  @Test
  void throttlingThatOutlastsTheTimeBoundFailsUnavailableSayingItWasRetried() throws Exception {
    AtomicInteger attempts = new AtomicInteger();
    long start = System.nanoTime();
    Throwable failure = retry.call(budget, 1, "rotating the data key of tenant 'acme'", () -> {
      attempts.incrementAndGet();
      return Future.failedFuture(THROTTLED);
    }).toCompletionStage().toCompletableFuture().handle((ok, error) -> error).get(10, TimeUnit.SECONDS);
    assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).isLessThan(2_000);
    assertThat(failure).isInstanceOf(SiloException.class);
    assertThat(((SiloException) failure).kind()).isEqualTo(SiloException.Kind.UNAVAILABLE);
    assertThat(failure.getMessage()).contains("rotating the data key of tenant 'acme'", "throttled", "retried",
        attempts.get() + " attempts");
    assertThat(attempts.get()).isGreaterThan(3);
  }

  @Test
  void timeQueuedForAPermitDoesNotCountAgainstTheRetryWindow() throws Exception {
    // One permit a second: the fourth caller waits about three seconds in the queue, five times the 600 ms window,
    // and is then throttled once; it is retried, not failed.
    KmsBudget slow = new KmsBudget(vertx, "aws", "eu-west-1", KmsBudget.Settings.of(1), null);
    java.util.List<java.util.concurrent.CompletableFuture<String>> calls = new java.util.ArrayList<>();
    AtomicInteger lastCallersAttempts = new AtomicInteger();
    for (int i = 0; i < 4; i++) {
      boolean last = i == 3;
      calls.add(retry.call(slow, 1, "creating key " + i, () -> last && lastCallersAttempts.incrementAndGet() == 1
          ? Future.failedFuture(THROTTLED) : Future.succeededFuture("ok")).toCompletionStage().toCompletableFuture());
    }
    for (var call : calls) {
      assertThat(call.get(30, TimeUnit.SECONDS)).isEqualTo("ok");
    }
    assertThat(lastCallersAttempts).hasValue(2);
  }

  @Test
  void anUnreachableKmsIsTriedAFewTimesOnlyAndOtherFailuresNotRetriedAtAll() throws Exception {
    AtomicInteger unreachable = new AtomicInteger();
    Throwable down = retry.call(budget, 1, "creating a key", () -> {
      unreachable.incrementAndGet();
      return Future.failedFuture(UNREACHABLE);
    }).toCompletionStage().toCompletableFuture().handle((ok, error) -> error).get(10, TimeUnit.SECONDS);
    assertThat(unreachable).hasValue(3);
    assertThat(down.getMessage()).contains("unreachable", "3 attempts");

    AtomicInteger refused = new AtomicInteger();
    IllegalArgumentException bad = new IllegalArgumentException("descriptor_json.key is required");
    Throwable other = retry.call(budget, 1, "creating a key", () -> {
      refused.incrementAndGet();
      return Future.failedFuture(bad);
    }).toCompletionStage().toCompletableFuture().handle((ok, error) -> error).get(10, TimeUnit.SECONDS);
    assertThat(refused).hasValue(1);
    assertThat(other).isSameAs(bad);
  }
}
