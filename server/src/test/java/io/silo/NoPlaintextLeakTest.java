package io.silo;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.joran.JoranConfigurator;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.AppenderBase;
import com.google.protobuf.MessageOrBuilder;
import com.google.protobuf.util.JsonFormat;
import com.mongodb.client.MongoClient;
import io.grpc.Channel;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.StatusRuntimeException;
import io.silo.api.v1.AuditServiceGrpc;
import io.silo.api.v1.GetCompletionReportRequest;
import io.silo.api.v1.ListAuditEventsRequest;
import io.silo.api.v1.ListMigrationsRequest;
import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationServiceGrpc;
import io.silo.api.v1.PlanMigrationRequest;
import io.silo.api.v1.StartMigrationRequest;
import io.silo.api.v1.VerifyTenantRequest;
import io.silo.api.v1.WatchMigrationRequest;
import io.silo.auth.TokenRegistry;
import io.silo.config.SiloConfig;
import io.silo.dev.DemoSeeder;
import io.silo.dev.DevOptions;
import io.silo.dev.DevStack;
import io.silo.dev.mongo.DevMongoLauncher;
import io.silo.jobs.MigrationFixture;
import io.silo.mongo.MongoClientFactory;
import io.vertx.core.Vertx;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.bson.Document;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * After a full demo migration with Silo's own logging configuration at DEBUG, no plaintext value of any encrypted
 * field (ssn, name, diagnosis, dob, notes) appears in the captured logs, a dump of every PostgreSQL table, the
 * progress events, the completion reports, verify findings, error messages, the audit trail, /metrics or the encrypted
 * target. A positive control shows the search finds a value planted in each of those.
 */
class NoPlaintextLeakTest {

  private static final String ADMIN = "leak-test-admin-token-0001";
  /** An ssn of the wrong type: the document cannot be encrypted as planned, so its failure is reported. */
  private static final long UNFIT_SSN = 987_650_123L;
  private static final Set<String> ENCRYPTED = Set.of("ssn", "name", "diagnosis", "dob", "notes");

  @TempDir
  Path dir;

  @Test
  void aDemoMigrationLeavesNoPlaintextInLogsDatabaseEventsReportsErrorsOrMetrics() throws Exception {
    Capture logs = Capture.atDebugWithSiloLogging();
    Vertx vertx = Vertx.vertx();
    Map<String, String> haystacks = new LinkedHashMap<>();
    Set<String> secrets;
    try (DevStack stack = DevStack.start(DevOptions.defaults().withDataDir(dir.resolve("data")).withEphemeralPorts(),
        DevMongoLauncher::start)) {
      stack.seedDemo(DemoSeeder.Options.defaults().withCounts(3, 300, 5), line -> { });
      try (MongoClient mongo = MongoClientFactory.sync(stack.mongo().connectionString())) {
        var source = mongo.getDatabase("legacy").getCollection("patients");
        source.insertOne(new Document("tenantId", "acme-health").append("ssn", UNFIT_SSN)
            .append("name", "Unfit Zebedee").append("diagnosis", "Z99.9 Unfit planted diagnosis")
            .append("dob", new Date(-123_456_789_000L)).append("notes", "Planted note that must not leak."));
        secrets = plaintextValues(source.find());
        assertThat(secrets).as("values of 301 patients").hasSizeGreaterThan(300);

        Map<String, Object> settings = DevCommand.stackSettings(stack, 0, false);
        settings.put("grpc.shutdownGraceSeconds", 2);
        settings.put("log.level", "debug");
        settings.put("auth.tokens", List.of("leak-admin:admin:" + TokenRegistry.hashHex(ADMIN)));
        SiloServer server = SiloServer.start(vertx, SiloConfig.of(settings)).toCompletionStage()
            .toCompletableFuture().get(60, TimeUnit.SECONDS);
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
        try {
          runDemo(admin(channel), haystacks);
          haystacks.put("metrics", server.metrics().scrape());
        } finally {
          channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
          server.shutdown().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        }
        haystacks.put("encrypted target and key vault", mongo.getDatabase("medical").getCollection("patients")
            .find().map(Document::toJson).into(new ArrayList<>()) + " " + mongo.getDatabase("encryption")
            .getCollection("__keyVault").find().map(Document::toJson).into(new ArrayList<>()));
      }
      haystacks.put("postgres", postgresDump(stack));
    } finally {
      vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
      logs.stop();
    }
    haystacks.put("logs", logs.text());
    assertThat(logs.debugLines()).as("DEBUG lines were captured").isPositive();

    String planted = secrets.iterator().next();
    for (Map.Entry<String, String> haystack : haystacks.entrySet()) {
      assertThat(haystack.getValue()).as("%s was collected", haystack.getKey()).isNotBlank();
      assertThat(hits(haystack.getValue() + " planted:" + planted + ".", secrets))
          .as("positive control: a value planted in %s is found", haystack.getKey()).containsExactly(planted);
      assertThat(hits(haystack.getValue(), secrets)).as("plaintext in %s", haystack.getKey()).isEmpty();
    }
  }

