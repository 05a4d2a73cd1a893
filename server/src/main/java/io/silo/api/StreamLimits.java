package io.silo.api;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Bounds on streams. VerifyTenant: how many may hold a verify worker at once, and how long one may wait for a reader
 * that stopped reading; without them a few callers that open streams and never read would hold every worker of the
 * pool the migration engine's VERIFY phase also needs. WatchMigration: how many one caller may hold open at once, so
 * one token cannot take every watcher slot and all the memory they pin.
 */
public final class StreamLimits {

  private final int maxVerifies;
  private final long stallMillis;
  private final AtomicInteger verifies = new AtomicInteger();
  private final int maxWatchesPerCaller;
  private final ConcurrentHashMap<String, Integer> watches = new ConcurrentHashMap<>();

  public StreamLimits(int maxVerifies, long stallMillis) {
    this(maxVerifies, stallMillis, Integer.MAX_VALUE);
  }

  public StreamLimits(int maxVerifies, long stallMillis, int maxWatchesPerCaller) {
    this.maxVerifies = maxVerifies;
    this.stallMillis = stallMillis;
    this.maxWatchesPerCaller = maxWatchesPerCaller;
  }

  /** Takes one of {@code caller}'s watch slots; false when it holds {@link #maxWatchesPerCaller()} already. */
  boolean tryAcquireWatch(String caller) {
    boolean[] taken = {false};
    watches.compute(caller, (key, held) -> {
      int now = held == null ? 0 : held;
      if (now >= maxWatchesPerCaller) {
        return held;
      }
      taken[0] = true;
      return now + 1;
    });
    return taken[0];
  }

  void releaseWatch(String caller) {
    // An entry that reaches zero is removed, so callers that come and go leave nothing behind.
    watches.computeIfPresent(caller, (key, held) -> held <= 1 ? null : held - 1);
  }

  public int maxWatchesPerCaller() {
    return maxWatchesPerCaller;
  }

  /** Takes a verify slot; false when {@link #maxVerifies()} streams already hold one. */
  boolean tryAcquireVerify() {
    while (true) {
      int now = verifies.get();
      if (now >= maxVerifies) {
        return false;
      }
      if (verifies.compareAndSet(now, now + 1)) {
        return true;
      }
    }
  }

  void releaseVerify() {
    verifies.decrementAndGet();
  }

  /** Verify streams holding a worker now. */
  public int verifies() {
    return verifies.get();
  }

  public int maxVerifies() {
    return maxVerifies;
  }

  public long stallMillis() {
    return stallMillis;
  }
}
