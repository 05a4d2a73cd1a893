package io.silo.api;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.HashMap;
import java.util.Map;

/**
 * Serves the dashboard's static files (classpath {@code ui/}) at {@code /ui}. The files are public; every API call
 * the page makes carries the token the person types in, and goes through the same gate as any other client.
 */
public final class DashboardAssets {

  /** The URL prefix the page lives under. */
  public static final String PREFIX = "/ui";

  // A fixed list read once at start-up: nothing is read from the jar on the event loop, and no request path ever
  // reaches the class loader, so there is nothing to traverse.
  private static final Map<String, String> FILES = Map.of(
      "index.html", "text/html; charset=utf-8",
      "app.js", "text/javascript; charset=utf-8",
      "app.css", "text/css; charset=utf-8");

  // The page talks only to its own origin and runs only its own script.
  private static final String CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self';"
      + " img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

  private final Map<String, Buffer> bodies = new HashMap<>();

  /** Loads the files from the class path. */
  public DashboardAssets() {
    for (String name : FILES.keySet()) {
      try (InputStream in = DashboardAssets.class.getClassLoader().getResourceAsStream("ui/" + name)) {
        if (in != null) {
          bodies.put(name, Buffer.buffer(in.readAllBytes()));
        }
      } catch (IOException e) {
        throw new UncheckedIOException("cannot read dashboard file ui/" + name, e);
      }
    }
  }

  /** Whether {@code request} is for the dashboard rather than for gRPC or /metrics. */
  public static boolean wants(HttpServerRequest request) {
    String path = request.path();
    return (request.method() == HttpMethod.GET || request.method() == HttpMethod.HEAD) && path != null
        && (path.equals(PREFIX) || path.startsWith(PREFIX + "/"));
  }

  /** Answers a request {@link #wants} accepted: the file, or 404. */
  public void serve(HttpServerRequest request) {
    String path = request.path();
    String name = path.length() <= PREFIX.length() + 1 ? "index.html" : path.substring(PREFIX.length() + 1);
    Buffer body = bodies.get(name);
    if (body == null) {
      request.response().setStatusCode(404).putHeader("content-type", "text/plain; charset=utf-8")
          .end("not found\n");
      return;
    }
    request.response()
        .putHeader("content-type", FILES.get(name))
        // Revalidated on every load, so a browser never mixes an old script with a newer server.
        .putHeader("cache-control", "no-cache")
        .putHeader("content-security-policy", CSP)
        .putHeader("x-content-type-options", "nosniff")
        .putHeader("referrer-policy", "no-referrer");
    if (request.method() == HttpMethod.HEAD) {
      request.response().putHeader("content-length", String.valueOf(body.length())).end();
    } else {
      request.response().end(body);
    }
  }
}
