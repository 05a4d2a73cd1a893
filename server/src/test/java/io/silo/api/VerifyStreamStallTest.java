package io.silo.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.mongodb.client.MongoClient;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.silo.TestServer;
import io.silo.api.v1.MigrationServiceGrpc;
import io.silo.api.v1.VerifyTenantRequest;
import io.silo.api.v1.VerifyTenantResponse;
import io.silo.jobs.MigrationFixture;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/** A VerifyTenant caller that stops reading is cut off after grpc.streamStallSeconds, and its worker is freed. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class VerifyStreamStallTest {

  @TempDir
  static Path keyDir;

  private TestServer server;
  private MongoClient mongo;

  @BeforeAll
  void start() throws Exception {
    server = TestServer.startWithMongo(Map.of("verify.maxStreams", 1, "grpc.streamStallSeconds", 1), keyDir);
    mongo = MigrationFixture.plainClient(server);
    MigrationFixture.registerTenants(server, "stall-co", "next-co");
    MigrationFixture.seed(mongo, "legacy.patients", 20_000, "stall-co");
    MigrationFixture.seed(mongo, "legacy.patients", 3, "next-co");
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

  /** A channel with a 64 KiB window and no automatic tuning, so a caller that does not read stalls the server soon. */
  static ManagedChannel smallWindowChannel(int port) {
    return NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().flowControlWindow(65_535).build();
  }

  /** A VerifyTenant call that never asks for a message, with when its verify began and how it closed. */
  static final class StalledVerify extends ClientCall.Listener<VerifyTenantResponse> {
    final CompletableFuture<Metadata> headers = new CompletableFuture<>();
    final CompletableFuture<Status> closed = new CompletableFuture<>();
    ClientCall<VerifyTenantRequest, VerifyTenantResponse> call;

    @Override
    public void onHeaders(Metadata metadata) {
      headers.complete(metadata);
    }

    @Override
    public void onClose(Status status, Metadata trailers) {
      headers.completeExceptionally(status.asRuntimeException());
      closed.complete(status);
    }
  }

  /**
   * Starts a verify of {@code tenant} that never reads, and returns once the server streams to it (its response
   * headers arrived), i.e. once its verify holds a slot and a worker.
   */
  static StalledVerify stalledVerify(ManagedChannel channel, String tenant) throws Exception {
    StalledVerify stalled = new StalledVerify();
    stalled.call = channel.newCall(MigrationServiceGrpc.getVerifyTenantMethod(), CallOptions.DEFAULT);
    stalled.call.start(stalled, new Metadata());
    stalled.call.sendMessage(VerifyTenantRequest.newBuilder().setTenant(tenant).build());
    stalled.call.halfClose();
    stalled.headers.get(30, TimeUnit.SECONDS);
    return stalled;
  }

  @Test
  void aReaderThatStopsReadingIsCutOffWithAStatusAndItsWorkerIsFreed() throws Exception {
    ManagedChannel stalled = smallWindowChannel(server.server.port());
    try {
      StalledVerify verify = stalledVerify(stalled, "stall-co");
      // Never calls request(): no message is read, so the window fills and the server's writes stall. Once the
      // stall timeout passed, the only verify slot is free again and the next caller is served.
      long started = System.nanoTime();
      MigrationFixture.awaitTrue(java.time.Duration.ofSeconds(30), "the verify slot is released", () -> {
        try {
          MigrationServiceGrpc.newBlockingStub(server.channel).withDeadlineAfter(30, TimeUnit.SECONDS)
              .verifyTenant(VerifyTenantRequest.newBuilder().setTenant("next-co").build()).forEachRemaining(r -> { });
          return true;
        } catch (io.grpc.StatusRuntimeException e) {
          assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
          return false;
        }
      });
      assertThat(TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started)).isLessThan(30);
      // The stalled caller, reading again, finds its stream was ended with a status after what it had buffered.
      verify.call.request(Integer.MAX_VALUE);
      Status status = verify.closed.get(30, TimeUnit.SECONDS);
      assertThat(status.getCode()).as(status.toString()).isEqualTo(Status.Code.CANCELLED);
      long health = System.nanoTime();
      HealthGrpc.newBlockingStub(server.channel).withDeadlineAfter(5, TimeUnit.SECONDS)
          .check(HealthCheckRequest.getDefaultInstance());
      assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - health)).isLessThan(500);
    } finally {
      stalled.shutdownNow();
    }
  }
}
