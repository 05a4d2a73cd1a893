package io.silo.s3;

import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.net.HostAndPort;
import java.net.URI;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;

/**
 * An HTTP proxy in front of an S3 endpoint that misbehaves on purpose: a share of requests gets 503 SlowDown, 500
 * InternalError or a connection reset (RST), before the request is forwarded or after the server answered (the
 * answer is lost), each request can be held back by a fixed
 * latency (an emulated network round trip), and a rule can answer chosen requests 403 AccessDenied (a missing
 * permission). Bodies are buffered, which is fine for test-sized objects.
 */
final class FaultProxy implements AutoCloseable {

    private static final Set<String> HOP_BY_HOP = Set.of("connection", "keep-alive", "transfer-encoding",
            "content-length", "expect", "upgrade", "te", "trailer", "proxy-connection");

    private final Vertx vertx;
    private final HttpServer server;
    private final HttpClient client;
    private final String targetHost;
    private final int targetPort;
    private final Random random;
    private volatile double faultRate;
    private volatile long latencyMillis;
    private volatile Predicate<HttpServerRequest> forbidden = r -> false;
    final AtomicLong requests = new AtomicLong();
    final AtomicLong slowDowns = new AtomicLong();
    final AtomicLong serverErrors = new AtomicLong();
    final AtomicLong resets = new AtomicLong();
    final AtomicLong denied = new AtomicLong();

    private FaultProxy(Vertx vertx, HttpServer server, HttpClient client, String targetHost, int targetPort,
                       long seed) {
        this.vertx = vertx;
        this.server = server;
        this.client = client;
        this.targetHost = targetHost;
        this.targetPort = targetPort;
        this.random = new Random(seed);
    }

    /** Starts on an ephemeral loopback port, forwarding to {@code target} (http://host:port). */
    static FaultProxy start(Vertx vertx, String target, double faultRate, long latencyMillis, long seed)
            throws Exception {
        URI uri = URI.create(target);
        HttpClient client = vertx.createHttpClient(new HttpClientOptions().setKeepAlive(true).setTcpNoDelay(true),
                new PoolOptions().setHttp1MaxSize(600));
        // SO_LINGER 0: closing a connection sends RST, the "connection reset" a client sees from a crashed server.
        HttpServer server = vertx.createHttpServer(new HttpServerOptions().setSoLinger(0).setTcpNoDelay(true)
                .setHandle100ContinueAutomatically(true).setMaxInitialLineLength(16 * 1024)
                .setMaxHeaderSize(64 * 1024));
        FaultProxy proxy = new FaultProxy(vertx, server, client, uri.getHost(), uri.getPort(), seed);
        proxy.faultRate = faultRate;
        proxy.latencyMillis = latencyMillis;
        server.requestHandler(proxy::handle);
        server.listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        return proxy;
    }

    int port() {
        return server.actualPort();
    }

    String endpoint() {
        return "http://127.0.0.1:" + port();
    }

    void faultRate(double rate) {
        this.faultRate = rate;
    }

    void latencyMillis(long millis) {
        this.latencyMillis = millis;
    }

    /** Answers requests matching {@code rule} with 403 AccessDenied. */
    void forbid(Predicate<HttpServerRequest> rule) {
        this.forbidden = rule;
    }

    long faults() {
        return slowDowns.get() + serverErrors.get() + resets.get();
    }

    private synchronized double roll() {
        return random.nextDouble();
    }

    private void handle(HttpServerRequest req) {
        requests.incrementAndGet();
        req.body().onSuccess(body -> {
            if (forbidden.test(req)) {
                denied.incrementAndGet();
                error(req, 403, "AccessDenied", "Access Denied");
                return;
            }
            double r = roll();
            if (r < faultRate / 3) {
                slowDowns.incrementAndGet();
                error(req, 503, "SlowDown", "Please reduce your request rate.");
            } else if (r < 2 * faultRate / 3) {
                serverErrors.incrementAndGet();
                error(req, 500, "InternalError", "We encountered an internal error. Please try again.");
            } else if (r < 5 * faultRate / 6) {
                resets.incrementAndGet();
                req.connection().close();
            } else if (r < faultRate) {
                // The server does the work, the client never hears of it: a retried write must not do it twice.
                resets.incrementAndGet();
                forward(req, body, true);
            } else if (latencyMillis > 0) {
                vertx.setTimer(latencyMillis, t -> forward(req, body, false));
            } else {
                forward(req, body, false);
            }
        });
    }

    private static void error(HttpServerRequest req, int status, String code, String message) {
        String xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>" + code + "</Code><Message>" + message
                + "</Message></Error>";
        req.response().setStatusCode(status).putHeader("Content-Type", "application/xml");
        if (req.method() == HttpMethod.HEAD) {
            req.response().end();
        } else {
            req.response().end(xml);
        }
    }

    private void forward(HttpServerRequest req, Buffer body, boolean dropResponse) {
        RequestOptions options = new RequestOptions().setMethod(req.method()).setHost(targetHost).setPort(targetPort)
                .setURI(req.uri());
        MultiMap headers = MultiMap.caseInsensitiveMultiMap();
        req.headers().forEach((k, v) -> {
            if (!HOP_BY_HOP.contains(k.toLowerCase(java.util.Locale.ROOT)) && !k.equalsIgnoreCase("host")) {
                headers.add(k, v);
            }
        });
        options.setHeaders(headers);
        HostAndPort authority = req.authority();
        Future<Buffer> done = client.request(options).compose(out -> {
            if (authority != null) {
                out.authority(authority); // keeps a SigV4 signature over Host valid
            }
            return out.send(body).compose(in -> in.body().map(data -> {
                if (dropResponse) {
                    req.connection().close();
                    return data;
                }
                var response = req.response().setStatusCode(in.statusCode()).setStatusMessage(in.statusMessage());
                in.headers().forEach((k, v) -> {
                    String lower = k.toLowerCase(java.util.Locale.ROOT);
                    if (!HOP_BY_HOP.contains(lower)) {
                        response.headers().add(k, v);
                    }
                });
                if (req.method() == HttpMethod.HEAD) {
                    String length = in.getHeader("content-length");
                    if (length != null) {
                        response.putHeader("content-length", length);
                    }
                    response.end();
                } else {
                    response.end(data);
                }
                return data;
            }));
        });
        done.onFailure(e -> req.connection().close());
    }

    @Override
    public void close() {
        server.close();
        client.close();
    }
}
