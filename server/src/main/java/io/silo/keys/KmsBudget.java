package io.silo.keys;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.LongSupplier;

/**
 * A process-wide, asynchronous request budget (permits per second) for one KMS provider and region, adapted by AIMD.
 *
 * <p>Why our own code: Resilience4j's RateLimiter and Guava's RateLimiter have a fixed rate and block or poll a
 * thread; the AWS SDK's adaptive retry limiter is internal to one SDK client and never sees libmongocrypt's KMS
 * traffic. None offers a non-blocking acquire on Vert.x timers with a bounded waiter queue and AIMD on the rate, so
 * this class is a small token bucket whose refill rate is cut on throttling and raised again on success.
 *
 * <p>Thread safety: every method may be called from any thread (event loops, worker threads); the state is guarded by
 * this object's monitor and futures are completed outside it.
 */
public final class KmsBudget {

  /** Tuning of one budget; {@link #of(double)} gives the defaults for a configured rate. */
  public record Settings(
      double ratePerSecond,
      double minRatePerSecond,
      double burstPermits,
      int maxWaiters,
      double decreaseFactor,
      double increasePerSecond,
      Duration decreaseCooldown) {

    public Settings {
      if (!(ratePerSecond > 0)) throw new IllegalArgumentException("ratePerSecond must be > 0");
      if (!(minRatePerSecond > 0) || minRatePerSecond > ratePerSecond)
        throw new IllegalArgumentException("minRatePerSecond must be in (0, ratePerSecond]");
      if (!(burstPermits >= 1)) throw new IllegalArgumentException("burstPermits must be >= 1");
      if (maxWaiters < 0) throw new IllegalArgumentException("maxWaiters must be >= 0");
      if (!(decreaseFactor > 0 && decreaseFactor < 1))
        throw new IllegalArgumentException("decreaseFactor must be in (0, 1)");
      if (!(increasePerSecond > 0)) throw new IllegalArgumentException("increasePerSecond must be > 0");
      Objects.requireNonNull(decreaseCooldown, "decreaseCooldown");
    }

    /**
     * Defaults for a configured ceiling: a burst of a tenth of a second's permits (so that no one-second window sees
     * more than 1.1x the rate), a floor at 5 % of the rate, x0.7 on throttling at most once per 500 ms (one throttled
     * burst usually yields several errors at once and must count as one congestion signal), and recovery of 5 % of the
     * ceiling per second (about 6 s from one cut back to the ceiling).
     */
    public static Settings of(double ratePerSecond) {
      return new Settings(
          ratePerSecond,
          Math.max(Math.min(ratePerSecond, 0.5), ratePerSecond * 0.05),
          Math.max(1, ratePerSecond / 10),
          1024,
          0.7,
          ratePerSecond * 0.05,
          Duration.ofMillis(500));
    }

    /**
     * Defaults for a control-plane ceiling (CreateKey, CreateAlias, ...): as {@link #of}, but x0.85 on throttling at
     * most once per second. These quotas are fixed per account and the ceiling already sits just under them, so a
     * throttle there is mostly two requests that arrived closer together than they were sent, not a quota shared
     * with other clients running out; a deep cut would cost more throughput than the collision did.
     */
    public static Settings controlPlane(double ratePerSecond) {
      return of(ratePerSecond).withDecrease(0.85, Duration.ofSeconds(1));
    }

    public Settings withMaxWaiters(int maxWaiters) {
      return new Settings(ratePerSecond, minRatePerSecond, burstPermits, maxWaiters, decreaseFactor,
          increasePerSecond, decreaseCooldown);
    }

    public Settings withBurstPermits(double burstPermits) {
      return new Settings(ratePerSecond, minRatePerSecond, burstPermits, maxWaiters, decreaseFactor,
          increasePerSecond, decreaseCooldown);
    }

    public Settings withMinRatePerSecond(double minRatePerSecond) {
      return new Settings(ratePerSecond, minRatePerSecond, burstPermits, maxWaiters, decreaseFactor,
          increasePerSecond, decreaseCooldown);
    }

    public Settings withIncreasePerSecond(double increasePerSecond) {
      return new Settings(ratePerSecond, minRatePerSecond, burstPermits, maxWaiters, decreaseFactor,
          increasePerSecond, decreaseCooldown);
    }

    public Settings withDecrease(double decreaseFactor, Duration decreaseCooldown) {
      return new Settings(ratePerSecond, minRatePerSecond, burstPermits, maxWaiters, decreaseFactor,
          increasePerSecond, decreaseCooldown);
    }
  }

  /** The waiter queue of a budget is full; the API layer maps this to RESOURCE_EXHAUSTED. */
  public static final class BudgetExhaustedException extends RejectedExecutionException {
    BudgetExhaustedException(String message) {
      super(message);
    }

    // Raised on every overload, so skip the stack trace: it carries no information and costs time under load.
    @Override
    public synchronized Throwable fillInStackTrace() {
      return this;
    }
  }

