package io.silo.bench;

import com.mongodb.ClientEncryptionSettings;
import com.mongodb.client.MongoClient;
import com.mongodb.client.MongoCollection;
import com.mongodb.client.model.InsertManyOptions;
import com.mongodb.client.model.vault.EncryptOptions;
import com.mongodb.client.vault.ClientEncryption;
import com.mongodb.client.vault.ClientEncryptions;
import io.silo.mongo.CryptLibrary;
import io.silo.mongo.EncryptionPlan.Namespace;
import io.silo.mongo.FieldRule;
import io.silo.mongo.MongoClientFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import org.bson.BsonBinary;
import org.bson.BsonDocument;
import org.bson.BsonValue;
import org.bson.RawBsonDocument;

/**
 * The three reference points Silo's MONGO phase is measured against: (a) the seed's naive loop, (b) a plaintext bulk
 * copy (the I/O ceiling) and (c) raw explicit encryption in parallel (the crypto ceiling).
 */
final class Baselines {

  private final String keyVaultNamespace;
  private final Map<String, Map<String, Object>> kmsProviders;
  private final List<FieldRule> plan;
  private final Map<String, BsonBinary> keyIds;
  private final String tenantField;
  private final Consumer<String> progress;

  /**
   * @param keyIds the data key id of each tenant slug, created beforehand so key creation is never timed
   */
  Baselines(String keyVaultNamespace, Map<String, Map<String, Object>> kmsProviders, List<FieldRule> plan,
            Map<String, BsonBinary> keyIds, String tenantField, Consumer<String> progress) {
    this.keyVaultNamespace = keyVaultNamespace;
    this.kmsProviders = kmsProviders;
    this.plan = plan;
    this.keyIds = keyIds;
    this.tenantField = tenantField;
    this.progress = progress;
  }

  private ClientEncryption clientEncryption(String uri) {
    CryptLibrary.ensureBundledLibrary();
    return ClientEncryptions.create(ClientEncryptionSettings.builder()
        .keyVaultMongoClientSettings(MongoClientFactory.settings(uri))
        .keyVaultNamespace(keyVaultNamespace)
        .kmsProviders(kmsProviders)
        .build());
  }

  /**
   * (a) {@code for doc in legacy.find(): encrypt planned fields; target.insert_one(doc)}: one thread, the sync
   * driver, explicit encryption, one round trip per document.
   */
  Measurement naiveLoop(String label, String uri, Namespace source, Namespace target) {
    try (MongoClient client = MongoClientFactory.sync(uri); ClientEncryption encryption = clientEncryption(uri)) {
      MongoCollection<BsonDocument> from = collection(client, source, BsonDocument.class);
      MongoCollection<BsonDocument> to = collection(client, target, BsonDocument.class);
      ScratchCollections.drop(client, target);
      long docs = 0;
      Reporter reporter = new Reporter(label);
      long t0 = System.nanoTime();
      for (BsonDocument doc : from.find()) {
        BsonBinary keyId = keyIds.get(doc.getString(tenantField).getValue());
        for (FieldRule rule : plan) {
          BsonValue plain = valueAt(doc, rule.path());
          if (plain != null) {
            putAt(doc, rule.path(), encryption.encrypt(plain,
                new EncryptOptions(rule.algorithm().driverName()).keyId(keyId)));
          }
        }
        to.insertOne(doc);
        reporter.tick(++docs);
      }
      return new Measurement(label, docs, System.nanoTime() - t0);
    }
  }

  /**
   * (b) Plaintext copy with find in 1,000-document batches and insertMany from {@code writers} threads: how fast this
   * MongoDB moves these documents when nothing is encrypted. Raw BSON is passed through without decoding.
   */
  Measurement bulkCopy(String label, String uri, Namespace source, Namespace target, int writers) throws Exception {
    return bulkCopy(label, uri, source, target, writers, 1_000, (from, batch) -> List.of(from.find().batchSize(batch)));
  }

