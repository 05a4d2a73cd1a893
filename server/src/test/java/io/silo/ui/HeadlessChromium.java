package io.silo.ui;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Base64;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * Debian's headless Chromium driven over the Chrome DevTools Protocol on a plain WebSocket (the JDK's own client):
 * navigate, evaluate JavaScript in the page, wait for a condition, take a screenshot. One page per instance.
 */
final class HeadlessChromium implements AutoCloseable {

  /** What to install when Chromium is missing; the browser tests name it in their skip message. */
  static final String PACKAGES = "chromium chromium-driver (sudo apt-get install -y chromium chromium-driver)";

  private final Process process;
  private final Path profile;
  private final WebSocket socket;
  private final AtomicInteger ids = new AtomicInteger();
  // The last DevTools events (navigation steps, dialogs, crashes), named when a command gets no answer.
  private final ArrayDeque<String> events;
  // Shared with the socket's listener, which completes each command's future when its reply arrives.
  private final Map<Integer, CompletableFuture<JsonObject>> pending;

  private HeadlessChromium(Process process, Path profile, WebSocket socket,
                           Map<Integer, CompletableFuture<JsonObject>> pending, ArrayDeque<String> events) {
    this.events = events;
    this.process = process;
    this.profile = profile;
    this.socket = socket;
    this.pending = pending;
  }

  /** The Chromium binary on this machine, or null. */
  static Path binary() {
    for (String candidate : List.of("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")) {
      Path path = Path.of(candidate);
      if (Files.isExecutable(path)) {
        return path;
      }
    }
    return null;
  }

