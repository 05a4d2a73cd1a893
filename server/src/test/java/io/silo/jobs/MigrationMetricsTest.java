package io.silo.jobs;

import static io.silo.jobs.MigrationFixture.awaitFinal;
import static io.silo.jobs.MigrationFixture.awaitTrue;
import static org.assertj.core.api.Assertions.assertThat;

import com.mongodb.client.MongoClient;
import com.mongodb.client.model.Filters;
import io.grpc.Context;
import io.silo.TestServer;
import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationServiceGrpc;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.StartMigrationRequest;
import io.silo.api.v1.WatchMigrationRequest;
import io.silo.api.v1.WatchMigrationResponse;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.bson.BsonDocument;
import org.bson.BsonInt32;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/** GET /metrics shows what an SRE needs to follow migrations: documents by result, batches, leases, watchers, KMS. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MigrationMetricsTest {

  private static final int DOCS = 300;
  private static final int MISFITS = 4;
  private static final Pattern SAMPLE = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{(.*)})?\\s+(\\S+)");
  private static final Pattern LABEL = Pattern.compile("(\\w+)=\"([^\"]*)\"");

  @TempDir
  static Path keyDir;

  private TestServer server;
  private MongoClient mongo;
  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(5)).build();

  /** One sample of the exposition: metric name, labels and value. */
  private record Sample(String name, Map<String, String> labels, double value) {
  }

  @BeforeAll
  void start() throws Exception {
    server = TestServer.startWithMongo(Map.of("migration.batchSize", 10, "migration.batchesInFlight", 2,
        "jobs.pollMillis", 100, "kms.budget.ratePerSecond", 20), keyDir);
    mongo = MigrationFixture.plainClient(server);
    MigrationFixture.registerTenants(server, "metrics-co");
    MigrationFixture.seed(mongo, "legacy.patients", DOCS, "metrics-co");
    for (int i = 0; i < MISFITS; i++) {
      MigrationFixture.collection(mongo, "legacy.patients").updateOne(
          Filters.eq("_id", String.format("metrics-co-%06d", 50 * i + 1)),
          new BsonDocument("$set", new BsonDocument("ssn", new BsonInt32(i))));
    }
  }

  @AfterAll
  void stop() throws Exception {
    if (mongo != null) {
      mongo.close();
    }
    if (server != null) {
      server.close();
    }
  }

  private List<Sample> scrape() throws Exception {
    URI metrics = URI.create("http://127.0.0.1:" + server.server.port() + "/metrics");
    HttpResponse<String> response = http.send(HttpRequest.newBuilder(metrics).timeout(Duration.ofSeconds(10)).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(response.statusCode()).isEqualTo(200);
    assertThat(response.headers().firstValue("content-type")).hasValueSatisfying(t -> assertThat(t)
        .startsWith("text/plain"));
    List<Sample> out = new ArrayList<>();
    for (String line : response.body().split("\n")) {
      Matcher m = SAMPLE.matcher(line);
      if (line.startsWith("#") || !m.find()) {
        continue;
      }
      Map<String, String> labels = new HashMap<>();
      if (m.group(3) != null) {
        Matcher l = LABEL.matcher(m.group(3));
        while (l.find()) {
          labels.put(l.group(1), l.group(2));
        }
      }
      out.add(new Sample(m.group(1), labels, Double.parseDouble(m.group(4))));
    }
    return out;
  }

  /** The value of the one sample with that name whose labels include {@code labels}; fails when there is none. */
  private static double value(List<Sample> samples, String name, String... labels) {
    List<Sample> found = samples.stream().filter(s -> s.name().equals(name)).filter(s -> {
      for (int i = 0; i < labels.length; i += 2) {
        if (!labels[i + 1].equals(s.labels().get(labels[i]))) {
          return false;
        }
      }
      return true;
    }).toList();
    assertThat(found).as("%s%s in /metrics", name, List.of(labels)).hasSize(1);
    return found.get(0).value();
  }

  @Test
  void metricsFollowAMigrationFromLeaseToLastDocument() throws Exception {
    assertThat(value(scrape(), "silo_watchers_active")).isZero();
    Migration started = MigrationServiceGrpc.newBlockingStub(server.channel).withDeadlineAfter(30, TimeUnit.SECONDS)
        .startMigration(StartMigrationRequest.newBuilder().addTenants("metrics-co").build()).getMigrations(0);
    Context.CancellableContext watching = Context.current().withCancellation();
    MigrationFixture.Recorder<WatchMigrationResponse> watcher = new MigrationFixture.Recorder<>();
    watching.run(() -> MigrationServiceGrpc.newStub(server.channel).watchMigration(
        WatchMigrationRequest.newBuilder().setMigrationId(started.getId()).build(), watcher));

    // While it runs: one lease, at most batchesInFlight batches, one watcher.
    double[] seen = new double[3];
    awaitTrue(Duration.ofSeconds(20), "a scrape showing the run's lease and its watcher", () -> {
      try {
        List<Sample> now = scrape();
        seen[0] = value(now, "silo_migration_leases_held");
        seen[1] = value(now, "silo_migration_batches_inflight");
        seen[2] = value(now, "silo_watchers_active");
        assertThat(seen[1]).isBetween(0.0, 2.0);
        return seen[0] == 1 && seen[2] == 1;
      } catch (Exception e) {
        throw new AssertionError(e);
      }
    });

    Migration done = awaitFinal(server, started.getId());
    assertThat(done.getState()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
    assertThat(watcher.done.get(10, TimeUnit.SECONDS)).isNull();
    watching.cancel(null);

    awaitTrue(Duration.ofSeconds(5), "the lease is handed back", () -> {
      try {
        return value(scrape(), "silo_migration_leases_held") == 0;
      } catch (Exception e) {
        throw new AssertionError(e);
      }
    });
    List<Sample> after = scrape();
    assertThat(value(after, "silo_migration_documents_total", "result", "migrated")).isEqualTo(DOCS - MISFITS);
    assertThat(value(after, "silo_migration_documents_total", "result", "failed")).isEqualTo(MISFITS);
    assertThat(value(after, "silo_migration_documents_total", "result", "already_present")).isZero();
    assertThat(value(after, "silo_migration_batches_inflight")).isZero();
    assertThat(value(after, "silo_watchers_active")).isZero();
    assertThat(value(after, "silo_migration_leases_lost_total")).isZero();

    // The local provider's KMS budget: its ceiling, a permit per batch that had documents to encrypt, no queue.
    assertThat(value(after, "silo_kms_budget_rate", "provider", "local")).isEqualTo(20);
    assertThat(value(after, "silo_kms_budget_permits_total", "provider", "local")).isGreaterThanOrEqualTo(DOCS / 10);
    assertThat(value(after, "silo_kms_budget_waiters", "provider", "local")).isZero();
    assertThat(value(after, "silo_kms_budget_throttles_total", "provider", "local")).isZero();
    assertThat(value(after, "silo_kms_budget_rejected_total", "provider", "local")).isZero();
  }
}
