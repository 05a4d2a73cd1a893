package io.silo.keys;

import com.mongodb.client.model.vault.DataKeyOptions;
import com.mongodb.client.vault.ClientEncryption;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.WorkerExecutor;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.bson.BsonBinary;
import org.bson.BsonDocument;

/**
 * Creates many tenant DEKs through ClientEncryption with every KMS call gated by a {@link KmsBudget}: acquire a
 * permit, run the blocking createDataKey on a worker pool, report success or throttling to the budget, and retry a
 * throttled key after the budget has been cut. This is the shape the key-creation pipeline will have.
 */
final class BudgetedKeyCreation {

  /** Outcome of a run. */
  record Result(int created, int failed, int throttledAttempts, long elapsedNanos, List<Throwable> failures) {
    double ratePerSecond() {
      return created / (elapsedNanos / 1e9);
    }
  }

  private final ClientEncryption clientEncryption;
  private final KmsBudget budget;
  private final WorkerExecutor workers;
  private final Supplier<BsonDocument> masterKey;
  private final int maxAttempts;

  BudgetedKeyCreation(ClientEncryption clientEncryption, KmsBudget budget, WorkerExecutor workers,
      Supplier<BsonDocument> masterKey, int maxAttempts) {
    this.clientEncryption = clientEncryption;
    this.budget = budget;
    this.workers = workers;
    this.masterKey = masterKey;
    this.maxAttempts = maxAttempts;
  }

  /** Creates keys with keyAltNames {@code tenant-<prefix><n>} for n in [0, count), all queued on the budget at once. */
  Result createKeys(String prefix, int count, long timeout, TimeUnit unit) throws Exception {
    AtomicInteger created = new AtomicInteger();
    AtomicInteger throttledAttempts = new AtomicInteger();
    List<Throwable> failures = new java.util.concurrent.CopyOnWriteArrayList<>();
    ConcurrentHashMap<String, BsonBinary> ids = new ConcurrentHashMap<>();
    CompletableFuture<Void> all = new CompletableFuture<>();
    AtomicInteger remaining = new AtomicInteger(count);
    long t0 = System.nanoTime();
    for (int i = 0; i < count; i++) {
      String alt = String.format("tenant-%s%05d", prefix, i);
      createOne(alt, 1, throttledAttempts).onComplete(ar -> {
        if (ar.succeeded()) {
          ids.put(alt, ar.result());
          created.incrementAndGet();
        } else {
          failures.add(ar.cause());
        }
        if (remaining.decrementAndGet() == 0) all.complete(null);
      });
    }
    all.get(timeout, unit);
    long elapsed = System.nanoTime() - t0;
    return new Result(created.get(), failures.size(), throttledAttempts.get(), elapsed, failures);
  }

  private Future<BsonBinary> createOne(String keyAltName, int attempt, AtomicInteger throttledAttempts) {
    Promise<BsonBinary> result = Promise.promise();
    budget.acquire()
        .compose(v -> workers.executeBlocking(() -> clientEncryption.createDataKey("aws",
            new DataKeyOptions().masterKey(masterKey.get()).keyAltNames(List.of(keyAltName))), false))
        .onComplete(ar -> {
          if (ar.succeeded()) {
            budget.onSuccess();
            result.complete(ar.result());
          } else if (KmsBudget.isThrottle(ar.cause()) && attempt < maxAttempts) {
            throttledAttempts.incrementAndGet();
            budget.onThrottled();
            createOne(keyAltName, attempt + 1, throttledAttempts).onComplete(result);
          } else {
            result.fail(ar.cause());
          }
        });
    return result.future();
  }
}