  /**
   * (b') The I/O ceiling with Silo's query shape: per tenant, a count of the tenant's documents, then a find filtered by
   * tenant in {@code _id} order with Silo's batch size. On a store without a (tenant, _id) index every tenant's find
   * scans the collection, which Silo pays too; (b) reads it once and so overstates what Silo could reach.
   */
  Measurement bulkCopyPerTenant(String label, String uri, Namespace source, Namespace target, int writers, int batch)
      throws Exception {
    return bulkCopy(label, uri, source, target, writers, batch, (from, size) -> keyIds.keySet().stream()
        .map(tenant -> {
          from.countDocuments(com.mongodb.client.model.Filters.eq(tenantField, tenant));
          return (Iterable<RawBsonDocument>) from.find(com.mongodb.client.model.Filters.eq(tenantField, tenant))
              .sort(com.mongodb.client.model.Sorts.ascending("_id")).batchSize(size);
        }).toList());
  }

  /** How a plaintext copy reads the source: one or more cursors, consumed in order. */
  private interface Reader {
    List<Iterable<RawBsonDocument>> cursors(MongoCollection<RawBsonDocument> from, int batch);
  }

  private Measurement bulkCopy(String label, String uri, Namespace source, Namespace target, int writers, int batch,
                               Reader reader) throws Exception {
    try (MongoClient client = MongoClientFactory.sync(uri)) {
      MongoCollection<RawBsonDocument> from = collection(client, source, RawBsonDocument.class);
      MongoCollection<RawBsonDocument> to = collection(client, target, RawBsonDocument.class);
      ScratchCollections.drop(client, target);
      BlockingQueue<List<RawBsonDocument>> queue = new ArrayBlockingQueue<>(writers * 2);
      List<RawBsonDocument> poison = new ArrayList<>();
      AtomicLong written = new AtomicLong();
      AtomicReference<Throwable> failure = new AtomicReference<>();
      CountDownLatch done = new CountDownLatch(writers);
      Reporter reporter = new Reporter(label);
      long t0 = System.nanoTime();
      for (int w = 0; w < writers; w++) {
        Thread t = new Thread(() -> {
          try {
            List<RawBsonDocument> docs;
            while ((docs = queue.take()) != poison) {
              to.insertMany(docs, new InsertManyOptions().ordered(false));
              reporter.tick(written.addAndGet(docs.size()));
            }
          } catch (Throwable e) {
            failure.compareAndSet(null, e);
          } finally {
            done.countDown();
          }
        }, "bench-bulk-writer-" + w);
        t.setDaemon(true);
        t.start();
      }
      List<RawBsonDocument> current = new ArrayList<>(batch);
      // Inside the timed span: the per-tenant reader counts each tenant here, as Silo does before copying it.
      for (Iterable<RawBsonDocument> cursor : reader.cursors(from, batch)) {
        for (RawBsonDocument doc : cursor) {
          current.add(doc);
          if (current.size() == batch) {
            putOrFail(queue, current, failure);
            current = new ArrayList<>(batch);
          }
        }
      }
      if (!current.isEmpty()) {
        putOrFail(queue, current, failure);
      }
      for (int w = 0; w < writers; w++) {
        putOrFail(queue, poison, failure);
      }
      done.await();
      if (failure.get() != null) {
        throw new IllegalStateException("bulk copy failed", failure.get());
      }
      return new Measurement(label, written.get(), System.nanoTime() - t0, writers + " writer threads");
    }
  }

  private static void putOrFail(BlockingQueue<List<RawBsonDocument>> queue, List<RawBsonDocument> docs,
                                AtomicReference<Throwable> failure) throws InterruptedException {
    while (!queue.offer(docs, 100, java.util.concurrent.TimeUnit.MILLISECONDS)) {
      if (failure.get() != null) {
        throw new IllegalStateException("bulk copy failed", failure.get());
      }
    }
  }

