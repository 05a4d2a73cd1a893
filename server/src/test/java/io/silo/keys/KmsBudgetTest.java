package io.silo.keys;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.PriorityQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import com.mongodb.MongoClientException;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.services.kms.model.KmsException;

class KmsBudgetTest {

  /** A virtual clock plus the scheduler that runs on it, so the tests never depend on the speed of the machine. */
  static final class VirtualTime implements KmsBudget.Scheduler {
    private record Task(long dueNanos, long seq, Runnable run) {}

    long now = 1_000_000_000L;
    private long seq;
    private final PriorityQueue<Task> tasks = new PriorityQueue<>(
        (a, b) -> a.dueNanos != b.dueNanos ? Long.compare(a.dueNanos, b.dueNanos) : Long.compare(a.seq, b.seq));

    @Override
    public void schedule(long delayMillis, Runnable task) {
      tasks.add(new Task(now + Math.max(1, delayMillis) * 1_000_000L, seq++, task));
    }

    long nanoTime() {
      return now;
    }

    void advanceMillis(long millis) {
      long end = now + millis * 1_000_000L;
      while (!tasks.isEmpty() && tasks.peek().dueNanos <= end) {
        Task t = tasks.poll();
        now = Math.max(now, t.dueNanos);
        t.run.run();
      }
      now = end;
    }
  }

  private static KmsBudget budget(VirtualTime time, KmsBudget.Settings settings) {
    return new KmsBudget("aws", "us-east-1", settings, new SimpleMeterRegistry(), time::nanoTime, time);
  }

  @Test
  void grantsNeverExceedTheRateInAnyOneSecondWindow() {
    VirtualTime time = new VirtualTime();
    KmsBudget b = budget(time, KmsBudget.Settings.of(20).withMaxWaiters(10_000));
    List<Long> grantedAt = Collections.synchronizedList(new ArrayList<>());
    for (int i = 0; i < 200; i++) {
      b.acquire().onSuccess(v -> grantedAt.add(time.now));
    }
    time.advanceMillis(12_000);

    assertThat(grantedAt).hasSize(200);
    // Burst is 2 permits at 20/s, so a window may see at most 20 + 2.
    assertThat(AwsKmsStub.maxInWindow(grantedAt, 1_000_000_000L)).isLessThanOrEqualTo(22);
    // And the budget is actually used: 200 permits at 20/s need about 10 s, not much more.
    long spanMillis = (grantedAt.get(199) - grantedAt.get(0)) / 1_000_000L;
    assertThat(spanMillis).isBetween(9_500L, 10_500L);
  }

  @Test
  void multiplePermitsAtOnceAreCountedAndServedInOrder() {
    VirtualTime time = new VirtualTime();
    KmsBudget b = budget(time, KmsBudget.Settings.of(10));
    List<String> order = new ArrayList<>();
    b.acquire(5).onSuccess(v -> order.add("five"));
    b.acquire(1).onSuccess(v -> order.add("one"));
    time.advanceMillis(400);
    assertThat(order).containsExactly("five");
    time.advanceMillis(1_000);
    assertThat(order).containsExactly("five", "one");
  }

  @Test
  void throttleCutsTheRateMultiplicativelyOncePerCooldownDownToTheFloor() {
    VirtualTime time = new VirtualTime();
    KmsBudget.Settings s = KmsBudget.Settings.of(100).withMinRatePerSecond(30);
    KmsBudget b = budget(time, s);
    b.onThrottled();
    assertThat(b.currentRate()).isCloseTo(70.0, within());
    // Errors of the same burst count once.
    b.onThrottled();
    b.onThrottled();
    assertThat(b.currentRate()).isCloseTo(70.0, within());
    time.advanceMillis(600);
    b.onThrottled();
    assertThat(b.currentRate()).isCloseTo(49.0, within());
    time.advanceMillis(600);
    b.onThrottled();
    assertThat(b.currentRate()).isCloseTo(34.3, within());
    time.advanceMillis(600);
    b.onThrottled();
    assertThat(b.currentRate()).isCloseTo(30.0, within());
  }

  @Test
  void successesRaiseTheRateAdditivelyBackToTheCeilingAndNoFurther() {
    VirtualTime time = new VirtualTime();
    // +5 per second of full-rate successes: each success adds 5 / rate.
    KmsBudget b = budget(time, KmsBudget.Settings.of(100));
    b.onThrottled();
    assertThat(b.currentRate()).isCloseTo(70.0, within());
    for (int i = 0; i < 70; i++) b.onSuccess();
    // About one second's worth of successes at ~70/s added about 5.
    assertThat(b.currentRate()).isBetween(74.0, 75.5);
    for (int i = 0; i < 10_000; i++) b.onSuccess();
    assertThat(b.currentRate()).isEqualTo(100.0);
  }

  @Test
  void afterAThrottleTheGrantRateFollowsTheCutRate() {
    VirtualTime time = new VirtualTime();
    KmsBudget b = budget(time, KmsBudget.Settings.of(50).withMaxWaiters(10_000));
    List<Long> grantedAt = new ArrayList<>();
    for (int i = 0; i < 400; i++) b.acquire().onSuccess(v -> grantedAt.add(time.now));
    time.advanceMillis(1_000);
    b.onThrottled();
    int before = grantedAt.size();
    time.advanceMillis(2_000);
    int inTwoSeconds = grantedAt.size() - before;
    // 35/s for two seconds (no successes reported, so no recovery), with a little slack for timer rounding.
    assertThat(inTwoSeconds).isBetween(66, 71);
  }

