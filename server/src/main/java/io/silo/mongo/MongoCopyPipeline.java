package io.silo.mongo;

import com.mongodb.ErrorCategory;
import com.mongodb.MongoBulkWriteException;
import com.mongodb.MongoSocketException;
import com.mongodb.MongoTimeoutException;
import com.mongodb.bulk.BulkWriteError;
import com.mongodb.client.model.Filters;
import com.mongodb.client.model.InsertManyOptions;
import com.mongodb.client.model.Projections;
import com.mongodb.client.model.Sorts;
import com.mongodb.reactivestreams.client.MongoCollection;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.function.Supplier;
import org.bson.BsonBinary;
import org.bson.BsonDocument;
import org.bson.BsonValue;
import org.bson.RawBsonDocument;
import org.bson.conversions.Bson;
import org.reactivestreams.Subscriber;
import org.reactivestreams.Subscription;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The MONGO phase's data path for one tenant: reads the tenant's source documents in {@code _id} order after a
 * checkpoint, encrypts them in parallel on the crypto pool, writes them idempotently, and hands each batch to
 * {@link Progress} in read order so the checkpoint only ever covers a contiguous prefix.
 *
 * <p>Backpressure: the source cursor is asked for one batch at a time and only while fewer than
 * {@code batchesInFlight} batches are being encrypted, written or checkpointed, so memory is bounded by
 * {@code (batchesInFlight + 1) * batchSize} documents however large the collection is. Each batch takes one KMS
 * permit before encrypting, because a batch may need the DEK unwrapped when libmongocrypt's cache has expired.
 *
 * <p>All state lives on one Vert.x context; driver callbacks hop onto it before touching anything (documents once per
 * requested batch, see Run.onNext).
 */
public final class MongoCopyPipeline {

  private static final Logger LOG = LoggerFactory.getLogger(MongoCopyPipeline.class);
  private static final int IO_ATTEMPTS = 3;
  /** Item failure code: the target holds another document under the same _id. */
  public static final String TARGET_ID_CONFLICT = "TARGET_ID_CONFLICT";
  private static final org.bson.codecs.BsonDocumentCodec DOCUMENT_CODEC = new org.bson.codecs.BsonDocumentCodec();

  /** One document that did not fit the plan. */
  public record ItemFailure(BsonValue id, String code, String message) {
  }

  /** What one batch did; {@code lastId} is the greatest _id read in it. */
  public record BatchResult(BsonValue lastId, int copied, int alreadyPresent, long bytes, List<ItemFailure> failures,
                            Set<String> plaintextFields) {
    public BatchResult(BsonValue lastId, int copied, int alreadyPresent, long bytes, List<ItemFailure> failures) {
      this(lastId, copied, alreadyPresent, bytes, failures, Set.of());
    }

    public int processed() {
      return copied + alreadyPresent + failures.size();
    }
  }

  /** How the pipeline ended. */
  public enum Outcome { SOURCE_EXHAUSTED, STOPPED }

  /** The job around the pipeline: records each batch (checkpoint) and says whether to go on. */
  public interface Progress {
    /** Called for batches strictly in read order, one at a time; false stops the pipeline after in-flight writes. */
    Future<Boolean> committed(BatchResult batch);
  }

  /** Observes pipeline internals for metrics; all methods are optional. */
  public interface Observer {
    default void batchStarted() {
    }

    default void batchFinished() {
    }
  }

  private final Context context;
  private final MongoCollection<RawBsonDocument> source;
  private final MongoCollection<RawBsonDocument> target;
  private final ExecutorService crypto;
  private final int cryptoParallelism;
  private final DocumentEncryptor encryptor;
  private final Supplier<Future<Void>> kmsPermit;
  private final EncryptionPlan plan;
  private final int batchesInFlight;
  private final Observer observer;
  private final Set<String> coveredTopLevel;
  private Runnable onThrottled = () -> { };
  private Runnable onSuccess = () -> { };
  /** How long a batch keeps retrying a throttled KMS before the run requeues itself as a transient fault. */
  private static final long THROTTLE_RETRY_NANOS = 60_000_000_000L;

  public MongoCopyPipeline(Context context, MongoCollection<RawBsonDocument> source,
                           MongoCollection<RawBsonDocument> target, ExecutorService crypto, int cryptoParallelism,
                           DocumentEncryptor encryptor, Supplier<Future<Void>> kmsPermit, EncryptionPlan plan,
                           int batchesInFlight, Observer observer) {
    this.context = context;
    this.source = source;
    this.target = target;
    this.crypto = crypto;
    this.cryptoParallelism = Math.max(1, cryptoParallelism);
    this.encryptor = encryptor;
    this.kmsPermit = kmsPermit;
    this.plan = plan;
    this.batchesInFlight = batchesInFlight;
    this.observer = observer == null ? new Observer() { } : observer;
    this.coveredTopLevel = plan.coveredTopLevel();
  }

