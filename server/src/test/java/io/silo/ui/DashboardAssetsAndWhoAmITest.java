package io.silo.ui;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.grpc.ClientInterceptors;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import io.silo.TestServer;
import io.silo.api.v1.CallerRole;
import io.silo.api.v1.SessionServiceGrpc;
import io.silo.api.v1.WhoAmIRequest;
import io.silo.api.v1.WhoAmIResponse;
import io.silo.auth.TokenRegistry;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The dashboard's files are served from the jar at /ui without a token (and nothing else is), and WhoAmI tells each
 * token its name, role and scope while a call without a token is refused.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DashboardAssetsAndWhoAmITest {

  private static final String VIEWER = "assets-viewer-token-0001";
  private static final String SCOPED = "assets-scoped-token-0002";

  private TestServer server;
  private final HttpClient http = HttpClient.newHttpClient();

  @BeforeAll
  void start() throws Exception {
    server = TestServer.start(Map.of("auth.tokens", List.of("look:viewer:" + TokenRegistry.hashHex(VIEWER),
        "acme-ops:operator:acme-co:" + TokenRegistry.hashHex(SCOPED))));
  }

  @AfterAll
  void stop() throws Exception {
    server.close();
  }

  @Test
  void pageAndAssetsAreServedFromTheJarWithoutAToken() throws Exception {
    HttpResponse<String> page = get("/ui");
    assertThat(page.statusCode()).isEqualTo(200);
    assertThat(page.headers().firstValue("content-type")).hasValue("text/html; charset=utf-8");
    assertThat(page.headers().firstValue("content-security-policy")).get().asString()
        .contains("script-src 'self'").contains("connect-src 'self'");
    assertThat(page.body()).contains("<script src=\"/ui/app.js\"");
    assertThat(get("/ui/").body()).isEqualTo(page.body());
    HttpResponse<String> script = get("/ui/app.js");
    assertThat(script.statusCode()).isEqualTo(200);
    assertThat(script.headers().firstValue("content-type")).hasValue("text/javascript; charset=utf-8");
    // The bundle, not a placeholder: it carries the page's own code.
    assertThat(script.body()).contains("reconnecting in");
    assertThat(get("/ui/app.css").statusCode()).isEqualTo(200);
  }

  @Test
  void onlyTheListedFilesAreServed() throws Exception {
    for (String path : List.of("/ui/nope.js", "/ui/../logback.xml", "/ui/logback.xml", "/ui/ui/app.js",
        "/ui/%2e%2e/logback.xml")) {
      HttpResponse<String> response = get(path);
      assertThat(response.statusCode()).as(path).isEqualTo(404);
      assertThat(response.body()).as(path).isEqualTo("not found\n");
    }
    // Not under /ui: left to the gRPC server, which wants a token for it.
    assertThat(get("/uix").statusCode()).isNotEqualTo(200);
  }

  @Test
  void whoAmITellsEachTokenItsRoleAndScope() {
    WhoAmIResponse viewer = whoAmI(VIEWER);
    assertThat(viewer.getName()).isEqualTo("look");
    assertThat(viewer.getRole()).isEqualTo(CallerRole.CALLER_ROLE_VIEWER);
    assertThat(viewer.getTenant()).isEmpty();
    assertThat(viewer.getAuthDisabled()).isFalse();
    WhoAmIResponse scoped = whoAmI(SCOPED);
    assertThat(scoped.getRole()).isEqualTo(CallerRole.CALLER_ROLE_OPERATOR);
    assertThat(scoped.getTenant()).isEqualTo("acme-co");
    StatusRuntimeException refused = catchThrowableOfType(() -> SessionServiceGrpc.newBlockingStub(server.channel)
        .whoAmI(WhoAmIRequest.getDefaultInstance()), StatusRuntimeException.class);
    assertThat(refused.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
  }

  private WhoAmIResponse whoAmI(String token) {
    Metadata headers = new Metadata();
    headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
    return SessionServiceGrpc.newBlockingStub(ClientInterceptors.intercept(server.channel,
        MetadataUtils.newAttachHeadersInterceptor(headers))).whoAmI(WhoAmIRequest.getDefaultInstance());
  }

  private HttpResponse<String> get(String path) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.server.port() + path))
        .version(HttpClient.Version.HTTP_1_1).build(), HttpResponse.BodyHandlers.ofString());
  }
}