  @Test
  void theWaiterQueueIsBoundedAndOverflowFailsFastWithARejection() {
    VirtualTime time = new VirtualTime();
    KmsBudget b = budget(time, KmsBudget.Settings.of(1).withMaxWaiters(3));
    Future<Void> first = b.acquire(); // the one starting token
    List<Future<Void>> queued = List.of(b.acquire(), b.acquire(), b.acquire());
    Future<Void> overflow = b.acquire();
    assertThat(first.succeeded()).isTrue();
    assertThat(queued).allMatch(f -> !f.isComplete());
    assertThat(b.waiters()).isEqualTo(3);
    assertThat(overflow.failed()).isTrue();
    assertThat(overflow.cause()).isInstanceOf(RejectedExecutionException.class)
        .isInstanceOf(KmsBudget.BudgetExhaustedException.class).hasMessageContaining("aws/us-east-1");
    time.advanceMillis(3_100);
    assertThat(queued).allMatch(Future::succeeded);
    assertThat(b.waiters()).isZero();
    assertThat(b.acquire().isComplete()).isFalse(); // the bucket is empty again, but there is room to wait
  }

  @Test
  void metersAreTaggedByProvider() {
    VirtualTime time = new VirtualTime();
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    KmsBudget b = new KmsBudget("kmip", "", KmsBudget.Settings.of(10), registry, time::nanoTime, time);
    b.acquire();
    b.acquire();
    b.onThrottled();
    time.advanceMillis(1_000);
    assertThat(registry.get("silo.kms.budget.rate").tag("provider", "kmip").gauge().value()).isCloseTo(7.0, within());
    assertThat(registry.get("silo.kms.budget.waiters").tag("provider", "kmip").gauge().value()).isZero();
    assertThat(registry.get("silo.kms.budget.throttles").tag("provider", "kmip").counter().count()).isEqualTo(1.0);
    assertThat(registry.get("silo.kms.budget.permits").tag("provider", "kmip").counter().count()).isEqualTo(2.0);
  }

  @Test
  void recognisesThrottlingErrors() {
    assertThat(KmsBudget.isThrottle(KmsException.builder().statusCode(400)
        .awsErrorDetails(software.amazon.awssdk.awscore.exception.AwsErrorDetails.builder()
            .errorCode("ThrottlingException").errorMessage("Rate exceeded").build())
        .build())).isTrue();
    assertThat(KmsBudget.isThrottle(KmsException.builder().statusCode(503).build())).isTrue();
    assertThat(KmsBudget.isThrottle(new MongoClientException("Exception in encryption library: "
        + "Error in KMS response. HTTP status=429. Response body=\n{}"))).isTrue();
    assertThat(KmsBudget.isThrottle(new RuntimeException("wrapped", new MongoClientException(
        "Error in KMS response. HTTP status=400. Response body=\n{\"__type\":\"ThrottlingException\"}")))).isTrue();
    assertThat(KmsBudget.isThrottle(new MongoClientException(
        "Error in KMS response. HTTP status=400. Response body=\n{\"__type\":\"NotFoundException\"}"))).isFalse();
    assertThat(KmsBudget.isThrottle(new IOException("connection reset"))).isFalse();
    assertThat(KmsBudget.isThrottle(null)).isFalse();
  }

  @Test
  void onRealVertxTimersTheCountedPermitsStayWithinTheRate() throws Exception {
    Vertx vertx = Vertx.vertx();
    try {
      KmsBudget b = new KmsBudget(vertx, "aws", "eu-west-1", KmsBudget.Settings.of(40), null);
      List<Long> grantedAt = Collections.synchronizedList(new ArrayList<>());
      CountDownLatch done = new CountDownLatch(100);
      for (int i = 0; i < 100; i++) {
        b.acquire().onSuccess(v -> {
          grantedAt.add(System.nanoTime());
          done.countDown();
        });
      }
      assertThat(done.await(20, TimeUnit.SECONDS)).isTrue();
      // Generous: the exact bound is 40 + burst 4; timers can bunch grants up but never add permits.
      assertThat(AwsKmsStub.maxInWindow(new ArrayList<>(grantedAt), 1_000_000_000L)).isLessThanOrEqualTo(45);
    } finally {
      vertx.close().await();
    }
  }

  @Test
  void theRegistryKeepsOneBudgetPerProviderAndRegion() {
    Vertx vertx = Vertx.vertx();
    try {
      SimpleMeterRegistry registry = new SimpleMeterRegistry();
      KmsBudgets budgets = new KmsBudgets(vertx, registry,
          (provider, region) -> KmsBudget.Settings.of(provider.equals("aws") ? 100 : 10));
      KmsBudget awsEast = budgets.budget("aws", "us-east-1");
      assertThat(budgets.budget("aws", "us-east-1")).isSameAs(awsEast);
      assertThat(budgets.budget("aws", "eu-west-1")).isNotSameAs(awsEast);
      assertThat(budgets.budget("kmip").settings().ratePerSecond()).isEqualTo(10.0);
      assertThat(awsEast.settings().ratePerSecond()).isEqualTo(100.0);
      assertThat(budgets.snapshot()).containsOnlyKeys("aws/us-east-1", "aws/eu-west-1", "kmip");
      assertThat(registry.find("silo.kms.budget.rate").gauges()).hasSize(3);
    } finally {
      vertx.close().await();
    }
  }

  private static org.assertj.core.data.Offset<Double> within() {
    return org.assertj.core.data.Offset.offset(1e-6);
  }
}
