package io.silo.keys;

import io.vertx.core.Future;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Runs asynchronous operations that share a key (a tenant, a tenant's CMK) one after another in this process, and
 * operations with different keys concurrently. Other processes are kept apart by the database or the key vault.
 */
final class PerKeyQueue {

  private final Map<String, Future<?>> tails = new HashMap<>();

  /** Starts {@code operation} once every earlier operation with the same key has finished, however it finished. */
  <T> Future<T> run(String key, Supplier<Future<T>> operation) {
    synchronized (tails) {
      Future<?> previous = tails.getOrDefault(key, Future.succeededFuture());
      Future<T> next = previous.transform(ignored -> operation.get());
      tails.put(key, next);
      next.onComplete(done -> {
        synchronized (tails) {
          tails.remove(key, next);
        }
      });
      return next;
    }
  }
}