  /** Runs a task after a delay; Vert.x timers in production, a virtual clock in tests. */
  @FunctionalInterface
  interface Scheduler {
    void schedule(long delayMillis, Runnable task);
  }

  private record Waiter(int permits, Promise<Void> promise) {}

  private static final double NANOS_PER_SECOND = 1e9;
  // How much of a permit a late drain timer may carry over while callers are queued; see refill().
  private static final double CARRY = 0.1;

  /** Data-path budgets (libmongocrypt's Encrypt/Decrypt/GenerateDataKey) carry this in their {@code plane} tag. */
  public static final String DATA_PLANE = "data";
  /** Control-plane budgets (one per AWS operation: CreateKey, DescribeKey, ...) carry this in their {@code plane} tag. */
  public static final String CONTROL_PLANE = "control";

  private final String provider;
  private final String region;
  private final String plane;
  private final String operation;
  private final Settings settings;
  private final LongSupplier nanoClock;
  private final Scheduler scheduler;

  // Guarded by this.
  private double rate;
  private double tokens;
  private long lastRefillNanos;
  private long lastDecreaseNanos;
  private boolean everDecreased;
  private boolean timerPending;
  private final ArrayDeque<Waiter> waiters = new ArrayDeque<>();

  private final Counter throttles;
  private final Counter permitsGranted;
  private final Counter rejected;

  /** A budget driven by Vert.x timers and System.nanoTime; meters go to {@code registry} when it is not null. */
  public KmsBudget(Vertx vertx, String provider, String region, Settings settings, MeterRegistry registry) {
    this(vertx, provider, region, DATA_PLANE, "", settings, registry);
  }

  /**
   * A budget of one plane: {@link #DATA_PLANE} (operation "") or {@link #CONTROL_PLANE} with the AWS operation it
   * governs. Every budget's meters carry the tags provider, region, plane and operation, so that one meter name has
   * one set of tag keys (Prometheus requires it).
   */
  public KmsBudget(Vertx vertx, String provider, String region, String plane, String operation, Settings settings,
      MeterRegistry registry) {
    this(provider, region, plane, operation, settings, registry, System::nanoTime,
        (delay, task) -> vertx.setTimer(Math.max(1, delay), id -> task.run()));
  }

  KmsBudget(String provider, String region, Settings settings, MeterRegistry registry, LongSupplier nanoClock,
      Scheduler scheduler) {
    this(provider, region, DATA_PLANE, "", settings, registry, nanoClock, scheduler);
  }

  KmsBudget(String provider, String region, String plane, String operation, Settings settings, MeterRegistry registry,
      LongSupplier nanoClock, Scheduler scheduler) {
    this.provider = Objects.requireNonNull(provider, "provider");
    this.region = region == null ? "" : region;
    this.plane = Objects.requireNonNull(plane, "plane");
    this.operation = operation == null ? "" : operation;
    this.settings = Objects.requireNonNull(settings, "settings");
    this.nanoClock = nanoClock;
    this.scheduler = scheduler;
    this.rate = settings.ratePerSecond();
    // Start with one permit rather than a full burst, so that a cold start cannot exceed the rate either.
    this.tokens = Math.min(1, settings.burstPermits());
    this.lastRefillNanos = nanoClock.getAsLong();

    Tags tags = Tags.of("provider", this.provider, "region", this.region, "plane", this.plane, "operation",
        this.operation);
    if (registry != null) {
      Gauge.builder("silo.kms.budget.rate", this, KmsBudget::currentRate)
          .description("Current permitted KMS requests per second after AIMD").tags(tags).strongReference(true)
          .register(registry);
      Gauge.builder("silo.kms.budget.waiters", this, KmsBudget::waiters)
          .description("Callers waiting for a KMS permit").tags(tags).strongReference(true).register(registry);
      throttles = Counter.builder("silo.kms.budget.throttles").description("Throttling answers reported by callers")
          .tags(tags).register(registry);
      permitsGranted = Counter.builder("silo.kms.budget.permits").description("KMS permits granted")
          .tags(tags).register(registry);
      rejected = Counter.builder("silo.kms.budget.rejected")
          .description("Acquires refused because the waiter queue was full").tags(tags).register(registry);
    } else {
      throttles = null;
      permitsGranted = null;
      rejected = null;
    }
  }

  public String provider() {
    return provider;
  }

  public String region() {
    return region;
  }

  /** {@link #DATA_PLANE} or {@link #CONTROL_PLANE}. */
  public String plane() {
    return plane;
  }

  /** The AWS operation a control-plane budget governs; "" for the data plane. */
  public String operation() {
    return operation;
  }

  public Settings settings() {
    return settings;
  }

  /** Current permitted rate in permits per second (between the floor and the configured ceiling). */
  public synchronized double currentRate() {
    return rate;
  }

  /** Number of callers currently queued. */
  public synchronized int waiters() {
    return waiters.size();
  }

  /** Acquires one permit. */
  public Future<Void> acquire() {
    return acquire(1);
  }

