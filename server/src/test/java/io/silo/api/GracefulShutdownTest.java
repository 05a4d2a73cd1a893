package io.silo.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.Status;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.stub.StreamObserver;
import io.silo.TestServer;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Shutdown tells watchers NOT_SERVING, ends open streams with UNAVAILABLE, and refuses new calls. */
class GracefulShutdownTest {

  @Test
  void shutdownEndsOpenStreamsWithUnavailableAfterReportingNotServing() throws Exception {
    TestServer server = TestServer.start(Map.of());
    List<ServingStatus> seen = new CopyOnWriteArrayList<>();
    CompletableFuture<Status> ended = new CompletableFuture<>();
    CompletableFuture<Void> first = new CompletableFuture<>();
    HealthGrpc.newStub(server.channel).watch(HealthCheckRequest.newBuilder().build(),
        new StreamObserver<HealthCheckResponse>() {
          @Override
          public void onNext(HealthCheckResponse value) {
            seen.add(value.getStatus());
            first.complete(null);
          }

          @Override
          public void onError(Throwable t) {
            ended.complete(Status.fromThrowable(t));
          }

          @Override
          public void onCompleted() {
            ended.complete(Status.OK);
          }
        });
    first.get(10, TimeUnit.SECONDS);
    assertThat(seen).containsExactly(ServingStatus.SERVING);

    server.server.shutdown().toCompletionStage().toCompletableFuture().get(20, TimeUnit.SECONDS);

    Status status = ended.get(10, TimeUnit.SECONDS);
    assertThat(status.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(status.getDescription()).contains("shutting down");
    assertThat(seen).containsExactly(ServingStatus.SERVING, ServingStatus.NOT_SERVING);
    server.channel.shutdownNow();
    server.vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }
}