  /**
   * (c) ClientEncryption.encrypt over exactly the values the plan encrypts (read into memory first, untimed), with each
   * tenant's key id, from {@code threads} threads. Each thread has its own ClientEncryption so they share nothing but
   * the CPU: this is the most encryption this machine can do.
   */
  Measurement cryptoCeiling(String label, String uri, Namespace source, int threads) throws Exception {
    List<BsonValue> values = new ArrayList<>();
    List<BsonBinary> keys = new ArrayList<>();
    List<FieldRule> rules = new ArrayList<>();
    long docs = 0;
    try (MongoClient client = MongoClientFactory.sync(uri)) {
      for (BsonDocument doc : collection(client, source, BsonDocument.class).find().batchSize(5_000)) {
        BsonBinary keyId = keyIds.get(doc.getString(tenantField).getValue());
        for (FieldRule rule : plan) {
          BsonValue plain = valueAt(doc, rule.path());
          if (plain != null) {
            values.add(plain);
            keys.add(keyId);
            rules.add(rule);
          }
        }
        docs++;
      }
    }
    int n = values.size();
    AtomicInteger next = new AtomicInteger();
    AtomicReference<Throwable> failure = new AtomicReference<>();
    CountDownLatch ready = new CountDownLatch(threads);
    CountDownLatch go = new CountDownLatch(1);
    CountDownLatch done = new CountDownLatch(threads);
    List<ClientEncryption> encryptions = new ArrayList<>();
    int chunk = 256;
    for (int t = 0; t < threads; t++) {
      ClientEncryption encryption = clientEncryption(uri);
      encryptions.add(encryption);
      Thread thread = new Thread(() -> {
        try {
          // Warm-up, untimed: fetch and unwrap every tenant's DEK once and let the JIT compile the encrypt path.
          for (BsonBinary keyId : keyIds.values()) {
            for (FieldRule rule : plan) {
              encryption.encrypt(new org.bson.BsonString("warm-up"),
                  new EncryptOptions(rule.algorithm().driverName()).keyId(keyId));
            }
          }
          for (int i = 0; i < Math.min(n, 2_000); i++) {
            encryption.encrypt(values.get(i), new EncryptOptions(rules.get(i).algorithm().driverName())
                .keyId(keys.get(i)));
          }
          ready.countDown();
          go.await();
          int from;
          while ((from = next.getAndAdd(chunk)) < n) {
            int to = Math.min(n, from + chunk);
            for (int i = from; i < to; i++) {
              encryption.encrypt(values.get(i), new EncryptOptions(rules.get(i).algorithm().driverName())
                  .keyId(keys.get(i)));
            }
          }
        } catch (Throwable e) {
          failure.compareAndSet(null, e);
          ready.countDown();
        } finally {
          done.countDown();
        }
      }, "bench-crypto-" + t);
      thread.setDaemon(true);
      thread.start();
    }
    try {
      ready.await();
      long t0 = System.nanoTime();
      go.countDown();
      done.await();
      long nanos = System.nanoTime() - t0;
      if (failure.get() != null) {
        throw new IllegalStateException("crypto ceiling run failed", failure.get());
      }
      return new Measurement(label, docs, nanos, String.format(Locale.ROOT, "%,d encryptions, %,.0f/s, %d threads",
          n, n / (nanos / 1e9), threads));
    } finally {
      encryptions.forEach(ClientEncryption::close);
    }
  }

  private static <T> MongoCollection<T> collection(MongoClient client, Namespace ns, Class<T> type) {
    return client.getDatabase(ns.database()).getCollection(ns.collection(), type);
  }

  private static BsonValue valueAt(BsonDocument doc, String path) {
    int dot = path.indexOf('.');
    if (dot < 0) {
      return doc.get(path);
    }
    BsonValue inner = doc.get(path.substring(0, dot));
    return inner != null && inner.isDocument() ? valueAt(inner.asDocument(), path.substring(dot + 1)) : null;
  }

  private static void putAt(BsonDocument doc, String path, BsonValue value) {
    int dot = path.indexOf('.');
    if (dot < 0) {
      doc.put(path, value);
    } else {
      putAt(doc.getDocument(path.substring(0, dot)), path.substring(dot + 1), value);
    }
  }

  /** Prints a progress line every ten seconds, so a slow baseline is visibly alive. */
  private final class Reporter {
    private final String label;
    private final long t0 = System.nanoTime();
    private volatile long nextReport = t0 + 10_000_000_000L;

    Reporter(String label) {
      this.label = label;
    }

    void tick(long docs) {
      long now = System.nanoTime();
      if (now >= nextReport) {
        nextReport = now + 10_000_000_000L;
        progress.accept(String.format(Locale.ROOT, "  %s: %,d docs, %.0f docs/s so far", label, docs,
            docs / ((now - t0) / 1e9)));
      }
    }
  }
}