  /**
   * Tells the shared KMS budget how its permits fared: a throttled batch slows every caller of that KMS down, and
   * each batch that encrypted lets the rate recover towards the ceiling.
   */
  public MongoCopyPipeline kmsFeedback(Runnable throttled, Runnable succeeded) {
    this.onThrottled = throttled;
    this.onSuccess = succeeded;
    return this;
  }

  /**
   * Copies the tenant's documents after {@code afterId} (null = from the start). Completes on the pipeline's context.
   *
   * <p>When the target may already hold some of the tenant's documents (a resumed run, or a re-run), it first reads
   * the greatest {@code _id} the target holds for the tenant (the high-water mark). Only batches that reach down to
   * it can contain documents that are already there, so only those ask the target which of their documents exist
   * and skip encrypting them; a fresh copy writes straight away. Either way a duplicate {@code _id} on insert counts
   * as already migrated, so skipping the check never duplicates anything — it only saves encryption.
   */
  public Future<Outcome> run(String tenant, BsonBinary keyId, BsonValue afterId, boolean targetMayHoldTenant,
                             Progress progress) {
    Bson filter = afterId == null ? Filters.eq(plan.tenantField(), tenant)
        : Filters.and(Filters.eq(plan.tenantField(), tenant), Filters.gt("_id", afterId));
    Future<RawBsonDocument> highWater = !targetMayHoldTenant ? Future.succeededFuture(null)
        : retrying(() -> Reactive.single(context, target.find(Filters.eq(plan.tenantField(), tenant))
            .sort(Sorts.descending("_id")).projection(Projections.include("_id")).limit(1)));
    return highWater
        .compose(highest -> {
          Run run = new Run(tenant, keyId, progress, highest == null ? null : highest.get("_id"));
          source.find(filter).sort(Sorts.ascending("_id")).batchSize(plan.batchSize()).subscribe(run);
          return run.done.future();
        });
  }

  /** One execution: a source subscriber plus the ordered queue of batches in flight. */
  private final class Run implements Subscriber<RawBsonDocument> {
    private final String tenant;
    private final BsonBinary keyId;
    private final Progress progress;
    private final BsonValue highWater;
    private final Promise<Outcome> done = Promise.promise();
    private final ArrayDeque<Batch> inFlight = new ArrayDeque<>();
    private Subscription subscription;
    private List<RawBsonDocument> filling = new ArrayList<>();
    /** Documents the driver delivered that the context has not taken yet (written on the driver's thread). */
    private final java.util.concurrent.ConcurrentLinkedQueue<RawBsonDocument> arrived =
        new java.util.concurrent.ConcurrentLinkedQueue<>();
    /** Of the current request, how many documents the driver has still to deliver; 0 triggers the hand-off. */
    private final java.util.concurrent.atomic.AtomicLong undelivered = new java.util.concurrent.atomic.AtomicLong();
    private long outstanding;
    private boolean sourceDone;
    private boolean stopping;
    private boolean committing;

    Run(String tenant, BsonBinary keyId, Progress progress, BsonValue highWater) {
      this.tenant = tenant;
      this.keyId = keyId;
      this.progress = progress;
      this.highWater = highWater;
    }

    @Override
    public void onSubscribe(Subscription s) {
      context.runOnContext(v -> {
        subscription = s;
        demand();
      });
    }

    /**
     * Runs on the driver's thread (Reactive Streams signals one document at a time, never concurrently). Documents
     * are collected here and handed to the context once per request, i.e. once per batch: hopping per document
     * cost a task and a queue hand-off for each of them.
     */
    @Override
    public void onNext(RawBsonDocument doc) {
      arrived.add(doc);
      if (undelivered.decrementAndGet() == 0) {
        context.runOnContext(v -> takeArrived());
      }
    }

    @Override
    public void onError(Throwable t) {
      context.runOnContext(v -> fail(t));
    }

    @Override
    public void onComplete() {
      // Signals are ordered, so this task runs after the hand-off of any document that arrived before it.
      context.runOnContext(v -> {
        takeArrived();
        sourceDone = true;
        if (!stopping && !filling.isEmpty()) {
          dispatch();
        }
        maybeFinish();
      });
    }

