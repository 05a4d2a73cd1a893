package io.silo.jobs;

import static io.silo.jobs.MigrationFixture.awaitFinal;
import static io.silo.jobs.MigrationFixture.awaitTrue;
import static io.silo.jobs.MigrationFixture.gauge;
import static io.silo.jobs.MigrationFixture.mongoProgress;
import static io.silo.jobs.MigrationFixture.statusOf;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Duration;
import com.mongodb.client.MongoClient;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.silo.TestServer;
import io.silo.api.v1.CancelMigrationRequest;
import io.silo.api.v1.GetMigrationRequest;
import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationEvent;
import io.silo.api.v1.MigrationServiceGrpc;
import io.silo.api.v1.MigrationServiceGrpcClient;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.StartMigrationRequest;
import io.silo.api.v1.WatchMigrationRequest;
import io.silo.api.v1.WatchMigrationResponse;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientOptions;
import io.vertx.grpc.common.GrpcStatus;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * WatchMigration through a real client: snapshots, progress and final events, late joiners, selectors, many
 * watchers, client cancels and deadlines. Runs are held to about 200 documents a second (one KMS permit per batch
 * of 10), so a run of 600 documents lasts about three seconds.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MigrationWatchTest {

  private static final String WATCHERS = "silo.watchers.active";

  @TempDir
  static Path keyDir;

  private TestServer server;
  private MongoClient mongo;
  /** Every event any test received, checked for plaintext after each test. */
  private final List<MigrationEvent> seen = new CopyOnWriteArrayList<>();
  private final List<Context.CancellableContext> open = new CopyOnWriteArrayList<>();
  /** Seeded SSNs look like 123-45-6789 and names start with "Patient "; neither may reach a watcher. */
  private static final Pattern PLAINTEXT = Pattern.compile("\\d{3}-\\d{2}-\\d{4}|Patient ");

  @BeforeAll
  void start() throws Exception {
    server = TestServer.startWithMongo(Map.of("migration.batchSize", 10, "migration.batchesInFlight", 1,
        "jobs.pollMillis", 100, "kms.budget.ratePerSecond", 20), keyDir);
    mongo = MigrationFixture.plainClient(server);
    Map<String, Integer> tenants = Map.of("watch-a", 600, "watch-late", 20, "watch-t1", 200, "watch-t2", 200,
        "watch-many", 300, "watch-cancel", 600, "watch-deadline", 1000, "watch-slow", 600, "watch-idle", 0);
    MigrationFixture.registerTenants(server, tenants.keySet().toArray(new String[0]));
    tenants.forEach((tenant, n) -> MigrationFixture.seed(mongo, "legacy.patients", n, tenant));
  }

  @AfterEach
  void closeWatchersAndCheckForPlaintext() {
    open.forEach(c -> c.cancel(null));
    open.clear();
    for (MigrationEvent e : seen) {
      String text = e.toString() + "\n" + new String(e.toByteArray(), StandardCharsets.ISO_8859_1);
      assertThat(PLAINTEXT.matcher(text).find()).as("plaintext in %s", e).isFalse();
    }
    seen.clear();
  }

  @AfterAll
  void stop() throws Exception {
    if (mongo != null) {
      mongo.close();
    }
    if (server != null) {
      server.close();
    }
  }

  private MigrationServiceGrpc.MigrationServiceBlockingStub api() {
    return MigrationServiceGrpc.newBlockingStub(server.channel).withDeadlineAfter(30, TimeUnit.SECONDS);
  }

  private String start(String tenant) {
    return api().startMigration(StartMigrationRequest.newBuilder().addTenants(tenant).build()).getMigrations(0)
        .getId();
  }

  private Migration get(String id) {
    return api().getMigration(GetMigrationRequest.newBuilder().setMigrationId(id).build()).getMigration();
  }

  private double watchers() {
    return gauge(server, WATCHERS);
  }

  /** Opens a watch in its own cancellable context; events are recorded and also kept for the plaintext check. */
  private Watcher watch(WatchMigrationRequest request, MigrationServiceGrpc.MigrationServiceStub stub) {
    Watcher w = new Watcher();
    Context.CancellableContext context = Context.current().withCancellation();
    open.add(context);
    w.context = context;
    context.run(() -> stub.watchMigration(request, w));
    return w;
  }

  private Watcher watch(WatchMigrationRequest request) {
    return watch(request, MigrationServiceGrpc.newStub(server.channel));
  }

  private static WatchMigrationRequest byId(String id, long intervalMillis) {
    return WatchMigrationRequest.newBuilder().setMigrationId(id)
        .setMinInterval(Duration.newBuilder().setNanos((int) (intervalMillis % 1000) * 1_000_000)
            .setSeconds(intervalMillis / 1000)).build();
  }

  /** A recording observer that also feeds the plaintext check. */
  private final class Watcher implements StreamObserver<WatchMigrationResponse> {
    final List<WatchMigrationResponse> items = new CopyOnWriteArrayList<>();
    final CompletableFuture<Throwable> done = new CompletableFuture<>();
    Context.CancellableContext context;

    @Override
    public void onNext(WatchMigrationResponse value) {
      seen.add(value.getEvent());
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

    List<MigrationEvent> events() {
      return items.stream().map(WatchMigrationResponse::getEvent).toList();
    }

    boolean hasFinal(String id) {
      return events().stream().anyMatch(e -> e.getFinal() && e.getMigration().getId().equals(id));
    }

    Throwable end(long seconds) throws Exception {
      return done.get(seconds, TimeUnit.SECONDS);
    }
  }

  @Test
  void aWatcherByIdGetsASnapshotAtOnceThenProgressThenAFinalEventThatEndsTheStream() throws Exception {
    double before = watchers();
    String id = start("watch-a");
    Watcher w = watch(byId(id, 100));
    // At once: long before the three-second run could produce its final event.
    awaitTrue(java.time.Duration.ofSeconds(5), "the first snapshot", () -> !w.items.isEmpty());
    assertThat(w.events().get(0).getFinal()).isFalse();

    assertThat(w.end(60)).as("the stream ends normally").isNull();
    List<MigrationEvent> events = w.events();
    assertThat(events).allSatisfy(e -> assertThat(e.getMigration().getId()).isEqualTo(id));
    MigrationEvent last = events.get(events.size() - 1);
    assertThat(last.getFinal()).isTrue();
    assertThat(last.getMigration().getState()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
    assertThat(mongoProgress(last.getMigration()).getDone()).isEqualTo(600);
    assertThat(events.subList(0, events.size() - 1)).noneMatch(MigrationEvent::getFinal);
    List<Long> done = events.stream().map(e -> mongoProgress(e.getMigration()).getDone()).toList();
    assertThat(done).isSorted();
    assertThat(done.stream().distinct().count()).as("distinct progress counts in %s", done).isGreaterThan(5);
    assertThat(events).anySatisfy(e -> assertThat(e.getRatePerSecond()).isPositive());
    awaitTrue(java.time.Duration.ofSeconds(5), "the watcher is removed", () -> watchers() == before);
  }

  @Test
  void aWatcherThatJoinsAfterCompletionGetsTheFinalSnapshotAndTheStreamEnds() throws Exception {
    String id = start("watch-late");
    assertThat(awaitFinal(server, id).getState()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
    double before = watchers();

    Watcher w = watch(byId(id, 0));
    assertThat(w.end(5)).isNull();
    assertThat(w.events()).hasSize(1);
    MigrationEvent only = w.events().get(0);
    assertThat(only.getFinal()).isTrue();
    assertThat(only.getMigration().getState()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
    assertThat(mongoProgress(only.getMigration()).getDone()).isEqualTo(20);

    // A tenant watcher joining late also sees where the tenant stands, then waits for more.
    Watcher tenant = watch(WatchMigrationRequest.newBuilder().setTenant("watch-late").build());
    awaitTrue(java.time.Duration.ofSeconds(5), "the tenant's latest snapshot", () -> tenant.items.size() == 1);
    assertThat(tenant.events().get(0).getMigration().getId()).isEqualTo(id);
    assertThat(tenant.done).isNotDone();
    tenant.context.cancel(null);
    awaitTrue(java.time.Duration.ofSeconds(5), "watchers are removed", () -> watchers() == before);
  }

  @Test
  void tenantAndAllWatchersReceiveOnlyTheirMigrations() throws Exception {
    double before = watchers();
    Watcher t1 = watch(WatchMigrationRequest.newBuilder().setTenant("watch-t1").build());
    Watcher t2 = watch(WatchMigrationRequest.newBuilder().setTenant("watch-t2").build());
    Watcher all = watch(WatchMigrationRequest.newBuilder().setAll(true).build());
    awaitTrue(java.time.Duration.ofSeconds(5), "three watchers subscribed", () -> watchers() == before + 3);

    String id1 = start("watch-t1");
    String id2 = start("watch-t2");
    awaitTrue(java.time.Duration.ofSeconds(60), "final events for both",
        () -> t1.hasFinal(id1) && t2.hasFinal(id2) && all.hasFinal(id1) && all.hasFinal(id2));
    assertThat(t1.events()).extracting(e -> e.getMigration().getId()).containsOnly(id1);
    assertThat(t2.events()).extracting(e -> e.getMigration().getId()).containsOnly(id2);
    assertThat(all.events()).extracting(e -> e.getMigration().getId()).contains(id1, id2);
    for (Watcher w : List.of(t1, t2, all)) {
      Map<String, List<Long>> done = w.events().stream().collect(Collectors.groupingBy(e -> e.getMigration().getId(),
          Collectors.mapping(e -> mongoProgress(e.getMigration()).getDone(), Collectors.toList())));
      done.values().forEach(counts -> assertThat(counts).isSorted());
      // Tenant and all watchers follow future migrations too, so their streams stay open.
      assertThat(w.done).isNotDone();
    }
  }

  @Test
  void twentyWatchersOfOneMigrationAllReceiveTheFinalEvent() throws Exception {
    double before = watchers();
    String id = start("watch-many");
    MigrationServiceGrpc.MigrationServiceStub stub = MigrationServiceGrpc.newStub(server.channel);
    List<Watcher> many = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      many.add(watch(byId(id, 50), stub));
    }
    for (Watcher w : many) {
      assertThat(w.end(60)).isNull();
      List<MigrationEvent> events = w.events();
      MigrationEvent last = events.get(events.size() - 1);
      assertThat(last.getFinal()).isTrue();
      assertThat(last.getMigration().getState()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
      assertThat(mongoProgress(last.getMigration()).getDone()).isEqualTo(300);
    }
    awaitTrue(java.time.Duration.ofSeconds(5), "all twenty watchers are removed", () -> watchers() == before);
  }

  @Test
  void aClientCancelRemovesTheWatcher() throws Exception {
    double before = watchers();
    String id = start("watch-cancel");
    Watcher byId = watch(byId(id, 100));
    Watcher idle = watch(WatchMigrationRequest.newBuilder().setTenant("watch-idle").build());
    awaitTrue(java.time.Duration.ofSeconds(5), "two watchers subscribed", () -> watchers() == before + 2);
    awaitTrue(java.time.Duration.ofSeconds(5), "a first event", () -> !byId.items.isEmpty());

    byId.context.cancel(null);
    idle.context.cancel(null);
    assertThat(Status.fromThrowable(byId.end(5)).getCode()).isEqualTo(Status.Code.CANCELLED);
    awaitTrue(java.time.Duration.ofSeconds(5), "cancelled watchers are removed", () -> watchers() == before);
    // Removed by the cancel, not by the end of the migration.
    assertThat(get(id).getState()).isIn(MigrationState.MIGRATION_STATE_PLANNED, MigrationState.MIGRATION_STATE_RUNNING);
    api().cancelMigration(CancelMigrationRequest.newBuilder().setMigrationId(id).build());
  }

  @Test
  void aDeadlineShorterThanTheMigrationEndsTheCallAndRemovesTheWatcher() throws Exception {
    double before = watchers();
    String id = start("watch-deadline");
    Watcher w = watch(byId(id, 100), MigrationServiceGrpc.newStub(server.channel)
        .withDeadlineAfter(1, TimeUnit.SECONDS));
    Throwable end = w.end(10);
    assertThat(Status.fromThrowable(end).getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
    assertThat(w.events()).isNotEmpty().noneMatch(MigrationEvent::getFinal);
    awaitTrue(java.time.Duration.ofSeconds(5), "the expired watcher is removed", () -> watchers() == before);
    assertThat(get(id).getState()).isIn(MigrationState.MIGRATION_STATE_PLANNED, MigrationState.MIGRATION_STATE_RUNNING);
    api().cancelMigration(CancelMigrationRequest.newBuilder().setMigrationId(id).build());
  }

  @Test
  void theServerEndsAnExpiredWatchItselfWhenTheClientDoesNotEnforceItsDeadline() throws Exception {
    // Browsers and some proxies only send grpc-timeout; the server's own deadline must then end the call and
    // drop the watcher, or an idle tenant watcher stays subscribed forever.
    double before = watchers();
    GrpcClient client = GrpcClient.client(server.vertx, new GrpcClientOptions().setScheduleDeadlineAutomatically(false),
        new HttpClientOptions().setProtocolVersion(HttpVersion.HTTP_2).setHttp2ClearTextUpgrade(false));
    try {
      CompletableFuture<GrpcStatus> status = new CompletableFuture<>();
      client.request(SocketAddress.inetSocketAddress(server.server.port(), "127.0.0.1"),
              MigrationServiceGrpcClient.WatchMigration)
          .compose(request -> {
            request.timeout(1, TimeUnit.SECONDS);
            request.end(WatchMigrationRequest.newBuilder().setTenant("watch-idle").build());
            return request.response();
          })
          .onSuccess(response -> response.handler(event -> seen.add(event.getEvent()))
              .endHandler(v -> status.complete(response.status()))
              .exceptionHandler(status::completeExceptionally))
          .onFailure(status::completeExceptionally);
      awaitTrue(java.time.Duration.ofSeconds(5), "the watcher subscribed", () -> watchers() == before + 1);
      assertThat(status.get(10, TimeUnit.SECONDS)).isEqualTo(GrpcStatus.DEADLINE_EXCEEDED);
      awaitTrue(java.time.Duration.ofSeconds(5), "the expired watcher is removed", () -> watchers() == before);
    } finally {
      client.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }

  @Test
  void aWatcherWithALongIntervalGetsCoalescedSnapshots() throws Exception {
    String id = start("watch-slow");
    long opened = System.nanoTime();
    Watcher w = watch(byId(id, 1000));
    assertThat(w.end(60)).isNull();
    long seconds = (System.nanoTime() - opened) / 1_000_000_000L;
    List<MigrationEvent> events = w.events();
    // At most one snapshot a second, plus the first and the final one, though the run checkpoints 20 times a second.
    assertThat(events.size()).as("events in %d s: %s", seconds, events).isBetween(2, (int) seconds + 3);
    assertThat(events).anySatisfy(e -> assertThat(e.getCoalesced()).isPositive());
    assertThat(events.get(events.size() - 1).getFinal()).isTrue();
    assertThat(mongoProgress(events.get(events.size() - 1).getMigration()).getDone()).isEqualTo(600);
  }

  @Test
  void badSelectorsAreInvalidArgumentsAndLeaveNoWatcher() {
    double before = watchers();
    Duration tooLong = Duration.newBuilder().setSeconds(61).build();
    Duration negative = Duration.newBuilder().setSeconds(-1).build();
    String someId = java.util.UUID.randomUUID().toString();
    Map<String, WatchMigrationRequest> bad = Map.of(
        "none", WatchMigrationRequest.getDefaultInstance(),
        "id and tenant", WatchMigrationRequest.newBuilder().setMigrationId(someId).setTenant("watch-a").build(),
        "tenant and all", WatchMigrationRequest.newBuilder().setTenant("watch-a").setAll(true).build(),
        "id and all", WatchMigrationRequest.newBuilder().setMigrationId(someId).setAll(true).build(),
        "interval too long", WatchMigrationRequest.newBuilder().setAll(true).setMinInterval(tooLong).build(),
        "negative interval", WatchMigrationRequest.newBuilder().setAll(true).setMinInterval(negative).build(),
        "bad tenant", WatchMigrationRequest.newBuilder().setTenant("Watch_A").build());
    bad.forEach((what, request) -> {
      Status status = statusOf(() -> api().watchMigration(request).hasNext());
      assertThat(status.getCode()).as(what).isEqualTo(Status.Code.INVALID_ARGUMENT);
      assertThat(status.getDescription()).as(what).matches("(migration_id|tenant|min_interval): .*");
    });
    Status unknown = statusOf(() -> api().watchMigration(WatchMigrationRequest.newBuilder().setTenant("nobody-co")
        .build()).hasNext());
    assertThat(unknown.getCode()).isEqualTo(Status.Code.NOT_FOUND);
    assertThat(unknown.getDescription()).startsWith("tenant");
    assertThat(watchers()).isEqualTo(before);
  }
}
