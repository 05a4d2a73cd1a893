package io.silo.keys;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.Assumptions;

/**
 * A real KMIP server for tests: Debian's PyKMIP ({@code python3-pykmip}) run by Debian's {@code /usr/bin/python3} on
 * a free loopback port, with a throw-away CA, server and client certificate made in a temporary directory.
 */
final class PyKmipServer implements AutoCloseable {

  static final String PYTHON = "/usr/bin/python3";

  private final Path dir;
  private final TestPki pki = new TestPki();
  private Process process;
  private int port;

  private PyKmipServer(Path dir) {
    this.dir = dir;
  }

  /**
   * Starts a server, or aborts the calling test (JUnit assumption) when Debian's python3 cannot import kmip: tests
   * need {@code apt-get install -y python3-pykmip}; CI installs it.
   */
  static PyKmipServer startOrSkip() throws Exception {
    Assumptions.assumeTrue(pykmipInstalled(),
        "PyKMIP is not installed for " + PYTHON + " (apt-get install -y python3-pykmip); skipping the KMIP test");
    PyKmipServer s = new PyKmipServer(Files.createTempDirectory("silo-pykmip-"));
    try {
      s.start();
    } catch (Exception e) {
      s.close();
      throw e;
    }
    return s;
  }

  static boolean pykmipInstalled() {
    if (!Files.isExecutable(Path.of(PYTHON))) return false;
    try {
      Process p = new ProcessBuilder(PYTHON, "-c", "import kmip").redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
      return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  int port() {
    return port;
  }

  /** Writes the CA, the client certificate and its key as unencrypted PKCS#8 PEM, the files Silo's kms.kmip.* settings name. */
  java.util.Map<String, Path> writeClientFiles(Path target) throws IOException {
    Files.createDirectories(target);
    Path ca = target.resolve("kmip-ca.pem");
    Path cert = target.resolve("kmip-client.pem");
    Path key = target.resolve("kmip-client.pk8.pem");
    Files.writeString(ca, pki.ca.certificatePem());
    Files.writeString(cert, pki.client.certificatePem());
    String body = java.util.Base64.getMimeEncoder(64, "\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII))
        .encodeToString(pki.client.keys().getPrivate().getEncoded());
    Files.writeString(key, "-----BEGIN PRIVATE KEY-----\n" + body + "\n-----END PRIVATE KEY-----\n");
    return java.util.Map.of("ca", ca, "cert", cert, "key", key);
  }

  /** "127.0.0.1:port", the form of {@code kmsProviders.kmip.endpoint}. */
  String endpoint() {
    return "127.0.0.1:" + port;
  }

  /** TLS context with the client certificate and the test CA, for {@code kmsProviderSslContextMap}. */
  SSLContext clientSslContext() {
    return pki.clientContext(true);
  }

  long pid() {
    return process.pid();
  }

  private void start() throws Exception {
    pki.writePem(dir);
    Files.createDirectories(dir.resolve("policies"));
    // Bind-then-release to find a free port: PyKMIP cannot report the port it chose. A race with another process is
    // possible but rare; the start-up wait below would then fail with the log attached.
    try (ServerSocket probe = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      port = probe.getLocalPort();
    }
    // TLS1.2 suite with ECDHE-RSA suites that Java 17 offers; PyKMIP's default "Basic" suite wants TLS 1.0 ciphers.
    Files.writeString(dir.resolve("server.conf"), String.join("\n",
        "[server]",
        "hostname=127.0.0.1",
        "port=" + port,
        "certificate_path=" + dir.resolve("server.pem"),
        "key_path=" + dir.resolve("server.key"),
        "ca_path=" + dir.resolve("ca.pem"),
        "auth_suite=TLS1.2",
        "policy_path=" + dir.resolve("policies"),
        "enable_tls_client_auth=True",
        "tls_cipher_suites=",
        "    TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
        "    TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
        "logging_level=INFO",
        "database_path=" + dir.resolve("pykmip.sqlite"),
        ""));
    process = new ProcessBuilder(List.of(PYTHON, "-c",
        "import sys; from kmip.services.server.server import main; sys.exit(main())",
        "-f", dir.resolve("server.conf").toString(), "-l", dir.resolve("server.log").toString()))
        .directory(dir.toFile())
        .redirectErrorStream(true)
        .redirectOutput(dir.resolve("stdout.log").toFile())
        .start();
    awaitTls(Duration.ofSeconds(30));
  }

  private void awaitTls(Duration timeout) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    SSLContext ctx = clientSslContext();
    Exception last = null;
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IllegalStateException("PyKMIP exited with " + process.exitValue() + " during start-up:\n" + logTail());
      }
      try (SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket()) {
        s.connect(new InetSocketAddress("127.0.0.1", port), 1000);
        s.setSoTimeout(2000);
        s.startHandshake();
        return;
      } catch (IOException e) {
        last = e;
        Thread.sleep(200);
      }
    }
    throw new IllegalStateException("PyKMIP did not accept TLS on " + endpoint() + " within " + timeout + ": " + last
        + "\n" + logTail());
  }

  String logTail() {
    StringBuilder out = new StringBuilder();
    for (String name : List.of("stdout.log", "server.log")) {
      Path f = dir.resolve(name);
      try {
        if (Files.exists(f)) {
          List<String> lines = Files.readAllLines(f);
          out.append("--- ").append(name).append('\n')
              .append(String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()))).append('\n');
        }
      } catch (IOException ignored) {
        // Best effort: this only decorates an error message.
      }
    }
    return out.toString();
  }

  /** Stops the server: SIGINT (PyKMIP 0.10 may ignore SIGTERM), then SIGKILL for it and its helper processes. */
  @Override
  public void close() throws Exception {
    if (process != null) {
      List<ProcessHandle> children = process.descendants().toList();
      if (process.isAlive()) {
        new ProcessBuilder("kill", "-INT", Long.toString(process.pid())).inheritIO().start().waitFor(5, TimeUnit.SECONDS);
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
          process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
      }
      // multiprocessing.Manager's server process normally exits with its parent; make sure of it.
      for (ProcessHandle child : children) {
        if (child.isAlive()) child.destroyForcibly();
      }
    }
    deleteRecursively(dir);
  }

  private static void deleteRecursively(Path root) throws IOException {
    if (root == null || !Files.exists(root)) return;
    try (var paths = Files.walk(root)) {
      paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }
}
