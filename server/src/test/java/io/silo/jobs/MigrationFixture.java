package io.silo.jobs;

import com.mongodb.client.MongoClient;
import com.mongodb.client.MongoCollection;
import com.mongodb.client.model.Filters;
import io.grpc.Channel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.silo.TestServer;
import io.silo.api.v1.GetMigrationRequest;
import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationPhase;
import io.silo.api.v1.MigrationServiceGrpc;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.PhaseProgress;
import io.silo.api.v1.RegisterTenantRequest;
import io.silo.api.v1.TenantServiceGrpc;
import io.silo.mongo.MongoClientFactory;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;
import org.bson.BsonDocument;
import org.bson.BsonInt32;
import org.bson.BsonString;
import org.bson.BsonValue;
import org.bson.RawBsonDocument;

/** Shared set-up of migration tests: tenants, plaintext patients in legacy.patients, and polling helpers. */
public final class MigrationFixture {

  static final Set<MigrationState> FINAL = Set.of(MigrationState.MIGRATION_STATE_COMPLETED,
      MigrationState.MIGRATION_STATE_VERIFY_FAILED,
      MigrationState.MIGRATION_STATE_FAILED, MigrationState.MIGRATION_STATE_CANCELLED,
      MigrationState.MIGRATION_STATE_ROLLED_BACK);

  private MigrationFixture() {
  }

  public static void registerTenants(TestServer server, String... slugs) {
    for (String slug : slugs) {
      TenantServiceGrpc.newBlockingStub(server.channel).withDeadlineAfter(30, TimeUnit.SECONDS).registerTenant(
          RegisterTenantRequest.newBuilder().setSlug(slug).setDisplayName(slug.toUpperCase(Locale.ROOT)).build());
    }
  }

  /** The plaintext patient number {@code i} of a tenant; _ids are strings so tests can name them. */
  public static BsonDocument patient(String tenant, int i) {
    return new BsonDocument("_id", new BsonString(String.format(Locale.ROOT, "%s-%06d", tenant, i)))
        .append("tenantId", new BsonString(tenant))
        .append("name", new BsonString("Patient " + tenant + " " + i))
        .append("ssn", new BsonString(String.format(Locale.ROOT, "%03d-%02d-%04d", 100 + i % 500, 10 + i % 80, i % 10000)))
        .append("diagnosis", new BsonString("diagnosis-" + (i % 17)))
        .append("visits", new BsonInt32(i % 9))
        .append("notes", new BsonString("note " + i));
  }

  /** Inserts {@code count} patients of each tenant in batches. */
  public static void seed(MongoClient mongo, String namespace, int count, String... tenants) {
    MongoCollection<BsonDocument> legacy = collection(mongo, namespace);
    for (String tenant : tenants) {
      List<BsonDocument> batch = new ArrayList<>();
      for (int i = 0; i < count; i++) {
        batch.add(patient(tenant, i));
        if (batch.size() == 1000) {
          legacy.insertMany(batch);
          batch = new ArrayList<>();
        }
      }
      if (!batch.isEmpty()) {
        legacy.insertMany(batch);
      }
    }
  }

  public static MongoCollection<BsonDocument> collection(MongoClient mongo, String namespace) {
    String[] ns = namespace.split("\\.", 2);
    return mongo.getDatabase(ns[0]).getCollection(ns[1], BsonDocument.class);
  }

  public static long count(MongoClient mongo, String namespace, String tenant) {
    return collection(mongo, namespace).countDocuments(Filters.eq("tenantId", tenant));
  }

  public static MongoClient plainClient(TestServer server) {
    return MongoClientFactory.sync(server.mongo.connectionString());
  }

  /** Polls until the migration is in a final state (or the state asked for). */
  public static Migration await(TestServer server, String id, Duration timeout, Set<MigrationState> states)
      throws InterruptedException {
    MigrationServiceGrpc.MigrationServiceBlockingStub stub = MigrationServiceGrpc.newBlockingStub(server.channel);
    long deadline = System.nanoTime() + timeout.toNanos();
    Migration m;
    do {
      m = stub.withDeadlineAfter(30, TimeUnit.SECONDS)
          .getMigration(GetMigrationRequest.newBuilder().setMigrationId(id).build()).getMigration();
      if (states.contains(m.getState())) {
        return m;
      }
      Thread.sleep(50);
    } while (System.nanoTime() < deadline);
    throw new AssertionError("migration " + id + " did not reach " + states + " in " + timeout + "; it is " + m);
  }

