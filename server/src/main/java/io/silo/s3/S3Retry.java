package io.silo.s3;

import io.silo.SiloException;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntFunction;
import java.util.function.Supplier;

/**
 * Sends data-plane S3 requests through an {@link AdaptiveWindow} and retries what a retry can heal, with full-jitter
 * exponential backoff (a random wait up to {@code base * 2^attempt}, capped), so throttled clients spread out instead
 * of retrying in step. After the last attempt the failure becomes UNAVAILABLE: transient, so the job is retried from
 * its checkpoint rather than the document being marked failed. Answers that a retry cannot change (403, 404, 400)
 * are passed through at once for the caller to judge.
 *
 * <p>Results are handed back on {@code context}, which also owns the window.
 */
public final class S3Retry {

    private final Context context;
    private final AdaptiveWindow window;
    private final int maxAttempts;
    private final long baseMillis;
    private final long capMillis;
    private final AtomicLong retries = new AtomicLong();

    public S3Retry(Context context, AdaptiveWindow window, int maxAttempts, long baseMillis, long capMillis) {
        this.context = context;
        this.window = window;
        this.maxAttempts = maxAttempts;
        this.baseMillis = baseMillis;
        this.capMillis = capMillis;
    }

    /** Ten attempts, 50 ms base, 5 s cap: a 10 % fault rate fails all ten once in ten billion requests. */
    public static S3Retry standard(Context context, AdaptiveWindow window) {
        return new S3Retry(context, window, 10, 50, 5_000);
    }

    public Context context() {
        return context;
    }

    public AdaptiveWindow window() {
        return window;
    }

    /** Retries made so far. */
    public long retries() {
        return retries.get();
    }

    /** Sends {@code request} (a fresh request per attempt); call from {@link #context()}. */
    public <T> Future<T> call(String what, Supplier<CompletableFuture<T>> request) {
        return call(what, attempt -> request.get());
    }

    /**
     * Like {@link #call(String, Supplier)}, telling the request which attempt it is (0 first): a write whose answer
     * was lost may have happened, so a retry can look before it writes again.
     */
    public <T> Future<T> call(String what, IntFunction<CompletableFuture<T>> request) {
        Promise<T> result = Promise.promise();
        attempt(what, request, 0, result);
        return result.future();
    }

    private <T> void attempt(String what, IntFunction<CompletableFuture<T>> request, int attempt, Promise<T> result) {
        window.acquire().onComplete(ignored -> {
            CompletableFuture<T> sent;
            try {
                sent = request.apply(attempt);
            } catch (RuntimeException e) {
                window.release();
                result.fail(e);
                return;
            }
            Future.fromCompletionStage(sent, context).onComplete(ar -> {
                window.release();
                if (ar.succeeded()) {
                    window.onSuccess();
                    result.complete(ar.result());
                    return;
                }
                Throwable failure = S3Errors.unwrap(ar.cause());
                if (!S3Errors.retryable(failure)) {
                    result.fail(failure);
                    return;
                }
                if (S3Errors.throttled(failure)) {
                    window.onThrottle();
                }
                if (attempt + 1 >= maxAttempts) {
                    result.fail(new SiloException(SiloException.Kind.UNAVAILABLE, "S3 " + what + " failed "
                            + maxAttempts + " times, last: " + S3Errors.describe(failure), failure));
                    return;
                }
                retries.incrementAndGet();
                long ceiling = Math.min(capMillis, baseMillis << Math.min(attempt, 20));
                long delay = 1 + ThreadLocalRandom.current().nextLong(ceiling);
                context.owner().setTimer(delay, t -> context.runOnContext(v -> attempt(what, request, attempt + 1,
                        result)));
            });
        });
    }
}
