package io.silo.api;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * Bounds on VerifyTenant streams: how many may hold a verify worker at once, and how long one may wait for a reader
 * that stopped reading. Without them a few callers that open streams and never read would hold every worker of the
 * pool the migration engine's VERIFY phase also needs.
 */
public final class StreamLimits {

  private final int maxVerifies;
  private final long stallMillis;
  private final AtomicInteger verifies = new AtomicInteger();

  public StreamLimits(int maxVerifies, long stallMillis) {
    this.maxVerifies = maxVerifies;
    this.stallMillis = stallMillis;
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
