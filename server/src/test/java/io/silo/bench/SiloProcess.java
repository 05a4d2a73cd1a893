package io.silo.bench;

import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@code silo-server serve} in a JVM of its own with a small heap, plus a sampler that scrapes its {@code /metrics}
 * for heap in use, so the heap check measures the server alone and not the dev stack or the benchmark.
 */
final class SiloProcess implements AutoCloseable {

  private final Process process;
  private final int port;
  private final Path log;
  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(2)).build();
  private ScheduledExecutorService sampler;
  private final AtomicLong peakHeap = new AtomicLong();
  private final AtomicLong lastHeap = new AtomicLong();
  private final AtomicLong heapMax = new AtomicLong();
  private final AtomicInteger samples = new AtomicInteger();
  private final AtomicInteger failedSamples = new AtomicInteger();

  private SiloProcess(Process process, int port, Path log) {
    this.process = process;
    this.port = port;
    this.log = log;
  }

  /**
   * Writes {@code settings} as a YAML config next to {@code log} and starts {@code io.silo.Main serve} with
   * {@code -Xmx<heap>}, then waits until the gRPC port answers.
   *
   * @param classpath the server's classpath; test classes are left out so the server's own logback.xml applies
   */
  static SiloProcess start(Map<String, Object> settings, String heap, String classpath, Path workDir)
      throws IOException, InterruptedException {
    int port = freePort();
    Files.createDirectories(workDir);
    Path config = workDir.resolve("silo-heap-check.yaml");
    Map<String, Object> all = new java.util.TreeMap<>(settings);
    all.put("grpc.host", "127.0.0.1");
    all.put("grpc.port", port);
    all.putIfAbsent("auth.disabled", true);
    Files.writeString(config, toYaml(all));
    Path log = workDir.resolve("silo-heap-check.log");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> command = List.of(java, "-Xmx" + heap, "-cp", classpath, "io.silo.Main", "serve", "--config",
        config.toString());
    Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    SiloProcess silo = new SiloProcess(process, port, log);
    // If the benchmark dies first, the server must not outlive it holding a port and a dropped database.
    Runtime.getRuntime().addShutdownHook(new Thread(process::destroy, "bench-silo-process-stop"));
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (!silo.listening()) {
      if (!process.isAlive()) {
        throw new IllegalStateException("silo-server exited with " + process.exitValue() + " before listening; see "
            + log);
      }
      if (System.nanoTime() > deadline) {
        silo.close();
        throw new IllegalStateException("silo-server did not listen within 120 s; see " + log);
      }
      Thread.sleep(200);
    }
    return silo;
  }

  /** The benchmark's own classpath without test classes, so the child runs exactly the server's code and config. */
  static String serverClasspath() {
    List<String> out = new ArrayList<>();
    for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
      if (!entry.endsWith("test-classes") && !entry.endsWith("test-classes/")) {
        out.add(entry);
      }
    }
    return String.join(File.pathSeparator, out);
  }

  int port() {
    return port;
  }

  Path log() {
    return log;
  }

  long pid() {
    return process.pid();
  }

  /** Starts scraping {@code /metrics} every {@code period}; the peak is kept until {@link #stopSampling()}. */
  void startSampling(Duration period) {
    sampler = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "bench-heap-sampler");
      t.setDaemon(true);
      return t;
    });
    sampler.scheduleAtFixedRate(this::sample, 0, period.toMillis(), TimeUnit.MILLISECONDS);
  }

  void stopSampling() throws InterruptedException {
    sampler.shutdown();
    sampler.awaitTermination(5, TimeUnit.SECONDS);
    sample(); // one last look, after the migration finished
  }

  /** Scrapes once now and returns the heap in use, or -1 if the scrape failed; does not count towards the peak. */
  long heapNowBytes() {
    long[] usedAndMax = scrape();
    return usedAndMax == null ? -1 : usedAndMax[0];
  }

  /** Heap in use at the latest sample. */
  long lastHeapBytes() {
    return lastHeap.get();
  }

  long peakHeapBytes() {
    return peakHeap.get();
  }

  long heapMaxBytes() {
    return heapMax.get();
  }

  int samples() {
    return samples.get();
  }

  int failedSamples() {
    return failedSamples.get();
  }

  boolean alive() {
    return process.isAlive();
  }

  private void sample() {
    long[] usedAndMax = scrape();
    if (usedAndMax == null) {
      failedSamples.incrementAndGet();
      return;
    }
    samples.incrementAndGet();
    lastHeap.set(usedAndMax[0]);
    peakHeap.accumulateAndGet(usedAndMax[0], Math::max);
    heapMax.set(usedAndMax[1]);
  }

  /** Heap used and heap max summed over the pools, or null when /metrics did not answer with heap series. */
  private long[] scrape() {
    try {
      HttpResponse<String> response = http.send(HttpRequest.newBuilder(
              URI.create("http://127.0.0.1:" + port + "/metrics")).timeout(Duration.ofSeconds(2)).GET().build(),
          HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
      long used = 0;
      long max = 0;
      for (String line : response.body().split("\n")) {
        // Micrometer reports one series per memory pool (G1 Eden, Survivor, Old Gen); heap in use is their sum.
        if (line.startsWith("jvm_memory_used_bytes{") && line.contains("area=\"heap\"")) {
          used += value(line);
        } else if (line.startsWith("jvm_memory_max_bytes{") && line.contains("area=\"heap\"")) {
          long v = value(line);
          max += v > 0 ? v : 0;
        }
      }
      return used > 0 ? new long[] {used, max} : null;
    } catch (IOException e) {
      return null;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return null;
    }
  }

  private static long value(String line) {
    String number = line.substring(line.lastIndexOf(' ') + 1).trim();
    return (long) Double.parseDouble(number);
  }

  private boolean listening() {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", port), 500);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  /**
   * Nested YAML for dotted settings ({@code grpc.port: 1} becomes {@code grpc:} / {@code   port: 1}): the loader
   * flattens nested objects, whereas a dotted key would be one key with a dot in it.
   */
  static String toYaml(Map<String, Object> settings) {
    Map<String, Object> root = new java.util.TreeMap<>();
    settings.forEach((key, value) -> {
      String[] path = key.split("\\.");
      Map<String, Object> node = root;
      for (int i = 0; i < path.length - 1; i++) {
        @SuppressWarnings("unchecked")
        Map<String, Object> next = (Map<String, Object>) node.computeIfAbsent(path[i], k -> new java.util.TreeMap<>());
        node = next;
      }
      node.put(path[path.length - 1], value);
    });
    StringBuilder out = new StringBuilder("# Generated by io.silo.bench.MigrationBenchmark --heap-check\n");
    write(root, 0, out);
    return out.toString();
  }

  @SuppressWarnings("unchecked")
  private static void write(Map<String, Object> node, int depth, StringBuilder out) {
    node.forEach((k, v) -> {
      out.append("  ".repeat(depth)).append(k).append(':');
      if (v instanceof Map<?, ?> child) {
        out.append('\n');
        write((Map<String, Object>) child, depth + 1, out);
      } else {
        out.append(' ').append(scalar(v)).append('\n');
      }
    });
  }

  private static String scalar(Object v) {
    if (v instanceof Number || v instanceof Boolean) {
      return v.toString();
    }
    if (v instanceof List<?> list) {
      List<String> items = new ArrayList<>();
      list.forEach(i -> items.add(scalar(i)));
      return "[" + String.join(", ", items) + "]";
    }
    // A JSON string is valid YAML and escapes everything that matters.
    return new io.vertx.core.json.JsonArray().add(v.toString()).encode().replaceAll("^\\[|\\]$", "");
  }

  /** SIGTERM (Silo shuts down gracefully), then SIGKILL if it is still there after 30 s. */
  @Override
  public void close() throws InterruptedException {
    if (sampler != null) {
      sampler.shutdownNow();
    }
    process.destroy();
    if (!process.waitFor(30, TimeUnit.SECONDS)) {
      process.destroyForcibly();
      process.waitFor(10, TimeUnit.SECONDS);
    }
  }
}
