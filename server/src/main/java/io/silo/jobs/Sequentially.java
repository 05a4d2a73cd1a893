package io.silo.jobs;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import java.util.Iterator;
import java.util.List;
import java.util.function.Function;

/**
 * Runs an asynchronous step for each item, one after the other, without nesting: a chain built with
 * {@code compose} per item is as deep as the list, and a failure (or steps that complete at once) then unwinds
 * through every link on one stack, which overflows at a few thousand items.
 */
public final class Sequentially<T> {

  private final Iterator<T> items;
  private final Function<T, Future<?>> step;
  private final Promise<Void> done = Promise.promise();
  private boolean looping;
  private boolean again;

  private Sequentially(List<T> items, Function<T, Future<?>> step) {
    this.items = items.iterator();
    this.step = step;
  }

  /** Applies {@code step} to each item in order; fails with the first failure and runs no later step. */
  public static <T> Future<Void> forEach(List<T> items, Function<T, Future<?>> step) {
    Sequentially<T> run = new Sequentially<>(items, step);
    run.next();
    return run.done.future();
  }

  /**
   * Starts the next step. A step that completes synchronously calls back into here while the loop is still on the
   * stack; it only flags {@code again}, and the loop below takes the next item, so the stack stays flat.
   */
  private synchronized void next() {
    if (looping) {
      again = true;
      return;
    }
    looping = true;
    try {
      do {
        again = false;
        if (!items.hasNext()) {
          done.tryComplete();
          return;
        }
        Future<?> current;
        try {
          current = step.apply(items.next());
        } catch (RuntimeException e) {
          done.tryFail(e);
          return;
        }
        current.onComplete(result -> {
          if (result.failed()) {
            done.tryFail(result.cause());
          } else {
            next();
          }
        });
      } while (again);
    } finally {
      looping = false;
    }
  }
}
