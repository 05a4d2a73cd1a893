package io.silo.auth;

import static io.silo.auth.AuthTestSupport.ADMIN;
import static io.silo.auth.AuthTestSupport.OPERATOR;
import static io.silo.auth.AuthTestSupport.OWN;
import static io.silo.auth.AuthTestSupport.VIEWER;
import static io.silo.auth.AuthTestSupport.as;
import static io.silo.auth.AuthTestSupport.statusOf;
import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.silo.TestServer;
import io.silo.api.v1.MigrationServiceGrpc;
import io.silo.api.v1.RegisterTenantRequest;
import io.silo.api.v1.TenantServiceGrpc;
import io.silo.api.v1.WatchMigrationRequest;
import io.silo.api.v1.WatchMigrationResponse;
import io.silo.jobs.MigrationFixture;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** WatchMigration streams are limited per caller (watch.maxPerCaller): RESOURCE_EXHAUSTED names the limit. */
class WatchLimitPerCallerTest {

  private static final WatchMigrationRequest WATCH = WatchMigrationRequest.newBuilder().setTenant(OWN).build();

  @Test
  void aCallerAtItsWatchLimitIsRefusedNamingItWhileOtherCallersAndFreedSlotsStillWatch() throws Exception {
    try (TestServer server = TestServer.startWithMongo(Map.of("auth.tokens", AuthTestSupport.TOKENS,
        "watch.maxPerCaller", 2), Files.createTempDirectory("silo-watch-limit"))) {
      TenantServiceGrpc.newBlockingStub(as(server.channel, ADMIN)).registerTenant(RegisterTenantRequest.newBuilder()
          .setSlug(OWN).setDisplayName("Acme").build());
      List<ClientCallStreamObserver<WatchMigrationRequest>> open = new ArrayList<>();
      for (int i = 0; i < 2; i++) {
        open.add(openWatch(server));
      }
      // Both are held open by the server: a third one with a short deadline shows the refusal, not a timeout.
      MigrationFixture.awaitTrue(Duration.ofSeconds(10), "the viewer's third watch is refused",
          () -> watchOnce(server, VIEWER).getCode() == Status.Code.RESOURCE_EXHAUSTED);
      Status third = watchOnce(server, VIEWER);
      assertThat(third.getDescription()).startsWith("watch.maxPerCaller: token:look already holds 2");
      assertThat(watchOnce(server, OPERATOR).getCode()).as("another caller has its own slots")
          .isEqualTo(Status.Code.DEADLINE_EXCEEDED);

      open.get(0).cancel("done watching", null);
      MigrationFixture.awaitTrue(Duration.ofSeconds(10), "a cancelled watch frees its slot",
          () -> watchOnce(server, VIEWER).getCode() == Status.Code.DEADLINE_EXCEEDED);
      open.get(1).cancel("done watching", null);
    }
  }

  /** A watch that stays open (the tenant has no migration) until cancelled. */
  private static ClientCallStreamObserver<WatchMigrationRequest> openWatch(TestServer server) {
    List<ClientCallStreamObserver<WatchMigrationRequest>> call = new ArrayList<>();
    MigrationServiceGrpc.newStub(as(server.channel, VIEWER)).watchMigration(WATCH,
        new ClientResponseObserver<WatchMigrationRequest, WatchMigrationResponse>() {
          @Override
          public void beforeStart(ClientCallStreamObserver<WatchMigrationRequest> requestStream) {
            call.add(requestStream);
          }

          @Override
          public void onNext(WatchMigrationResponse value) {
          }

          @Override
          public void onError(Throwable t) {
          }

          @Override
          public void onCompleted() {
          }
        });
    return call.get(0);
  }

  /** How a watch with a one-second deadline ends: DEADLINE_EXCEEDED when the server accepted and held it. */
  private static Status watchOnce(TestServer server, String token) {
    return statusOf(() -> MigrationServiceGrpc.newBlockingStub(as(server.channel, token))
        .withDeadlineAfter(1, TimeUnit.SECONDS).watchMigration(WATCH).forEachRemaining(event -> { }));
  }
}
