package io.silo;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.silo.config.SiloConfig;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A `silo-server serve` child JVM configured through SILO_* variables, with its output in a log file. */
public final class SiloProcess implements AutoCloseable {

  private static final Pattern READY = Pattern.compile("silo-server ready: gRPC on [^:\\s]+:(\\d+)");

  public final String name;
  public final Process process;
  public final Path log;
  public final int port;
  public final ManagedChannel channel;

  private SiloProcess(String name, Process process, Path log, int port) {
    this.name = name;
    this.process = process;
    this.log = log;
    this.port = port;
    this.channel = ManagedChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
  }

  /**
   * Starts the server with the given settings (grpc.port 0 is fine: the port is read from the ready line) and waits
   * until it serves. It runs on this JVM's classpath, i.e. target/classes and every dependency, which is current
   * under `./mvnw verify`, where tests run before the jar is packaged.
   */
  public static SiloProcess start(String name, Map<String, Object> settings, Path log, String... jvmOptions)
      throws Exception {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.addAll(List.of(jvmOptions));
    command.addAll(List.of("-cp", System.getProperty("java.class.path"), "io.silo.Main", "serve"));
    ProcessBuilder builder = new ProcessBuilder(command);
    Map<String, String> env = builder.environment();
    // Unknown SILO_* variables fail start-up, and inherited ones must not change what the test configures.
    env.keySet().removeIf(k -> k.startsWith("SILO_"));
    // Tests of processes are about crashes and restarts, not tokens: run them without authentication.
    env.put(SiloConfig.SETTINGS.get("auth.disabled").envName(), "true");
    settings.forEach((key, value) -> env.put(SiloConfig.SETTINGS.get(key).envName(), String.valueOf(value)));
    Files.createDirectories(log.getParent());
    builder.redirectErrorStream(true).redirectOutput(log.toFile());
    Process process = builder.start();
    // Tests close their processes in @AfterAll; this covers a test JVM that exits without getting there.
    Runtime.getRuntime().addShutdownHook(new Thread(process::destroyForcibly, "kill-" + name));
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
    while (System.nanoTime() < deadline) {
      Matcher ready = READY.matcher(Files.readString(log, StandardCharsets.UTF_8));
      if (ready.find()) {
        return new SiloProcess(name, process, log, Integer.parseInt(ready.group(1)));
      }
      if (!process.isAlive()) {
        break;
      }
      Thread.sleep(100);
    }
    process.destroyForcibly();
    throw new AssertionError("silo-server '" + name + "' did not become ready (alive: " + process.isAlive()
        + "); its output ends with:\n" + tail(log));
  }

  /** SIGKILL, spelled out: no shutdown hook runs, no lease is handed back, nothing is flushed. */
  public void killWithSigkill() throws Exception {
    channel.shutdownNow();
    Process kill = new ProcessBuilder("kill", "-9", Long.toString(process.pid())).inheritIO().start();
    assertThat(kill.waitFor()).as("exit code of kill -9").isZero();
    assertThat(process.waitFor(30, TimeUnit.SECONDS)).as("the server died").isTrue();
    // A JVM ended by signal N reports 128 + N; 137 is SIGKILL (a shutdown hook would make it exit with 143 or 0).
    assertThat(process.exitValue()).as("exit status of the killed server").isEqualTo(137);
  }

  /** The Prometheus text of GET /metrics (served on the gRPC port). */
  public String metrics() throws IOException, InterruptedException {
    HttpResponse<String> response = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build()
        .send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics")).GET().build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(response.statusCode()).as("GET /metrics").isEqualTo(200);
    return response.body();
  }

  /** Samples of one metric keyed by the value of {@code label}; samples without that label are skipped. */
  public Map<String, Double> metric(String name, String label) throws IOException, InterruptedException {
    Map<String, Double> out = new HashMap<>();
    Pattern line = Pattern.compile("^" + Pattern.quote(name) + "\\{(.*)} (\\S+)$", Pattern.MULTILINE);
    Pattern labelValue = Pattern.compile("(?:^|,)" + Pattern.quote(label) + "=\"([^\"]*)\"");
    Matcher m = line.matcher(metrics());
    while (m.find()) {
      Matcher l = labelValue.matcher(m.group(1));
      if (l.find()) {
        out.merge(l.group(1), Double.parseDouble(m.group(2)), Double::sum);
      }
    }
    return out;
  }

  /** A metric without labels. */
  public double gauge(String name) throws IOException, InterruptedException {
    Matcher m = Pattern.compile("^" + Pattern.quote(name) + "(?:\\{})? (\\S+)$", Pattern.MULTILINE).matcher(metrics());
    assertThat(m.find()).as(name + " in /metrics").isTrue();
    return Double.parseDouble(m.group(1));
  }

  /**
   * Heap in use right after a full collection: `jcmd GC.run` (a System.gc() in the server, which returns once the
   * collection is done) and then the server's own jvm_memory_used_bytes{area="heap"}.
   */
  public long heapUsedAfterGc() throws Exception {
    Process gc = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
        Long.toString(process.pid()), "GC.run").redirectErrorStream(true).start();
    String output = new String(gc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(gc.waitFor()).as("jcmd GC.run: " + output).isZero();
    Map<String, Double> byArea = metric("jvm_memory_used_bytes", "area");
    assertThat(byArea).containsKey("heap");
    return byArea.get("heap").longValue();
  }

  /** A test body that may throw anything. */
  @FunctionalInterface
  public interface Body {
    void run() throws Throwable;
  }

  /** Runs {@code body}; when it fails, prints the end of every child's output first, then rethrows. */
  public static void explainingFailures(List<SiloProcess> children, Body body) throws Throwable {
    try {
      body.run();
    } catch (Throwable failure) {
      children.forEach(SiloProcess::printTail);
      throw failure;
    }
  }

  /** The last lines of the server's output, on stderr, to explain a failure. */
  public void printTail() {
    System.err.println("---- silo-server '" + name + "' (" + log + ") ends with:\n" + tail(log));
  }

  private static String tail(Path log) {
    try {
      List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 60), lines.size()));
    } catch (IOException e) {
      return "(cannot read " + log + ": " + e.getMessage() + ")";
    }
  }

  /** Kills the process (SIGKILL) if it still runs; safe to call more than once. */
  @Override
  public void close() {
    channel.shutdownNow();
    process.destroyForcibly();
    try {
      process.waitFor(10, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