  /**
   * Completes when {@code permits} may be spent; fails at once with {@link BudgetExhaustedException} when the waiter
   * queue is full. Never blocks. Waiters are served in FIFO order so a large request is not starved by small ones.
   */
  public Future<Void> acquire(int permits) {
    if (permits < 1) throw new IllegalArgumentException("permits must be >= 1");
    Promise<Void> promise;
    boolean granted = false;
    boolean scheduleTimer = false;
    long delay = 0;
    synchronized (this) {
      refill(nanoClock.getAsLong());
      if (waiters.isEmpty() && tokens >= needed(permits)) {
        tokens -= permits;
        granted = true;
        promise = null;
      } else if (waiters.size() >= settings.maxWaiters()) {
        if (rejected != null) rejected.increment();
        return Future.failedFuture(new BudgetExhaustedException(
            "KMS request budget for " + provider + (region.isEmpty() ? "" : "/" + region)
                + (operation.isEmpty() ? "" : " " + operation) + " is saturated ("
                + waiters.size() + " callers waiting at " + String.format(Locale.ROOT, "%.1f", rate) + "/s)"));
      } else {
        promise = Promise.promise();
        waiters.addLast(new Waiter(permits, promise));
        if (!timerPending) {
          timerPending = true;
          scheduleTimer = true;
          delay = millisUntilHeadCanGo();
        }
      }
    }
    if (granted) {
      if (permitsGranted != null) permitsGranted.increment(permits);
      return Future.succeededFuture();
    }
    if (scheduleTimer) scheduler.schedule(delay, this::drain);
    return promise.future();
  }

  /** Reports a throttling answer: cuts the rate multiplicatively (at most once per cooldown) and drops saved burst. */
  public void onThrottled() {
    if (throttles != null) throttles.increment();
    synchronized (this) {
      long now = nanoClock.getAsLong();
      refill(now);
      // Throttles that arrive together are answers to requests sent together: cut once for them, not once each.
      if (everDecreased && now - lastDecreaseNanos < settings.decreaseCooldown().toNanos()) return;
      everDecreased = true;
      lastDecreaseNanos = now;
      rate = Math.max(settings.minRatePerSecond(), rate * settings.decreaseFactor());
      // The server has just told us it is over its limit; spending a saved burst now would make it worse.
      tokens = Math.min(tokens, 0);
    }
  }

  /**
   * Reports a successful KMS call: raises the rate additively towards the ceiling. Each success adds
   * increasePerSecond / rate, so the rate grows by about increasePerSecond per second of full-rate traffic, however
   * many callers share the budget.
   */
  public void onSuccess() {
    synchronized (this) {
      if (rate >= settings.ratePerSecond()) return;
      refill(nanoClock.getAsLong());
      rate = Math.min(settings.ratePerSecond(), rate + settings.increasePerSecond() / rate);
    }
  }

  /** Whether an error is a KMS throttling answer; see {@link KmsErrors#isThrottling(Throwable)}. */
  public static boolean isThrottle(Throwable error) {
    return KmsErrors.isThrottling(error);
  }

  private double needed(int permits) {
    // A request larger than the burst would never fit; let it go when the bucket is full and go into debt instead,
    // which keeps the long-run rate exact.
    return Math.min(permits, settings.burstPermits());
  }

  /**
   * Adds the permits earned since the last refill, up to the burst. While callers are queued, up to {@link #CARRY}
   * of a permit more is kept: a drain timer that fires late (a busy event loop) would otherwise lose that lateness
   * for good, and at a few permits a second every late timer costs rate. The carry never lets a grant come earlier
   * than a bucket without timer delays would have allowed it, so no window sees more than burst + 0.1 + rate x length.
   */
  private void refill(long now) {
    long elapsed = now - lastRefillNanos;
    if (elapsed > 0) {
      double cap = waiters.isEmpty() ? settings.burstPermits() : settings.burstPermits() + CARRY;
      tokens = Math.min(cap, tokens + elapsed * rate / NANOS_PER_SECOND);
      lastRefillNanos = now;
    }
  }

  private long millisUntilHeadCanGo() {
    Waiter head = waiters.peekFirst();
    if (head == null) return 0;
    double missing = needed(head.permits()) - tokens;
    if (missing <= 0) return 0;
    return (long) Math.ceil(missing / rate * 1000.0);
  }

  private void drain() {
    List<Waiter> ready = new ArrayList<>();
    long delay = -1;
    synchronized (this) {
      timerPending = false;
      refill(nanoClock.getAsLong());
      while (!waiters.isEmpty() && tokens >= needed(waiters.peekFirst().permits())) {
        Waiter w = waiters.pollFirst();
        tokens -= w.permits();
        ready.add(w);
      }
      if (!waiters.isEmpty()) {
        timerPending = true;
        delay = Math.max(1, millisUntilHeadCanGo());
      }
    }
    for (Waiter w : ready) {
      if (permitsGranted != null) permitsGranted.increment(w.permits());
      w.promise().complete();
    }
    if (delay >= 0) scheduler.schedule(delay, this::drain);
  }
}
