package io.silo.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.ServerSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class GlobalOptionsTest {

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
  void tokenIsSentAsBearerMetadataAndNeverPrinted() {
    CliRun run = CliRun.run("--token", "s3cret-value", "tenants", "get", "nope", "--server", server.address());
    assertThat(server.authorizationHeaders).containsExactly("Bearer s3cret-value");
    assertThat(run.out() + run.err()).doesNotContain("s3cret");
  }

  @Test
  void tlsFileOptionsAreCheckedBeforeAnyCall(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
      throws Exception {
    java.nio.file.Path pem = java.nio.file.Files.writeString(dir.resolve("client.pem"), "not used");
    CliRun alone = CliRun.run("health", "--server", server.address(), "--cert-file", pem.toString());
    assertThat(alone.exitCode()).isEqualTo(2);
    assertThat(alone.err()).contains("--cert-file and --key-file go together");
    CliRun plaintext = CliRun.run("health", "--server", server.address(), "--plaintext", "--ca-file", pem.toString());
    assertThat(plaintext.exitCode()).isEqualTo(2);
    assertThat(plaintext.err()).contains("--plaintext cannot be combined with --ca-file");
    CliRun missing = CliRun.run("health", "--server", server.address(), "--ca-file", dir.resolve("absent.pem")
        .toString());
    assertThat(missing.exitCode()).isEqualTo(2);
    assertThat(missing.err()).contains("cannot read").contains("absent.pem");
    assertThat(server.healthServices).as("no call was made").isEmpty();
  }

  @Test
  void tokenGivenAfterTheSubcommandIsInheritedToo() {
    CliRun.run("health", "--server", server.address(), "--token", "abc");
    assertThat(server.authorizationHeaders).containsExactly("Bearer abc");
  }

  @Test
  void noTokenMeansNoAuthorizationHeader() {
    CliRun.run("health", "--server", server.address(), "--token", "");
    assertThat(server.authorizationHeaders).containsExactly("<none>");
  }

  @Test
  void withoutTokenOrSiloTokenTheDevDataDirectorysTokenIsSent(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
      throws Exception {
    java.nio.file.Files.writeString(dir.resolve(DevToken.FILE), "dev-token-value\n");
    String previous = System.getProperty(DevToken.DATA_DIR_PROPERTY);
    System.setProperty(DevToken.DATA_DIR_PROPERTY, dir.toString());
    try {
      CliRun.run("health", "--server", server.address());
      CliRun.run("health", "--server", server.address(), "--token", "given");
      CliRun.run("health", "--server", server.address(), "--token", "");
    } finally {
      if (previous == null) {
        System.clearProperty(DevToken.DATA_DIR_PROPERTY);
      } else {
        System.setProperty(DevToken.DATA_DIR_PROPERTY, previous);
      }
    }
    assertThat(server.authorizationHeaders).containsExactly("Bearer dev-token-value", "Bearer given", "<none>");
  }

  @Test
  void theDevTokenIsNeverSentToAServerOnAnotherMachine() {
    assertThat(DevToken.find(ServerAddress.parse("silo.example.com:50051"))).isNull();
  }

  @Test
  void everyCallCarriesTheTimeoutAsDeadline() {
    long before = System.nanoTime();
    CliRun.run("health", "--server", server.address(), "--timeout", "7s");
    assertThat(server.deadlines).hasSize(1);
    long remainingMs = server.deadlines.get(0).timeRemaining(java.util.concurrent.TimeUnit.MILLISECONDS);
    long elapsedMs = (System.nanoTime() - before) / 1_000_000;
    assertThat(remainingMs).isBetween(7_000 - elapsedMs - 1_000, 7_000L);
  }

  @Test
  void slowServerFailsWithDeadlineExceededAndTimeoutHint() {
    CliRun run = CliRun.run("tenants", "get", FakeSiloServer.SLOW_SLUG, "--server", server.address(), "--timeout", "300ms");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.err()).startsWith("silo: DEADLINE_EXCEEDED: ").contains("silo: hint: ", "--timeout");
  }

  @Test
  void unreachableServerExitsOneWithUnavailableHintNamingTheAddress() throws Exception {
    int freePort;
    try (ServerSocket s = new ServerSocket(0)) {
      freePort = s.getLocalPort();
    }
    String address = "127.0.0.1:" + freePort;
    CliRun run = CliRun.run("tenants", "list", "--server", address, "--timeout", "5s");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.out()).isEmpty();
    assertThat(run.err()).startsWith("silo: UNAVAILABLE: ").contains("silo: hint: is a Silo server running at " + address + "?");
    assertThat(run.err()).doesNotContain("\tat ", "Exception");
  }

  @Test
  void unknownOptionExitsTwoWithoutCallingTheServer() {
    CliRun run = CliRun.run("tenants", "list", "--server", server.address(), "--bogus");
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.out()).isEmpty();
    assertThat(run.err()).startsWith("silo: Unknown option: '--bogus'").contains("Try 'silo tenants list --help'");
    assertThat(server.authorizationHeaders).isEmpty();
  }

  @Test
  void unknownOptionExitsTwoWithABareCommandLineToo() {
    CliRun run = CliRun.runBare("tenants", "list", "--bogus");
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err()).contains("Unknown option: '--bogus'");
  }

  @Test
  void badOptionValuesAreUsageErrors() {
    String s = server.address();
    assertThat(CliRun.run("tenants", "list", "--server", s, "--output", "yaml").exitCode()).isEqualTo(2);
    assertThat(CliRun.run("tenants", "list", "--server", s, "--timeout", "soon").exitCode()).isEqualTo(2);
    assertThat(CliRun.run("tenants", "list", "--server", s, "--timeout", "0").exitCode()).isEqualTo(2);
    assertThat(CliRun.run("tenants", "list", "--server", s, "--page-size", "-1").exitCode()).isEqualTo(2);
    assertThat(CliRun.run("tenants", "list", "--server", s, "--plaintext", "--tls").exitCode()).isEqualTo(2);
    assertThat(CliRun.run("tenants", "list", "--server", "no-port").exitCode()).isEqualTo(2);
    assertThat(CliRun.run("tenants", "add", "acme", "--server", s).exitCode()).as("--name is required").isEqualTo(2);
    assertThat(CliRun.run().exitCode()).as("no command").isEqualTo(2);
    assertThat(CliRun.run("tenants").exitCode()).as("no tenants command").isEqualTo(2);
    assertThat(server.authorizationHeaders).as("no call was made").isEmpty();
  }

  @Test
  void badServerValueNamesTheOptionAndTheCommandsHelp() {
    CliRun run = CliRun.run("tenants", "get", "x", "--server", "localhost:99999");
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err()).startsWith("silo: Invalid value for option '--server': port 99999 is outside 1-65535\n")
        .contains("Try 'silo tenants get --help'");
  }

  @Test
  void tlsAgainstAPlaintextServerFailsWithUnavailable() {
    CliRun run = CliRun.run("health", "--server", server.address(), "--tls", "--timeout", "5s");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.err()).startsWith("silo: UNAVAILABLE: ").contains("--tls or --plaintext");
  }
}