    /** Moves what the driver delivered into the filling batch (on the context). */
    private void takeArrived() {
      List<RawBsonDocument> got = new ArrayList<>();
      for (RawBsonDocument doc; (doc = arrived.poll()) != null; ) {
        got.add(doc);
      }
      outstanding -= got.size();
      if (stopping) {
        return;
      }
      filling.addAll(got);
      if (filling.size() >= plan.batchSize()) {
        dispatch();
      }
      demand();
    }

    /** Asks the cursor for the rest of the current batch, but only while there is room for another batch. */
    private void demand() {
      if (subscription == null || stopping || sourceDone || outstanding > 0 || inFlight.size() >= batchesInFlight) {
        return;
      }
      outstanding = plan.batchSize() - filling.size();
      // Set before asking, so the driver thread sees the count before the first document of this request.
      undelivered.set(outstanding);
      subscription.request(outstanding);
    }

    private void dispatch() {
      Batch batch = new Batch(filling);
      filling = new ArrayList<>();
      inFlight.add(batch);
      observer.batchStarted();
      process(tenant, batch.docs, keyId, mayBePresent(batch.docs.get(0).get("_id"))).onComplete(result -> {
        observer.batchFinished();
        if (result.failed()) {
          fail(result.cause());
          return;
        }
        batch.result = result.result();
        commitInOrder();
      });
    }

    /** Checkpoints finished batches from the head of the queue, so a checkpoint never skips an unwritten batch. */
    private void commitInOrder() {
      if (committing || done.future().isComplete()) {
        return;
      }
      Batch head = inFlight.peek();
      if (head == null || head.result == null) {
        maybeFinish();
        return;
      }
      if (stopping) {
        // Written but not checkpointed: a later run finds these documents present and skips them.
        inFlight.poll();
        commitInOrder();
        return;
      }
      committing = true;
      progress.committed(head.result).onComplete(ack -> {
        committing = false;
        if (ack.failed()) {
          fail(ack.cause());
          return;
        }
        inFlight.poll();
        if (!ack.result()) {
          stop();
        }
        commitInOrder();
        demand();
      });
    }

    /** Whether a batch starting at {@code firstId} can overlap what the target held when this run began. */
    private boolean mayBePresent(BsonValue firstId) {
      if (highWater == null) {
        return false;
      }
      Integer order = IdOrder.compare(firstId, highWater);
      return order == null || order <= 0;
    }

    private void stop() {
      stopping = true;
      filling.clear();
      if (subscription != null) {
        subscription.cancel();
      }
    }

    private void maybeFinish() {
      if (inFlight.isEmpty() && !committing && (stopping || (sourceDone && filling.isEmpty()))) {
        done.tryComplete(stopping ? Outcome.STOPPED : Outcome.SOURCE_EXHAUSTED);
      }
    }

    private void fail(Throwable t) {
      if (done.future().isComplete()) {
        return;
      }
      stopping = true;
      if (subscription != null) {
        subscription.cancel();
      }
      done.tryFail(t);
    }
  }

  private static final class Batch {
    final List<RawBsonDocument> docs;
    BatchResult result;

    Batch(List<RawBsonDocument> docs) {
      this.docs = docs;
    }
  }

