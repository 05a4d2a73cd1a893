package io.silo.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class HealthCommandTest {

  private FakeSiloServer server;

  @BeforeEach
  void start() throws Exception {
    server = new FakeSiloServer();
  }

  @AfterEach
  void stop() throws Exception {
    server.close();
  }

  @Test
  void servingExitsZeroAndChecksTheWholeServer() {
    CliRun run = CliRun.run("health", "--server", server.address());
    assertThat(run.exitCode()).isZero();
    assertThat(run.out()).isEqualTo("SERVING\n");
    assertThat(server.healthServices).containsExactly("");
  }

  @Test
  void notServingExitsOne() {
    server.health = ServingStatus.NOT_SERVING;
    CliRun run = CliRun.run("health", "--server", server.address());
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.out()).isEqualTo("NOT_SERVING\n");
    assertThat(run.err()).isEmpty();
  }

  @Test
  void jsonPrintsTheHealthCheckResponse() {
    CliRun run = CliRun.run("--output", "json", "health", "--server", server.address(), "--service", "silo.v1.TenantService");
    assertThat(run.exitCode()).isZero();
    assertThat(run.out()).isEqualToIgnoringWhitespace("{\"status\": \"SERVING\"}");
    assertThat(server.healthServices).containsExactly("silo.v1.TenantService");
  }
}
