package io.silo.ui;

import static org.assertj.core.api.Assertions.assertThat;

import io.silo.TestServer;
import io.silo.api.v1.CreateTenantKeyRequest;
import io.silo.api.v1.KeyServiceGrpc;
import io.silo.api.v1.RegisterTenantRequest;
import io.silo.api.v1.TenantServiceGrpc;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every metric the Grafana board in src/grafana/silo.json queries is one a real Silo exposes at /metrics. */
class GrafanaDashboardTest {

  private static final Path BOARD = Path.of("..", "src", "grafana", "silo.json");
  private static final Pattern METRIC = Pattern.compile("\\b(?:silo|jvm)_[a-z0-9_]+");

  @TempDir
  Path keyDir;

  @Test
  void everyQueriedMetricIsInARealScrape() throws Exception {
    Set<String> queried = queriedMetrics(new JsonObject(Files.readString(BOARD)));
    // The board covers throughput, failures, KMS budget and throttles, watchers, leases and heap.
    assertThat(queried).contains("silo_migration_documents_total", "silo_kms_budget_throttles_total",
        "silo_watchers_active", "silo_migration_leases_held", "jvm_memory_used_bytes");
    try (TestServer server = TestServer.startWithMongo(Map.of(), keyDir)) {
      // A key creation goes through the KMS budget, whose meters exist per provider once it is first used.
      TenantServiceGrpc.newBlockingStub(server.channel).registerTenant(
          RegisterTenantRequest.newBuilder().setSlug("grafana-co").setDisplayName("Grafana Co").build());
      KeyServiceGrpc.newBlockingStub(server.channel).createTenantKey(
          CreateTenantKeyRequest.newBuilder().setTenant("grafana-co").build());
      String scrape = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
              URI.create("http://127.0.0.1:" + server.server.port() + "/metrics")).build(),
          HttpResponse.BodyHandlers.ofString()).body();
      Set<String> exposed = scrape.lines().filter(line -> !line.isBlank() && !line.startsWith("#"))
          .map(line -> line.split("[{ ]", 2)[0]).collect(Collectors.toCollection(TreeSet::new));
      assertThat(exposed).as("metrics in a real /metrics scrape").containsAll(queried);
    }
  }

  private static Set<String> queriedMetrics(JsonObject board) {
    Set<String> names = new TreeSet<>();
    for (Object panel : board.getJsonArray("panels")) {
      for (Object target : ((JsonObject) panel).getJsonArray("targets", new JsonArray())) {
        collect(((JsonObject) target).getString("expr", ""), names);
      }
    }
    for (Object variable : board.getJsonObject("templating").getJsonArray("list")) {
      collect(((JsonObject) variable).getString("definition", ""), names);
    }
    return names;
  }

  private static void collect(String expression, Set<String> into) {
    Matcher m = METRIC.matcher(expression);
    while (m.find()) {
      into.add(m.group());
    }
  }
}
