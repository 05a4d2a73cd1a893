package io.silo.jobs;

import static io.silo.jobs.MigrationFixture.mongoProgress;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Duration;
import com.mongodb.client.MongoClient;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.silo.SiloProcess;
import io.silo.TestPostgres;
import io.silo.TestServer;
import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationEvent;
import io.silo.api.v1.MigrationServiceGrpc;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.RegisterTenantRequest;
import io.silo.api.v1.StartMigrationRequest;
import io.silo.api.v1.TenantServiceGrpc;
import io.silo.api.v1.WatchMigrationRequest;
import io.silo.api.v1.WatchMigrationResponse;
import io.silo.dev.mongo.DevMongoServer;
import io.silo.mongo.MongoClientFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * A WatchMigration client that never reads stays open through a 100,000-document migration. The server runs as its
 * own JVM so its heap can be measured without the test's MongoDB in it.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class StalledWatcherTest {

  private static final List<String> TENANTS = List.of("north", "south");
  private static final int PER_TENANT = 50_000;
  /** HTTP/2 stream window of the stalled clients: the most the server can push at them before it must hold back. */
  private static final int STALLED_WINDOW = 4096;
  /**
   * Events a stalled watcher may be owed: its window's worth (~20 events of ~200 bytes), Vert.x's per-stream write
   * queue (16) and one pending snapshot per migration, with room to spare; the migration publishes over 200.
   */
  private static final int MAX_HELD_EVENTS = 64;
  /** Heap growth allowed over the migration; the documents copied are several times this. */
  private static final long MAX_HEAP_GROWTH = 16L * 1024 * 1024;
  private static final WatchMigrationRequest WATCH_ALL = WatchMigrationRequest.newBuilder().setAll(true)
      .setMinInterval(Duration.newBuilder().setSeconds(0)).build();

  private DevMongoServer mongoServer;
  private MongoClient mongo;
  private SiloProcess silo;
  private final List<AutoCloseable> closeLast = new ArrayList<>();

  @BeforeAll
  void start() throws Exception {
    mongoServer = DevMongoServer.start(null, "127.0.0.1", 0);
    mongo = MongoClientFactory.sync(mongoServer.connectionString());
    MigrationFixture.seed(mongo, "legacy.patients", PER_TENANT, TENANTS.toArray(new String[0]));
    Map<String, Object> settings = new LinkedHashMap<>(TestPostgres.freshDatabase());
    settings.put("mongo.uri", mongoServer.connectionString());
    settings.put("kms.local.keyBase64", TestServer.LOCAL_KEY_BASE64);
    settings.put("grpc.host", "127.0.0.1");
    settings.put("grpc.port", 0);
    settings.put("jobs.pollMillis", 100);
    settings.put("log.format", "text");
    // 200 checkpoints, each one a progress event, so what a stalled watcher is owed is far less than what happened.
    settings.put("migration.batchSize", 500);
    // The point is the copy under a stalled watcher; the dev MongoDB makes a 100k-document verify take minutes.
    settings.put("migration.verifyAfterCopy", false);
    // A hard ceiling too: a server that buffered the migration for its watchers would die here, not just grow.
    silo = SiloProcess.start("stalled-watcher", settings, Path.of("target", "stalled-watcher-test", "silo.log")
        .toAbsolutePath(), "-Xmx256m");
    TenantServiceGrpc.TenantServiceBlockingStub tenants = TenantServiceGrpc.newBlockingStub(silo.channel);
    for (String tenant : TENANTS) {
      tenants.withDeadlineAfter(30, TimeUnit.SECONDS).registerTenant(
          RegisterTenantRequest.newBuilder().setSlug(tenant).setDisplayName(tenant).build());
    }
  }

  @AfterAll
  void stop() throws Exception {
    for (AutoCloseable c : closeLast) {
      c.close();
    }
    if (silo != null) {
      silo.close();
    }
    if (mongo != null) {
      mongo.close();
    }
    if (mongoServer != null) {
      mongoServer.close();
    }
  }

  @Test
  void stalledWatcherCostsTheServerBoundedMemoryAndTheMigrationCompletesWhileItIsOpen() throws Throwable {
    try {
      run();
    } catch (Throwable failure) {
      silo.printTail();
      throw failure;
    }
  }

  private void run() throws Exception {
    // Two watchers that never read: one is cancelled while still stalled, the other reads once everything is over,
    // which shows what the server had kept for it.
    StalledWatcher stalled = new StalledWatcher(silo.port);
    StalledWatcher measured = new StalledWatcher(silo.port);
    MigrationFixture.Recorder<WatchMigrationResponse> reader = new MigrationFixture.Recorder<>();
    Context.CancellableContext readerContext = Context.current().withCancellation();
    closeLast.add(stalled);
    closeLast.add(measured);
    closeLast.add(() -> readerContext.cancel(null));
    readerContext.run(() -> MigrationServiceGrpc.newStub(silo.channel).watchMigration(WATCH_ALL, reader));
    awaitTrue(() -> watchers() == 3, "three open watchers");
    long heapBefore = silo.heapUsedAfterGc();

    long t0 = System.nanoTime();
    List<String> ids = new ArrayList<>();
    MigrationServiceGrpc.newBlockingStub(silo.channel).withDeadlineAfter(60, TimeUnit.SECONDS)
        .startMigration(StartMigrationRequest.newBuilder().addAllTenants(TENANTS).build())
        .getMigrationsList().forEach(m -> ids.add(m.getId()));
    for (String id : ids) {
      Migration done = MigrationFixture.await(silo.channel, id, java.time.Duration.ofSeconds(240),
          m -> MigrationFixture.FINAL.contains(m.getState()), "a final state");
      assertThat(done.getState()).as(done.getLastError()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
      assertThat(mongoProgress(done).getDone()).isEqualTo(PER_TENANT);
    }
    long migratedAfter = System.nanoTime();
    assertThat(MigrationFixture.count(mongo, "medical.patients", TENANTS.get(0))
        + MigrationFixture.count(mongo, "medical.patients", TENANTS.get(1))).isEqualTo(100_000);

    // The stalled watchers were open the whole time, received nothing, and the server still serves them.
    assertThat(stalled.closed).as("the stalled watcher's call").isNotDone();
    assertThat(measured.closed).as("the second stalled watcher's call").isNotDone();
    assertThat(stalled.events).isEmpty();
    assertThat(watchers()).as("silo_watchers_active after the migration").isEqualTo(3);

    // A watcher that reads saw both migrations to the end.
    awaitTrue(() -> finalEvents(reader.items.stream().map(WatchMigrationResponse::getEvent).toList()).size() == 2,
        "the reading watcher's final events");
    List<MigrationEvent> finals = finalEvents(reader.items.stream().map(WatchMigrationResponse::getEvent).toList());
    assertThat(finals).allSatisfy(e -> {
      assertThat(e.getMigration().getState()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
      assertThat(mongoProgress(e.getMigration()).getDone()).isEqualTo(PER_TENANT);
    });

    // Heap after a full GC, before and after: the documents that went through must not have stayed behind, for the
    // stalled watchers or anyone else. (Netty keeps unsent frames off-heap, so the event count below is the sharper
    // check of what the watcher itself costs.)
    long heapAfter = silo.heapUsedAfterGc();
    long bytesCopied = finals.stream().mapToLong(e -> mongoProgress(e.getMigration()).getBytes()).sum();
    System.out.printf("heap after GC: %.1f MB before, %.1f MB after copying %.1f MB with the stalled watchers open%n",
        heapBefore / 1e6, heapAfter / 1e6, bytesCopied / 1e6);
    assertThat(heapAfter - heapBefore).as("heap growth after GC, with %d bytes copied", bytesCopied)
        .isLessThan(MAX_HEAP_GROWTH);

    // What the server held for a watcher that read nothing: once it reads, it gets exactly that. It is bounded by
    // the stream window (~17 events), Vert.x's per-stream write queue (16 messages) and one pending snapshot per
    // migration, whatever the migration's length; everything else was coalesced into the newest snapshot.
    measured.startReading();
    awaitTrue(() -> finalEvents(measured.snapshot()).size() == 2, "the late reader's final events");
    List<MigrationEvent> late = measured.snapshot();
    long coalesced = late.stream().mapToLong(MigrationEvent::getCoalesced).sum();
    System.out.printf("the reading watcher got %d events; the stalled one got %d once it read (%d coalesced)%n",
        reader.items.size(), late.size(), coalesced);
    assertThat(reader.items.size()).as("events published (what the reading watcher got)")
        .isGreaterThan(2 * MAX_HELD_EVENTS);
    assertThat(late.size()).as("events the server held for the stalled watcher").isLessThanOrEqualTo(MAX_HELD_EVENTS);
    assertThat(coalesced).as("snapshots coalesced for the stalled watcher").isPositive();
    assertThat(finalEvents(late)).allSatisfy(e -> {
      assertThat(e.getMigration().getState()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
      assertThat(mongoProgress(e.getMigration()).getDone()).isEqualTo(PER_TENANT);
    });
    System.out.printf("the migration of %d documents took %d s%n", PER_TENANT * TENANTS.size(),
        TimeUnit.NANOSECONDS.toSeconds(migratedAfter - t0));

    // Cancelling a stalled call releases its subscription, and the others' likewise.
    stalled.cancel();
    awaitTrue(() -> watchers() == 2, "the stalled watcher to be dropped");
    assertThat(stalled.closed.get(10, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.CANCELLED);
    measured.cancel();
    readerContext.cancel(null);
    awaitTrue(() -> watchers() == 0, "every watcher to be dropped");
  }

  private double watchers() throws Exception {
    return silo.gauge("silo_watchers_active");
  }

  /** The final event of each migration among {@code events}. */
  private static List<MigrationEvent> finalEvents(List<MigrationEvent> events) {
    return events.stream().filter(MigrationEvent::getFinal).toList();
  }

  private interface Check {
    boolean holds() throws Exception;
  }

  private void awaitTrue(Check check, String what) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (!check.holds()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out waiting for " + what + " (silo_watchers_active " + watchers() + ")");
      }
      Thread.sleep(50);
    }
  }

  /**
   * A WatchMigration call that consumes nothing until {@link #startReading()}: it never calls request(n), so
   * grpc-java neither delivers a message nor returns flow-control credit, and its own channel has a small stream
   * window, so the server can put at most {@link #STALLED_WINDOW} bytes on the wire for it before it has to hold
   * back.
   */
  private static final class StalledWatcher implements AutoCloseable {
    final ManagedChannel channel;
    final ClientCall<WatchMigrationRequest, WatchMigrationResponse> call;
    final List<MigrationEvent> events = Collections.synchronizedList(new ArrayList<>());
    final CompletableFuture<Status> closed = new CompletableFuture<>();

    StalledWatcher(int port) {
      // flowControlWindow also turns off grpc-java's automatic window growth, so the window stays this small.
      channel = NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().flowControlWindow(STALLED_WINDOW)
          .build();
      call = channel.newCall(MigrationServiceGrpc.getWatchMigrationMethod(), CallOptions.DEFAULT);
      call.start(new ClientCall.Listener<>() {
        @Override
        public void onMessage(WatchMigrationResponse message) {
          events.add(message.getEvent());
        }

        @Override
        public void onClose(Status status, Metadata trailers) {
          closed.complete(status);
        }
      }, new Metadata());
      call.sendMessage(WATCH_ALL);
      call.halfClose();
    }

    void startReading() {
      call.request(Integer.MAX_VALUE);
    }

    List<MigrationEvent> snapshot() {
      synchronized (events) {
        return List.copyOf(events);
      }
    }

    void cancel() {
      call.cancel("the test is done with this watcher", null);
    }

    @Override
    public void close() throws Exception {
      cancel();
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }
}
