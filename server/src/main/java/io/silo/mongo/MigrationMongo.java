package io.silo.mongo;

import com.mongodb.client.model.Filters;
import com.mongodb.reactivestreams.client.MongoClient;
import com.mongodb.reactivestreams.client.MongoCollection;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.bson.BsonDocument;
import org.bson.RawBsonDocument;

/**
 * MongoDB resources shared by every migration in the process: the reactive client for the data path, the
 * synchronous ClientEncryption used from the crypto pool, and the crypto pool itself (one thread per core by
 * default, so parallel encryption uses the machine without oversubscribing it).
 */
public final class MigrationMongo implements AutoCloseable {

  private final Vertx vertx;
  private final MongoClient client;
  private final java.util.function.Supplier<com.mongodb.client.vault.ClientEncryption> newEncryption;
  /**
   * One ClientEncryption per crypto thread: instances share no locks, and measured here a shared one across two
   * threads encrypted 15-20 % slower than one each. Each keeps its own DEK cache, bounded by keyExpiration.
   */
  private final java.util.List<com.mongodb.client.vault.ClientEncryption> perThread =
      new java.util.concurrent.CopyOnWriteArrayList<>();
  private final ThreadLocal<com.mongodb.client.vault.ClientEncryption> threadEncryption;
  private final ExecutorService crypto;
  private final int cryptoThreads;
  private final int batchesInFlight;
  private final MongoCopyPipeline.Observer observer;
  private final JavaEncryption fastPath;

  /** @param newEncryption makes a ClientEncryption (the caller's settings); one is made per crypto thread */
  public MigrationMongo(Vertx vertx, String uri,
                        java.util.function.Supplier<com.mongodb.client.vault.ClientEncryption> newEncryption,
                        int encryptThreads, int batchesInFlight, MongoCopyPipeline.Observer observer) {
    this(vertx, uri, newEncryption, encryptThreads, batchesInFlight, observer,
        new JavaEncryption(JavaEncryption.Path.LIBMONGOCRYPT, null));
  }

  /** @param fastPath which path encrypts values ({@code migration.encryptionPath}); closed with this object */
  public MigrationMongo(Vertx vertx, String uri,
                        java.util.function.Supplier<com.mongodb.client.vault.ClientEncryption> newEncryption,
                        int encryptThreads, int batchesInFlight, MongoCopyPipeline.Observer observer,
                        JavaEncryption fastPath) {
    this.fastPath = fastPath;
    org.slf4j.LoggerFactory.getLogger(MigrationMongo.class).info("migration.encryptionPath={}: values are encrypted"
        + " by {}", fastPath.path().settingValue(), switch (fastPath.path()) {
          case AUTO -> "JCE for data keys under local providers, libmongocrypt for the others";
          case JAVA -> "JCE only (local providers)";
          case LIBMONGOCRYPT -> "libmongocrypt";
        });
    this.vertx = vertx;
    this.client = MongoClientFactory.reactive(uri);
    this.newEncryption = newEncryption;
    this.threadEncryption = ThreadLocal.withInitial(() -> {
      com.mongodb.client.vault.ClientEncryption made = this.newEncryption.get();
      perThread.add(made);
      return made;
    });
    this.cryptoThreads = encryptThreads > 0 ? encryptThreads : Runtime.getRuntime().availableProcessors();
    AtomicInteger n = new AtomicInteger();
    this.crypto = Executors.newFixedThreadPool(cryptoThreads, r -> {
      Thread t = new Thread(r, "silo-crypto-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    this.batchesInFlight = batchesInFlight;
    this.observer = observer;
  }

  /** How values are encrypted ({@code migration.encryptionPath}), e.g. to say which path a run takes. */
  public JavaEncryption encryptionPaths() {
    return fastPath;
  }

  public ExecutorService cryptoPool() {
    return crypto;
  }

  /**
   * Index on (tenant field, _id) in the target: verify, rollback and per-tenant reads filter by tenant and walk
   * _id order. The source is not touched (no index is created there); see the README for the index to add.
   */
  public Future<Void> prepareTarget(EncryptionPlan plan) {
    return Reactive.single(vertx.getOrCreateContext(), collection(plan.target(), BsonDocument.class)
        .createIndex(com.mongodb.client.model.Indexes.ascending(plan.tenantField(), "_id"),
            new com.mongodb.client.model.IndexOptions().name("silo_tenant_id"))).mapEmpty();
  }

  public Future<Long> countSource(EncryptionPlan plan, String tenant) {
    return Reactive.single(vertx.getOrCreateContext(), collection(plan.source(), BsonDocument.class)
        .countDocuments(Filters.eq(plan.tenantField(), tenant)));
  }

  /**
   * Top-level field names that the plan does not cover, seen in up to {@code limit} of the tenant's source documents
   * (a sample: plans must stay cheap on large collections).
   */
  public Future<java.util.SortedSet<String>> unplannedFieldNames(EncryptionPlan plan, String tenant, int limit) {
    java.util.Set<String> covered = plan.coveredTopLevel();
    return Reactive.collect(vertx.getOrCreateContext(), collection(plan.source(), BsonDocument.class)
        .find(Filters.eq(plan.tenantField(), tenant)).limit(limit)).map(docs -> {
          java.util.SortedSet<String> names = new java.util.TreeSet<>();
          docs.forEach(d -> d.keySet().stream().filter(n -> !covered.contains(n)).forEach(names::add));
          return names;
        });
  }

  /** Deletes the tenant's documents from a namespace; returns how many went. */
  public Future<Long> deleteTenant(EncryptionPlan.Namespace namespace, String tenantField, String tenant) {
    return Reactive.single(vertx.getOrCreateContext(), collection(namespace, BsonDocument.class)
        .deleteMany(Filters.eq(tenantField, tenant))).map(r -> r.getDeletedCount());
  }

  public MongoCopyPipeline pipeline(EncryptionPlan plan, Context context, Supplier<Future<Void>> kmsPermit,
                                    Runnable onThrottled, Runnable onSuccess) {
    return new MongoCopyPipeline(context, collection(plan.source(), RawBsonDocument.class),
        collection(plan.target(), RawBsonDocument.class), crypto, cryptoThreads,
        new DocumentEncryptor(plan, threadEncryption::get, fastPath), kmsPermit, plan, batchesInFlight, observer)
        .kmsFeedback(onThrottled, onSuccess);
  }

  private <T> MongoCollection<T> collection(EncryptionPlan.Namespace ns, Class<T> type) {
    return client.getDatabase(ns.database()).getCollection(ns.collection(), type);
  }

  @Override
  public void close() {
    crypto.shutdownNow();
    perThread.forEach(com.mongodb.client.vault.ClientEncryption::close);
    fastPath.close();
    client.close();
  }
}