  /**
   * Skips what is already in the target (asked only when the batch may overlap it), encrypts the rest in parallel,
   * writes unordered; replaying is harmless.
   */
  Future<BatchResult> process(String tenant, List<RawBsonDocument> docs, BsonBinary keyId, boolean mayBePresent) {
    List<BsonValue> ids = new ArrayList<>(docs.size());
    long bytes = 0;
    for (RawBsonDocument doc : docs) {
      ids.add(doc.get("_id"));
      bytes += doc.getByteBuffer().remaining();
    }
    long batchBytes = bytes;
    BsonValue lastId = ids.get(ids.size() - 1);
    // Present means present *for this tenant*: another tenant's document under the same _id is a conflict to
    // report, never a reason to count this one as migrated.
    Future<Map<BsonValue, Boolean>> present = !mayBePresent ? Future.succeededFuture(Map.of())
        : retrying(() -> Reactive.collect(context, target.find(Filters.in("_id", ids))
            .projection(Projections.include("_id", plan.tenantField()))))
            .map(found -> {
              Map<BsonValue, Boolean> existing = new HashMap<>();
              for (RawBsonDocument d : found) {
                BsonValue owner = DocumentEncryptor.valueAt(d, plan.tenantField());
                existing.put(d.get("_id"), owner != null && owner.isString()
                    && owner.asString().getValue().equals(tenant));
              }
              return existing;
            });
    return present.compose(existing -> {
      List<RawBsonDocument> todo = new ArrayList<>(docs.size());
      List<ItemFailure> conflicts = new ArrayList<>();
      for (RawBsonDocument doc : docs) {
        Boolean ours = existing.get(doc.get("_id"));
        if (ours == null) {
          todo.add(doc);
        } else if (!ours) {
          conflicts.add(conflict(doc.get("_id"), tenant));
        }
      }
      if (todo.isEmpty()) {
        return Future.succeededFuture(new BatchResult(lastId, 0, docs.size() - conflicts.size(), batchBytes,
            conflicts));
      }
      // Filled on the crypto threads, which decode each document anyway: names of fields copied in plaintext.
      Set<String> plaintext = java.util.concurrent.ConcurrentHashMap.newKeySet();
      return encryptUnderBudget(todo, keyId, 0, System.nanoTime(), plaintext).compose(outcomes -> {
        List<RawBsonDocument> writes = new ArrayList<>(todo.size());
        List<ItemFailure> failures = new ArrayList<>(conflicts);
        for (int i = 0; i < todo.size(); i++) {
          Object outcome = outcomes.get(i);
          if (outcome instanceof RawBsonDocument encoded) {
            writes.add(encoded);
          } else if (outcome instanceof DocumentEncryptor.Failed f) {
            failures.add(new ItemFailure(todo.get(i).get("_id"), f.code(), f.message()));
          }
        }
        int skipped = docs.size() - todo.size() - conflicts.size();
        if (writes.isEmpty()) {
          return Future.succeededFuture(new BatchResult(lastId, 0, skipped, batchBytes, failures));
        }
        return retrying(() -> insertUnordered(writes)).compose(duplicates ->
            (duplicates.isEmpty() ? Future.succeededFuture(List.<ItemFailure>of()) : foreign(tenant, duplicates))
                .map(foreign -> {
                  List<ItemFailure> all = new ArrayList<>(failures);
                  all.addAll(foreign);
                  return new BatchResult(lastId, writes.size() - duplicates.size(),
                      skipped + duplicates.size() - foreign.size(), batchBytes, all, Set.copyOf(plaintext));
                }));
      });
    });
  }


  /**
   * Takes a KMS permit and encrypts; a throttled KMS (the DEK's unwrap when libmongocrypt's cache expired) is reported
   * to the shared budget, whose AIMD loop slows every caller of that KMS, and the batch is retried with backoff for
   * up to {@link #THROTTLE_RETRY_NANOS}. Retrying is safe: each attempt decodes fresh copies of the documents.
   */
  private Future<List<Object>> encryptUnderBudget(List<RawBsonDocument> todo, BsonBinary keyId, int attempt,
                                                  long startNanos, Set<String> plaintext) {
    return kmsPermit.get().compose(v -> encryptAll(todo, keyId, plaintext)).onSuccess(v -> onSuccess.run()).recover(failure -> {
      if (!io.silo.keys.KmsErrors.isThrottling(failure) || System.nanoTime() - startNanos > THROTTLE_RETRY_NANOS) {
        return Future.failedFuture(failure);
      }
      onThrottled.run();
      long delay = (long) (Math.min(2000, 50L << Math.min(attempt, 6))
          * (0.5 + java.util.concurrent.ThreadLocalRandom.current().nextDouble()));
      LOG.info("KMS throttled a batch's key unwrap; retry {} in {} ms", attempt + 1, delay);
      Promise<List<Object>> later = Promise.promise();
      context.owner().setTimer(Math.max(1, delay), t -> encryptUnderBudget(todo, keyId, attempt + 1, startNanos, plaintext)
          .onComplete(later));
      return later.future();
    });
  }