  private static void runDemo(Channel admin, Map<String, String> haystacks) throws Exception {
    MigrationServiceGrpc.MigrationServiceBlockingStub migrations = MigrationServiceGrpc.newBlockingStub(admin);
    MigrationFixture.Recorder<io.silo.api.v1.WatchMigrationResponse> watched = new MigrationFixture.Recorder<>();
    MigrationServiceGrpc.newStub(admin).watchMigration(WatchMigrationRequest.newBuilder().setAll(true).build(),
        watched);
    StringBuilder errors = new StringBuilder();
    errors.append(json(migrations.planMigration(PlanMigrationRequest.newBuilder().setAllTenants(true).build())));
    List<Migration> started = migrations.startMigration(StartMigrationRequest.newBuilder().setAllTenants(true)
        .build()).getMigrationsList();
    StringBuilder reports = new StringBuilder();
    for (Migration m : started) {
      Migration done = MigrationFixture.await(admin, m.getId(), Duration.ofSeconds(180), Migration::hasCompleteTime,
          "a final state");
      reports.append(json(done)).append(json(migrations.getCompletionReport(
          GetCompletionReportRequest.newBuilder().setMigrationId(m.getId()).build())));
      migrations.verifyTenant(VerifyTenantRequest.newBuilder().setTenant(m.getTenant()).build())
          .forEachRemaining(event -> reports.append(json(event)));
    }
    reports.append(json(migrations.listMigrations(ListMigrationsRequest.getDefaultInstance())));
    assertThat(reports.toString()).as("the unfit document is reported").contains("acme-health");
    // Refused and failing calls, whose messages go back to the caller.
    for (Runnable call : List.<Runnable>of(
        () -> migrations.startMigration(StartMigrationRequest.newBuilder().addTenants("no-such-tenant").build()),
        () -> migrations.planMigration(PlanMigrationRequest.newBuilder().addTenants("Not A Slug!").build()),
        () -> migrations.getCompletionReport(GetCompletionReportRequest.newBuilder().setMigrationId("x").build()))) {
      try {
        call.run();
      } catch (StatusRuntimeException e) {
        errors.append(e.getStatus()).append('\n');
      }
    }
    haystacks.put("error messages", errors.toString());
    haystacks.put("completion reports, migrations and verify findings", reports.toString());
    haystacks.put("audit trail", json(AuditServiceGrpc.newBlockingStub(admin).listAuditEvents(
        ListAuditEventsRequest.newBuilder().setPageSize(1000).build())));
    StringBuilder events = new StringBuilder();
    synchronized (watched.items) {
      watched.items.forEach(event -> events.append(json(event)));
    }
    haystacks.put("progress events", events.toString());
  }

