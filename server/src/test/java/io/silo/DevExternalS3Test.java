package io.silo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationServiceGrpc;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.StartMigrationRequest;
import io.silo.config.SiloConfig;
import io.silo.dev.DemoSeeder;
import io.silo.dev.DevOptions;
import io.silo.dev.DevS3;
import io.silo.dev.DevStack;
import io.silo.dev.mongo.DevMongoLauncher;
import io.silo.jobs.MigrationFixture;
import io.vertx.core.Vertx;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * {@code silo-server dev --s3-endpoint}: the dev stack starts no S3Mock of its own and points Silo and the demo
 * seeder at the S3 given, here a second in-process S3Mock standing in for an external one (Ceph RGW in real use).
 */
class DevExternalS3Test {

  private static final String SECRET = "external-secret-never-printed";

  @TempDir
  Path dir;

  private DevCommand parse(String... args) {
    DevCommand command = new DevCommand();
    new CommandLine(command).parseArgs(args);
    return command;
  }

  @Test
  void devStackWithAnS3EndpointSeedsAndMigratesIntoThatS3AndNeverPrintsItsSecret() throws Exception {
    try (DevS3 external = DevS3.start(dir.resolve("external-s3"), "127.0.0.1", 0, List.of(), List.of())) {
      // The secret comes from the environment's SILO_S3_SECRET_ACCESS_KEY, i.e. the base config's s3.secretAccessKey.
      DevCommand command = parse("--s3-endpoint", external.endpoint(), "--s3-access-key", "external-user",
          "--data-dir", dir.resolve("data").toString(), "--ephemeral-ports");
      DevOptions options = command.devOptions(SiloConfig.of(Map.of("s3.secretAccessKey", SECRET)));
      assertThat(options.externalS3().secretAccessKey()).isEqualTo(SECRET);
      assertThat(options.externalS3().region().id()).isEqualTo("us-east-1");
      assertThat(options.toString()).doesNotContain(SECRET);

      Vertx vertx = Vertx.vertx();
      try (DevStack stack = DevStack.start(options, DevMongoLauncher::start)) {
        assertThat(stack.s3()).as("no S3Mock of the stack's own").isNull();
        assertThat(stack.startupTimings()).doesNotContainKey("s3");
        assertThat(stack.banner()).contains(external.endpoint(), "external-user").doesNotContain(SECRET);

        stack.seedDemo(DemoSeeder.Options.defaults().withCounts(2, 20, 12), line -> { });
        try (S3Client s3 = external.syncClient()) {
          assertThat(s3.listObjectsV2(b -> b.bucket(DemoSeeder.SHARED_BUCKET)).contents()).hasSize(12);
        }

        Map<String, Object> settings = DevCommand.stackSettings(stack, 0, command.s3Strict);
        assertThat(settings).containsEntry("s3.endpoint", external.endpoint()).containsEntry("s3.strict", false)
            .containsEntry("s3.accessKeyId", "external-user").containsEntry("s3.secretAccessKey", SECRET);
        settings.put("grpc.shutdownGraceSeconds", 2);
        settings.put("auth.disabled", true);
        settings.put("jobs.pollMillis", 100);
        SiloServer server = SiloServer.start(vertx, SiloConfig.of(settings))
            .toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
        try {
          Migration started = MigrationServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
              .startMigration(StartMigrationRequest.newBuilder().addTenants("acme-health").build()).getMigrations(0);
          Migration done = MigrationFixture.await(channel, started.getId(), Duration.ofSeconds(120),
              m -> m.getState() != MigrationState.MIGRATION_STATE_RUNNING
                  && m.getState() != MigrationState.MIGRATION_STATE_PLANNED, "a final state");
          assertThat(done.getState()).as(done.getLastError()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
          try (S3Client s3 = external.syncClient()) {
            String bucket = s3.listBuckets().buckets().stream().map(b -> b.name())
                .filter(n -> n.startsWith("dataroom-saas-acme-health-")).findFirst().orElseThrow();
            assertThat(s3.listObjectsV2(b -> b.bucket(bucket)).contents()).extracting(S3Object::key)
                .isNotEmpty().allSatisfy(key -> assertThat(key).startsWith("documents/"));
          }
        } finally {
          channel.shutdownNow();
          server.shutdown().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        }
      } finally {
        vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
      }
    }
  }

  @Test
  void anS3EndpointWithoutCredentialsOrS3OptionsWithoutAnEndpointAreRefusedNamingWhatIsMissing() {
    SiloConfig noCredentials = SiloConfig.of(Map.of());
    assertThatThrownBy(() -> parse("--s3-endpoint", "http://127.0.0.1:7480").devOptions(noCredentials))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("SILO_S3_ACCESS_KEY_ID").hasMessageContaining("--s3-access-key")
        .hasMessageContaining("missing: access key id and secret access key");
    assertThatThrownBy(() -> parse("--s3-endpoint", "http://127.0.0.1:7480", "--s3-access-key", "a")
        .devOptions(noCredentials)).hasMessageContaining("missing: secret access key");
    assertThatThrownBy(() -> parse("--s3-strict").devOptions(noCredentials))
        .hasMessageContaining("need --s3-endpoint");
    assertThatThrownBy(() -> parse("--s3-endpoint", "ftp://example/", "--s3-access-key", "a", "--s3-secret-key",
        "b").devOptions(noCredentials)).hasMessageContaining("http:// or https://");
    assertThat(parse("--s3-endpoint", "http://127.0.0.1:7480", "--s3-access-key", "a", "--s3-secret-key", "b",
        "--s3-region", "eu-central-1").devOptions(noCredentials).externalS3().region().id())
        .isEqualTo("eu-central-1");
    assertThat(parse().devOptions(noCredentials).externalS3()).isNull();
  }
}