  /**
   * Splits the batch across the crypto pool; results keep the batch's order. Each result is the encoded target
   * document or a {@link DocumentEncryptor.Failed}. Decoding and encoding happen on the pool too, so the event loop
   * never walks document bytes and the driver only copies the encoded bytes.
   */
  private Future<List<Object>> encryptAll(List<RawBsonDocument> docs, BsonBinary keyId, Set<String> plaintext) {
    boolean collect = plan.unplanned() == EncryptionPlan.Unplanned.COPY;
    Set<String> covered = coveredTopLevel;
    int chunks = Math.min(cryptoParallelism, docs.size());
    int per = (docs.size() + chunks - 1) / chunks;
    List<CompletableFuture<List<Object>>> parts = new ArrayList<>();
    for (int from = 0; from < docs.size(); from += per) {
      List<RawBsonDocument> slice = docs.subList(from, Math.min(docs.size(), from + per));
      parts.add(CompletableFuture.supplyAsync(() -> {
        List<Object> out = new ArrayList<>(slice.size());
        for (RawBsonDocument raw : slice) {
          BsonDocument decoded = raw.decode(DOCUMENT_CODEC);
          if (collect) {
            for (String name : decoded.keySet()) {
              if (!covered.contains(name)) {
                plaintext.add(name);
              }
            }
          }
          DocumentEncryptor.Outcome outcome = encryptor.encryptOwned(decoded, keyId);
          out.add(outcome instanceof DocumentEncryptor.Encrypted e ? new RawBsonDocument(e.target(), DOCUMENT_CODEC)
              : outcome);
        }
        return out;
      }, crypto));
    }
    CompletableFuture<List<Object>> all = CompletableFuture
        .allOf(parts.toArray(new CompletableFuture[0]))
        .thenApply(v -> {
          List<Object> out = new ArrayList<>(docs.size());
          parts.forEach(p -> out.addAll(p.join()));
          return out;
        });
    Promise<List<Object>> promise = Promise.promise();
    all.whenComplete((result, failure) -> context.runOnContext(v -> {
      if (failure != null) {
        promise.fail(failure instanceof java.util.concurrent.CompletionException && failure.getCause() != null
            ? failure.getCause() : failure);
      } else {
        promise.complete(result);
      }
    }));
    return promise.future();
  }

  /**
   * Inserts without stopping at the first error. A duplicate _id usually means the document is already in the
   * target (a replay, or a stale runner); any other write error fails the batch. Returns the duplicate _ids.
   */
  private Future<List<BsonValue>> insertUnordered(List<RawBsonDocument> writes) {
    return Reactive.single(context, target.insertMany(writes, new InsertManyOptions().ordered(false)))
        .map(r -> List.<BsonValue>of())
        .recover(failure -> {
          if (failure instanceof MongoBulkWriteException bulk && bulk.getWriteConcernError() == null) {
            List<BsonValue> duplicates = new ArrayList<>();
            for (BulkWriteError error : bulk.getWriteErrors()) {
              if (ErrorCategory.fromErrorCode(error.getCode()) != ErrorCategory.DUPLICATE_KEY) {
                return Future.failedFuture(failure);
              }
              duplicates.add(writes.get(error.getIndex()).get("_id"));
            }
            return Future.succeededFuture(duplicates);
          }
          return Future.failedFuture(failure);
        });
  }

  /**
   * Of the duplicate _ids, those whose target document is not this tenant's: the target holds someone else's
   * document under that _id, which must be reported rather than counted as migrated.
   */
  private Future<List<ItemFailure>> foreign(String tenant, List<BsonValue> duplicates) {
    return retrying(() -> Reactive.collect(context, target.find(Filters.and(Filters.in("_id", duplicates),
            Filters.eq(plan.tenantField(), tenant))).projection(Projections.include("_id"))))
        .map(ours -> {
          Set<BsonValue> mine = new HashSet<>();
          ours.forEach(d -> mine.add(d.get("_id")));
          List<ItemFailure> conflicts = new ArrayList<>();
          for (BsonValue id : duplicates) {
            if (!mine.contains(id)) {
              conflicts.add(conflict(id, tenant));
            }
          }
          return conflicts;
        });
  }

  private static ItemFailure conflict(BsonValue id, String tenant) {
    return new ItemFailure(id, TARGET_ID_CONFLICT, "the target already holds a document with this _id that does not"
        + " belong to tenant '" + tenant + "'");
  }

  /** Retries idempotent I/O on transient network errors with a short backoff; other failures pass through. */
  private <T> Future<T> retrying(Supplier<Future<T>> io) {
    return attempt(io, 1);
  }

  private <T> Future<T> attempt(Supplier<Future<T>> io, int n) {
    return io.get().recover(failure -> {
      boolean transientError = failure instanceof MongoSocketException || failure instanceof MongoTimeoutException;
      if (!transientError || n >= IO_ATTEMPTS) {
        return Future.failedFuture(failure);
      }
      LOG.warn("MongoDB I/O failed ({}), retry {}/{}", failure.getClass().getSimpleName(), n, IO_ATTEMPTS - 1);
      Promise<T> later = Promise.promise();
      context.owner().setTimer(200L * n, t -> attempt(io, n + 1).onComplete(later));
      return later.future();
    });
  }
}