  /** Polls GetMigration over {@code channel} until {@code condition} holds; for servers in another process. */
  public static Migration await(Channel channel, String id, Duration timeout, Predicate<Migration> condition,
                                String what) throws InterruptedException {
    MigrationServiceGrpc.MigrationServiceBlockingStub stub = MigrationServiceGrpc.newBlockingStub(channel);
    long deadline = System.nanoTime() + timeout.toNanos();
    Migration m = null;
    do {
      m = stub.withDeadlineAfter(30, TimeUnit.SECONDS)
          .getMigration(GetMigrationRequest.newBuilder().setMigrationId(id).build()).getMigration();
      if (condition.test(m)) {
        return m;
      }
      Thread.sleep(20);
    } while (System.nanoTime() < deadline);
    throw new AssertionError("migration " + id + " did not reach " + what + " in " + timeout + "; it is " + m);
  }

  /** The MONGO phase's progress of a migration. */
  public static PhaseProgress mongoProgress(Migration m) {
    return m.getProgressList().stream().filter(p -> p.getPhase() == MigrationPhase.MIGRATION_PHASE_MONGO)
        .findFirst().orElse(PhaseProgress.getDefaultInstance());
  }

  public static Migration awaitFinal(TestServer server, String id) throws InterruptedException {
    return await(server, id, Duration.ofSeconds(120), FINAL);
  }

  /** A stream observer that records everything, for watch tests. */
  public static final class Recorder<T> implements StreamObserver<T> {
    public final List<T> items = java.util.Collections.synchronizedList(new ArrayList<>());
    public final java.util.concurrent.CompletableFuture<Throwable> done = new java.util.concurrent.CompletableFuture<>();

    @Override
    public void onNext(T value) {
      items.add(value);
    }

    @Override
    public void onError(Throwable t) {
      done.complete(t);
    }

    @Override
    public void onCompleted() {
      done.complete(null);
    }
  }

  /** Runs a call that must fail and returns its status, so tests can assert the code and the field it names. */
  public static Status statusOf(Runnable call) {
    try {
      call.run();
    } catch (StatusRuntimeException e) {
      return e.getStatus();
    }
    throw new AssertionError("the call succeeded but was expected to fail");
  }

  /** Polls a condition every 50 ms; fails with {@code what} when it does not hold within {@code timeout}. */
  public static void awaitTrue(Duration timeout, String what, BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("not within " + timeout + ": " + what);
      }
      Thread.sleep(50);
    }
  }

  /** Polls until the MONGO phase has done at least {@code done} documents, and returns that snapshot. */
  public static Migration awaitDone(TestServer server, String id, long done) throws InterruptedException {
    MigrationServiceGrpc.MigrationServiceBlockingStub stub = MigrationServiceGrpc.newBlockingStub(server.channel);
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (true) {
      Migration m = stub.withDeadlineAfter(30, TimeUnit.SECONDS)
          .getMigration(GetMigrationRequest.newBuilder().setMigrationId(id).build()).getMigration();
      if (mongoProgress(m).getDone() >= done || FINAL.contains(m.getState())) {
        return m;
      }
      if (System.nanoTime() > deadline) {
        throw new AssertionError("migration " + id + " did not reach " + done + " documents; it is " + m);
      }
      Thread.sleep(20);
    }
  }

  /** Every document of a tenant in a namespace, as raw BSON bytes by _id, for byte-for-byte comparisons. */
  public static Map<BsonValue, ByteBuffer> rawDocuments(MongoClient mongo, String namespace, String tenant) {
    String[] ns = namespace.split("\\.", 2);
    Map<BsonValue, ByteBuffer> out = new TreeMap<>(Comparator.comparing(Object::toString));
    mongo.getDatabase(ns[0]).getCollection(ns[1], RawBsonDocument.class).find(Filters.eq("tenantId", tenant))
        .forEach(d -> out.put(d.get("_id"), d.getByteBuffer().asNIO()));
    return out;
  }

  /** The number of rows of silo.migrations of a tenant. */
  public static long migrationRows(TestServer server, String tenant) throws Exception {
    return ((Number) server.queryOne("SELECT count(*) FROM silo.migrations WHERE tenant_slug = '" + tenant + "'"))
        .longValue();
  }

  /** The value of a counter of this server's registry, 0 when it was never registered. */
  public static double counter(TestServer server, String name, String... tags) {
    var counter = server.server.metrics().find(name).tags(tags).counter();
    return counter == null ? 0 : counter.count();
  }

  /** The value of a gauge of this server's registry. */
  public static double gauge(TestServer server, String name, String... tags) {
    return server.server.metrics().get(name).tags(tags).gauge().value();
  }
}