  /** Starts a headless Chromium with a throw-away profile and attaches to its page. */
  static HeadlessChromium start(Path binary) throws Exception {
    Path profile = Files.createTempDirectory("silo-chromium");
    Process process = new ProcessBuilder(binary.toString(), "--headless=new", "--no-sandbox", "--disable-gpu",
        "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check", "--remote-debugging-port=0",
        "--remote-debugging-address=127.0.0.1", "--user-data-dir=" + profile, "--window-size=1280,900",
        "about:blank")
        .redirectErrorStream(true).redirectOutput(profile.resolve("chromium.log").toFile()).start();
    try {
      // Chromium writes the port it picked into the profile once DevTools listens.
      Path portFile = profile.resolve("DevToolsActivePort");
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (!Files.exists(portFile) || Files.readAllLines(portFile).isEmpty()) {
        if (System.nanoTime() > deadline || !process.isAlive()) {
          throw new IllegalStateException("Chromium did not open DevTools; see " + profile.resolve("chromium.log"));
        }
        Thread.sleep(50);
      }
      int port = Integer.parseInt(Files.readAllLines(portFile).get(0).trim());
      HttpClient http = HttpClient.newHttpClient();
      JsonArray targets = new JsonArray(http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
          + "/json/list")).build(), HttpResponse.BodyHandlers.ofString()).body());
      String page = targets.stream().map(JsonObject.class::cast).filter(t -> "page".equals(t.getString("type")))
          .findFirst().orElseThrow(() -> new IllegalStateException("no page target")).getString("webSocketDebuggerUrl");
      Map<Integer, CompletableFuture<JsonObject>> pending = new ConcurrentHashMap<>();
      ArrayDeque<String> events = new ArrayDeque<>();
      WebSocket socket = http.newWebSocketBuilder().buildAsync(URI.create(page), new Replies(pending, events))
          .get(10, TimeUnit.SECONDS);
      HeadlessChromium chromium = new HeadlessChromium(process, profile, socket, pending, events);
      chromium.call("Page.enable", new JsonObject());
      return chromium;
    } catch (Exception e) {
      process.destroyForcibly();
      throw e;
    }
  }

  /** Sends one DevTools command and waits for its result. */
  JsonObject call(String method, JsonObject params) throws Exception {
    int id = ids.incrementAndGet();
    CompletableFuture<JsonObject> reply = new CompletableFuture<>();
    pending.put(id, reply);
    socket.sendText(new JsonObject().put("id", id).put("method", method).put("params", params).encode(), true)
        .get(10, TimeUnit.SECONDS);
    JsonObject answer;
    try {
      answer = reply.get(30, TimeUnit.SECONDS);
    } catch (java.util.concurrent.TimeoutException e) {
      throw new AssertionError("no answer to " + method + " in 30 s; the page's last DevTools events:\n  "
          + recentEvents(), e);
    }
    if (answer.containsKey("error")) {
      throw new IllegalStateException(method + ": " + answer.getJsonObject("error").encode());
    }
    return answer.getJsonObject("result");
  }

  private String recentEvents() {
    synchronized (events) {
      return String.join("\n  ", events);
    }
  }

  /** Loads {@code url} and waits until its document has loaded. */
  void open(String url) throws Exception {
    call("Page.navigate", new JsonObject().put("url", url));
    await(Duration.ofSeconds(15), "the page at " + url + " to load",
        "document.readyState === 'complete' && location.href === " + new JsonArray().add(url).encode() + "[0]");
  }

  /** The value of a JavaScript expression in the page (promises are awaited); JSON types map to Java ones. */
  Object eval(String expression) throws Exception {
    JsonObject result = call("Runtime.evaluate", new JsonObject().put("expression", expression)
        .put("returnByValue", true).put("awaitPromise", true));
    if (result.containsKey("exceptionDetails")) {
      throw new IllegalStateException("page threw on " + expression + ": "
          + result.getJsonObject("exceptionDetails").encode());
    }
    return result.getJsonObject("result").getValue("value");
  }

  /** Polls a JavaScript condition until it holds; fails naming {@code what} and the page's message line. */
  void await(Duration timeout, String what, String condition) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      if (Boolean.TRUE.equals(eval("(() => { try { return !!(" + condition + "); } catch (e) { return false; } })()"))) {
        return;
      }
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out after " + timeout.toSeconds() + " s waiting for " + what
            + "; page message: " + eval("(document.getElementById('message') || {}).textContent"));
      }
      Thread.sleep(100);
    }
  }

  /** Writes a PNG of the page to {@code file}. */
  void screenshot(Path file) throws Exception {
    String png = call("Page.captureScreenshot", new JsonObject().put("format", "png")).getString("data");
    Files.createDirectories(file.getParent());
    Files.write(file, Base64.getDecoder().decode(png));
  }

  @Override
  public void close() throws IOException {
    socket.abort();
    process.destroy();
    try {
      if (!process.waitFor(5, TimeUnit.SECONDS)) {
        process.destroyForcibly();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      process.destroyForcibly();
    }
    try (Stream<Path> files = Files.walk(profile)) {
      files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }

  /** Completes the pending command each reply names and keeps the last few events for failure messages. */
  private static final class Replies implements WebSocket.Listener {
    private final Map<Integer, CompletableFuture<JsonObject>> pending;
    private final StringBuilder partial = new StringBuilder();

    private final ArrayDeque<String> events;

    Replies(Map<Integer, CompletableFuture<JsonObject>> pending, ArrayDeque<String> events) {
      this.pending = pending;
      this.events = events;
    }

    @Override
    public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
      partial.append(data);
      if (last) {
        JsonObject message = new JsonObject(partial.toString());
        partial.setLength(0);
        Integer id = message.getInteger("id");
        if (id == null) {
          String params = message.getJsonObject("params", new JsonObject()).encode();
          synchronized (events) {
            events.addLast(message.getString("method") + " " + params.substring(0, Math.min(200, params.length())));
            if (events.size() > 12) {
              events.removeFirst();
            }
          }
        }
        if (id != null) {
          CompletableFuture<JsonObject> reply = pending.remove(id);
          if (reply != null) {
            reply.complete(message);
          }
        }
      }
      webSocket.request(1);
      return null;
    }
  }
}
