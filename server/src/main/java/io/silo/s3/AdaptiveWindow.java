package io.silo.s3;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import java.util.ArrayDeque;
import java.util.Deque;

/**
 * The window of S3 requests one run keeps in flight, sized by AIMD the way TCP sizes its congestion window: every
 * success grows it by one request per window's worth of successes, a throttling answer (503 SlowDown, 429) halves
 * it, down to one. The ceiling is the configured copy concurrency.
 *
 * <p>Why not the SDK's retry modes: its retries happen below the caller, so a window above them never learns that
 * S3 asked for less; and its ADAPTIVE mode (a client-side token bucket) halved throughput in the KMS measurements in
 * DESIGN.md. Here the data-plane client does not retry at all ({@link S3Retry} does, with full-jitter backoff), and
 * every throttle shrinks the window that caused it.
 *
 * <p>Not thread-safe: one Vert.x context owns it (the run's), which is where {@link S3Retry} calls it from.
 */
public final class AdaptiveWindow {

    private final int ceiling;
    private double limit;
    private int inFlight;
    private long lastDecreaseNanos;
    private final long decreaseSpacingNanos;
    private final Deque<Promise<Void>> waiting = new ArrayDeque<>();
    private long throttles;

    /**
     * @param ceiling the largest window (the configured concurrency)
     * @param decreaseSpacingMillis at most one halving per this interval: the replies to requests sent before the
     *     first throttle arrive together and describe one overload, not several
     */
    public AdaptiveWindow(int ceiling, long decreaseSpacingMillis) {
        if (ceiling < 1) {
            throw new IllegalArgumentException("ceiling must be >= 1");
        }
        this.ceiling = ceiling;
        this.limit = ceiling;
        this.decreaseSpacingNanos = decreaseSpacingMillis * 1_000_000L;
        this.lastDecreaseNanos = System.nanoTime() - decreaseSpacingNanos;
    }

    /** Completes when a request may be sent; the caller must {@link #release} once its answer is in. */
    public Future<Void> acquire() {
        if (inFlight < (int) limit && waiting.isEmpty()) {
            inFlight++;
            return Future.succeededFuture();
        }
        Promise<Void> p = Promise.promise();
        waiting.add(p);
        return p.future();
    }

    /** Returns a slot. */
    public void release() {
        inFlight--;
        drain();
    }

    /** The request succeeded: additive increase. */
    public void onSuccess() {
        limit = Math.min(ceiling, limit + 1.0 / limit);
        drain();
    }

    /** S3 asked to slow down: multiplicative decrease, at most once per spacing interval. */
    public void onThrottle() {
        throttles++;
        long now = System.nanoTime();
        if (now - lastDecreaseNanos >= decreaseSpacingNanos) {
            limit = Math.max(1, limit / 2);
            lastDecreaseNanos = now;
        }
    }

    private void drain() {
        while (!waiting.isEmpty() && inFlight < (int) limit) {
            inFlight++;
            waiting.poll().complete();
        }
    }

    /** The current window, for progress and tests. */
    public int limit() {
        return (int) limit;
    }

    public int ceiling() {
        return ceiling;
    }

    /** Throttling answers seen so far. */
    public long throttles() {
        return throttles;
    }
}
