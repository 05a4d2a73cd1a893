package io.silo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.stub.StreamObserver;
import io.silo.api.v1.ListTenantsRequest;
import io.silo.api.v1.MigrationServiceGrpc;
import io.silo.api.v1.StartMigrationRequest;
import io.silo.api.v1.TenantServiceGrpc;
import io.silo.config.SiloConfig;
import io.silo.dev.DemoSeeder;
import io.silo.dev.DevOptions;
import io.silo.dev.DevStack;
import io.silo.dev.mongo.DevMongoLauncher;
import io.vertx.core.Vertx;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `silo-server dev --demo` answers NOT_SERVING and refuses silo.v1 calls until the demo estate is fully seeded. */
class DevDemoReadinessTest {

  @TempDir
  Path dir;

  @Test
  void demoServerIsNotServingAndRefusesTenantsAndMigrationsUntilSeedingHasFinished() throws Exception {
    DevOptions options = DevOptions.defaults().withDataDir(dir.resolve("data")).withEphemeralPorts();
    Vertx vertx = Vertx.vertx();
    try (DevStack stack = DevStack.start(options, DevMongoLauncher::start)) {
      Map<String, Object> settings = DevCommand.stackSettings(stack, 0, false);
      settings.put("grpc.shutdownGraceSeconds", 2);
      settings.put("auth.disabled", true);
      SiloServer server = SiloServer.start(vertx, SiloConfig.of(settings), DevCommand.SEEDING)
          .toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
      ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
      try {
        List<ServingStatus> watched = new CopyOnWriteArrayList<>();
        CompletableFuture<Void> servingSeen = new CompletableFuture<>();
        HealthGrpc.newStub(channel).watch(HealthCheckRequest.getDefaultInstance(), new StreamObserver<>() {
          @Override
          public void onNext(HealthCheckResponse value) {
            watched.add(value.getStatus());
            if (value.getStatus() == ServingStatus.SERVING) {
              servingSeen.complete(null);
            }
          }

          @Override
          public void onError(Throwable t) {
          }

          @Override
          public void onCompleted() {
          }
        });

        // Hold the seeder right after it registered the tenants and before any patient is inserted: the
        // moment when the old behaviour let `silo migrate-all` copy a fraction of the data.
        CountDownLatch tenantsSeeded = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream print = new PrintStream(out, true, StandardCharsets.UTF_8);
        Thread seeding = new Thread(() -> DevCommand.seedThenServe(server, () -> stack.seedDemo(
            DemoSeeder.Options.defaults().withCounts(3, 600, 6), line -> {
              print.println("demo: " + line);
              if (line.startsWith("Seeded 3 tenants")) {
                tenantsSeeded.countDown();
                await(release);
              }
            }), print, print), "demo-seeding");
        seeding.start();
        assertThat(tenantsSeeded.await(60, TimeUnit.SECONDS)).isTrue();

        assertThat(HealthGrpc.newBlockingStub(channel).check(HealthCheckRequest.getDefaultInstance()).getStatus())
            .isEqualTo(ServingStatus.NOT_SERVING);
        assertThat(HealthGrpc.newBlockingStub(channel).check(HealthCheckRequest.newBuilder()
            .setService("silo.v1.MigrationService").build()).getStatus()).isEqualTo(ServingStatus.NOT_SERVING);
        StatusRuntimeException list = catchThrowableOfType(StatusRuntimeException.class,
            () -> TenantServiceGrpc.newBlockingStub(channel).listTenants(ListTenantsRequest.getDefaultInstance()));
        assertThat(list.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
        assertThat(list.getStatus().getDescription()).contains("being seeded", "SERVING");
        StatusRuntimeException migrate = catchThrowableOfType(StatusRuntimeException.class,
            () -> MigrationServiceGrpc.newBlockingStub(channel).startMigration(StartMigrationRequest.newBuilder()
                .setAllTenants(true).setIdempotencyKey("too-early").build()));
        assertThat(migrate.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
        assertThat(server.isReady()).isFalse();
        assertThat(out.toString(StandardCharsets.UTF_8)).doesNotContain("Try:");

        release.countDown();
        seeding.join(120_000);
        servingSeen.get(10, TimeUnit.SECONDS);
        assertThat(watched).startsWith(ServingStatus.NOT_SERVING).endsWith(ServingStatus.SERVING);
        assertThat(HealthGrpc.newBlockingStub(channel).check(HealthCheckRequest.getDefaultInstance()).getStatus())
            .isEqualTo(ServingStatus.SERVING);
        assertThat(TenantServiceGrpc.newBlockingStub(channel).listTenants(ListTenantsRequest.getDefaultInstance())
            .getTenantsCount()).isEqualTo(3);
        String printed = out.toString(StandardCharsets.UTF_8);
        assertThat(printed).contains("Try:");
        assertThat(printed.indexOf("Try:")).isGreaterThan(printed.indexOf("Demo estate seeded"));
      } finally {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.shutdown().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
      }
    } finally {
      vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }

  private static void await(CountDownLatch latch) {
    try {
      latch.await(60, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