  /** Every value of every encrypted field, as stored and in the forms a date takes in text. */
  private static Set<String> plaintextValues(Iterable<Document> documents) {
    Set<String> values = new TreeSet<>();
    for (Document d : documents) {
      for (String field : ENCRYPTED) {
        Object value = d.get(field);
        if (value instanceof Date date) {
          values.add(date.toInstant().atOffset(ZoneOffset.UTC).toLocalDate().toString());
          values.add(String.valueOf(date.getTime()));
        } else if (value != null) {
          values.add(value.toString());
        }
      }
    }
    return values;
  }

  private static List<String> hits(String haystack, Set<String> secrets) {
    return secrets.stream().filter(haystack::contains).toList();
  }

  /** Every row of every table outside PostgreSQL's catalogs, Silo's and the application's, as JSON. */
  private static String postgresDump(DevStack stack) throws Exception {
    StringBuilder out = new StringBuilder();
    try (Connection c = DriverManager.getConnection(stack.postgres().jdbcUrl(), stack.postgres().user(),
        stack.postgres().password()); Statement st = c.createStatement()) {
      List<String> tables = new ArrayList<>();
      try (ResultSet rs = st.executeQuery("SELECT quote_ident(table_schema) || '.' || quote_ident(table_name)"
          + " FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
          + " AND table_schema NOT IN ('pg_catalog', 'information_schema')")) {
        while (rs.next()) {
          tables.add(rs.getString(1));
        }
      }
      assertThat(tables).as("Silo's and the application's tables").contains("silo.audit_log", "silo.migrations",
          "silo.migration_failures", "public.tenants", "public.documents");
      for (String table : tables) {
        try (ResultSet rs = st.executeQuery("SELECT row_to_json(t)::text FROM " + table + " t")) {
          while (rs.next()) {
            out.append(table).append(' ').append(rs.getString(1)).append('\n');
          }
        }
      }
    }
    return out.toString();
  }

  private static Channel admin(Channel channel) {
    io.grpc.Metadata headers = new io.grpc.Metadata();
    headers.put(io.grpc.Metadata.Key.of("authorization", io.grpc.Metadata.ASCII_STRING_MARSHALLER), "Bearer " + ADMIN);
    return io.grpc.ClientInterceptors.intercept(channel,
        io.grpc.stub.MetadataUtils.newAttachHeadersInterceptor(headers));
  }

  private static String json(MessageOrBuilder message) {
    try {
      return JsonFormat.printer().print(message) + "\n";
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  /** Silo's production logging configuration (src/main/resources/logback.xml) at DEBUG, captured in memory. */
  private static final class Capture extends AppenderBase<ILoggingEvent> {
    private final StringBuffer text = new StringBuffer();
    private int debugLines;

    static Capture atDebugWithSiloLogging() throws Exception {
      LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
      System.setProperty("silo.log.level", "DEBUG");
      System.setProperty("silo.log.format", "text");
      context.reset();
      JoranConfigurator configurator = new JoranConfigurator();
      configurator.setContext(context);
      configurator.doConfigure(SiloServer.class.getResource("/logback.xml"));
      Capture capture = new Capture();
      capture.setContext(context);
      capture.start();
      ch.qos.logback.classic.Logger root = context.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
      assertThat(root.getLevel()).isEqualTo(Level.DEBUG);
      root.addAppender(capture);
      return capture;
    }

    @Override
    protected synchronized void append(ILoggingEvent event) {
      if (event.getLevel() == Level.DEBUG) {
        debugLines++;
      }
      text.append(event.getLoggerName()).append(' ').append(event.getFormattedMessage()).append(' ')
          .append(event.getMDCPropertyMap()).append('\n');
      if (event.getThrowableProxy() != null) {
        text.append(ThrowableProxyUtil.asString(event.getThrowableProxy())).append('\n');
      }
    }

    synchronized int debugLines() {
      return debugLines;
    }

    String text() {
      return text.toString();
    }
  }
}
