package io.silo.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.silo.TestServer;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/** Browsers reach Silo over gRPC-Web (HTTP/1.1) with CORS limited to the configured origins. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GrpcWebCorsTest {

  private static final String ALLOWED = "https://dash.example.com";
  private TestServer server;
  private HttpClient http;

  @BeforeAll
  void start() throws Exception {
    server = TestServer.start(Map.of("grpc.corsOrigins", List.of(ALLOWED)));
    // One connection per request: a refused preflight must not leave a half-read connection for the next test.
    http = server.vertx.createHttpClient(new io.vertx.core.http.HttpClientOptions().setKeepAlive(false));
  }

  @AfterAll
  void stop() throws Exception {
    server.close();
  }

  /** A response and its whole body, read inside the same callback so no body bytes are missed. */
  private record Reply(HttpClientResponse response, Buffer body) {
  }

  /**
   * Status and headers only. The body is not read: a small response can end before a body handler is attached, and
   * then waiting for it would hang.
   */
  private HttpClientResponse send(HttpMethod method, String origin, Map<String, String> headers, Buffer body)
      throws Exception {
    RequestOptions options = new RequestOptions().setMethod(method).setHost("127.0.0.1").setPort(server.server.port())
        .setURI("/grpc.health.v1.Health/Check").putHeader("Origin", origin);
    headers.forEach(options::putHeader);
    return http.request(options)
        .compose(req -> body == null ? req.send() : req.send(body))
        .toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
  }

  private Reply exchange(HttpMethod method, String origin, Map<String, String> headers, Buffer body)
      throws Exception {
    RequestOptions options = new RequestOptions().setMethod(method).setHost("127.0.0.1").setPort(server.server.port())
        .setURI("/grpc.health.v1.Health/Check").putHeader("Origin", origin);
    headers.forEach(options::putHeader);
    return http.request(options)
        .compose(req -> body == null ? req.send() : req.send(body))
        .compose(resp -> resp.body().map(b -> new Reply(resp, b)))
        .toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
  }

  @Test
  void preflightFromAllowedOriginIsAnsweredWithGrpcHeaders() throws Exception {
    HttpClientResponse response = send(HttpMethod.OPTIONS, ALLOWED, Map.of(
        "Access-Control-Request-Method", "POST",
        "Access-Control-Request-Headers", "content-type,x-grpc-web"), null);
    assertThat(response.statusCode()).isBetween(200, 204);
    assertThat(response.getHeader("Access-Control-Allow-Origin")).isEqualTo(ALLOWED);
    assertThat(response.getHeader("Access-Control-Allow-Headers")).containsIgnoringCase("x-grpc-web");
  }

  @Test
  void preflightFromOtherOriginIsRefused() throws Exception {
    HttpClientResponse response = send(HttpMethod.OPTIONS, "https://evil.example.org", Map.of(
        "Access-Control-Request-Method", "POST"), null);
    assertThat(response.getHeader("Access-Control-Allow-Origin")).isNull();
    assertThat(response.statusCode()).isGreaterThanOrEqualTo(400);
  }

  @Test
  void grpcWebCallFromAllowedOriginReturnsFramedResponseAndTrailers() throws Exception {
    byte[] message = HealthCheckRequest.newBuilder().build().toByteArray();
    Buffer frame = Buffer.buffer().appendByte((byte) 0).appendInt(message.length).appendBytes(message);
    Reply reply = exchange(HttpMethod.POST, ALLOWED, Map.of(
        "content-type", "application/grpc-web+proto", "x-grpc-web", "1"), frame);
    HttpClientResponse response = reply.response();
    Buffer body = reply.body();
    assertThat(response.statusCode()).isEqualTo(200);
    assertThat(response.getHeader("Access-Control-Allow-Origin")).isEqualTo(ALLOWED);
    assertThat(body.getByte(0)).isEqualTo((byte) 0);
    int length = body.getInt(1);
    HealthCheckResponse parsed = HealthCheckResponse.parseFrom(body.getBytes(5, 5 + length));
    assertThat(parsed.getStatus()).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
    // gRPC-Web carries trailers in a final frame flagged 0x80.
    assertThat(body.getByte(5 + length) & 0x80).isEqualTo(0x80);
    assertThat(body.getString(10 + length, body.length())).contains("grpc-status:0");
  }
}
