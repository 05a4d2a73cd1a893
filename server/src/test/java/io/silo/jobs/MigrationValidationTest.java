package io.silo.jobs;

import static io.silo.jobs.MigrationFixture.awaitFinal;
import static io.silo.jobs.MigrationFixture.count;
import static io.silo.jobs.MigrationFixture.migrationRows;
import static io.silo.jobs.MigrationFixture.statusOf;
import static org.assertj.core.api.Assertions.assertThat;

import com.mongodb.client.MongoClient;
import com.mongodb.client.model.Filters;
import io.grpc.Status;
import io.silo.TestServer;
import io.silo.api.Validation;
import io.silo.api.v1.CancelMigrationRequest;
import io.silo.api.v1.EncryptionAlgorithm;
import io.silo.api.v1.FailedItem;
import io.silo.api.v1.FieldPlan;
import io.silo.api.v1.GetCompletionReportRequest;
import io.silo.api.v1.GetCompletionReportResponse;
import io.silo.api.v1.GetMigrationRequest;
import io.silo.api.v1.ListMigrationsRequest;
import io.silo.api.v1.ListMigrationsResponse;
import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationDefinition;
import io.silo.api.v1.MigrationServiceGrpc;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.PauseMigrationRequest;
import io.silo.api.v1.ResumeMigrationRequest;
import io.silo.api.v1.RollbackMigrationRequest;
import io.silo.api.v1.StartMigrationRequest;
import io.silo.api.v1.WatchMigrationRequest;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.bson.BsonDocument;
import org.bson.BsonInt32;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad requests get a specific status whose message names the request field, and change nothing; listing and the
 * completion report page correctly. Tenant val-co is never migrated, so any row or target document of it is a leak.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MigrationValidationTest {

  private static final String TARGET = "medical.patients";
  private static final int MISFITS = 7;

  @TempDir
  static Path keyDir;

  private TestServer server;
  private MongoClient mongo;
  /** Migrations made in set-up, oldest first: list-a, list-b (rolled back), list-c, list-a again, report-co. */
  private final List<Migration> made = new ArrayList<>();
  private Migration report;

  @BeforeAll
  void start() throws Exception {
    server = TestServer.startWithMongo(Map.of("migration.batchSize", 10, "jobs.pollMillis", 100), keyDir);
    mongo = MigrationFixture.plainClient(server);
    MigrationFixture.registerTenants(server, "val-co", "list-a", "list-b", "list-c", "report-co");
    MigrationFixture.seed(mongo, "legacy.patients", 5, "val-co", "list-a", "list-b", "list-c");
    MigrationFixture.seed(mongo, "legacy.patients", 20, "report-co");
    // Every third report-co patient has a numeric ssn, which the plan's "string" refuses.
    for (int i = 0; i < MISFITS; i++) {
      MigrationFixture.collection(mongo, "legacy.patients").updateOne(
          Filters.eq("_id", String.format("report-co-%06d", i * 3)),
          new BsonDocument("$set", new BsonDocument("ssn", new BsonInt32(100000 + i))));
    }
    for (String tenant : List.of("list-a", "list-b", "list-c", "list-a", "report-co")) {
      made.add(completed(tenant));
    }
    report = made.get(4);
    api().rollbackMigration(RollbackMigrationRequest.newBuilder().setTenant("list-b").build());
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

  private MigrationServiceGrpc.MigrationServiceBlockingStub api() {
    return MigrationServiceGrpc.newBlockingStub(server.channel).withDeadlineAfter(30, TimeUnit.SECONDS);
  }

  private Migration completed(String tenant) throws InterruptedException {
    Migration started = api().startMigration(StartMigrationRequest.newBuilder().addTenants(tenant).build())
        .getMigrations(0);
    Migration done = awaitFinal(server, started.getId());
    assertThat(done.getState()).as(done.getLastError()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
    return done;
  }

  /** A start of val-co with the given definition must fail with {@code code} naming {@code field}, leaving no trace. */
  private void refused(Consumer<MigrationDefinition.Builder> definition, Status.Code code, String field)
      throws Exception {
    MigrationDefinition.Builder d = MigrationDefinition.newBuilder();
    definition.accept(d);
    refused(StartMigrationRequest.newBuilder().addTenants("val-co").setDefinition(d).build(), code, field);
  }

  private void refused(StartMigrationRequest request, Status.Code code, String field) throws Exception {
    Status status = statusOf(() -> api().startMigration(request));
    assertThat(status.getCode()).as("%s -> %s", request, status).isEqualTo(code);
    assertThat(status.getDescription()).as("%s", request).startsWith(field);
    assertThat(migrationRows(server, "val-co")).isZero();
    assertThat(count(mongo, TARGET, "val-co")).isZero();
  }

  private static FieldPlan field(String path, EncryptionAlgorithm algorithm, String type) {
    return FieldPlan.newBuilder().setPath(path).setAlgorithm(algorithm).setBsonType(type).build();
  }

  private static final EncryptionAlgorithm DET = EncryptionAlgorithm.ENCRYPTION_ALGORITHM_DETERMINISTIC;
  private static final EncryptionAlgorithm RND = EncryptionAlgorithm.ENCRYPTION_ALGORITHM_RANDOM;

  @Test
  void unknownTenantsAreNotFoundByTheirPositionAndNothingStarts() throws Exception {
    Status one = statusOf(() -> api().startMigration(
        StartMigrationRequest.newBuilder().addTenants("nobody-co").build()));
    assertThat(one.getCode()).isEqualTo(Status.Code.NOT_FOUND);
    assertThat(one.getDescription()).startsWith("tenants[0]").contains("nobody-co");
    refused(StartMigrationRequest.newBuilder().addTenants("val-co").addTenants("nobody-co").build(),
        Status.Code.NOT_FOUND, "tenants[1]");
    refused(StartMigrationRequest.newBuilder().addTenants("Val_Co").build(), Status.Code.INVALID_ARGUMENT,
        "tenants[0]");
    assertThat(migrationRows(server, "nobody-co")).isZero();
  }

  @Test
  void askingForTheS3PhaseIsRefusedRatherThanSilentlySkipped() throws Exception {
    refused(d -> d.setIncludeS3(true), Status.Code.FAILED_PRECONDITION, "definition.include_s3");
  }

  @Test
  void tenantsAndAllTenantsAreExclusiveAndOneIsRequired() throws Exception {
    refused(StartMigrationRequest.newBuilder().addTenants("val-co").setAllTenants(true).build(),
        Status.Code.INVALID_ARGUMENT, "tenants");
    refused(StartMigrationRequest.newBuilder().build(), Status.Code.INVALID_ARGUMENT, "tenants");
  }

  @Test
  void badNamespacesAreInvalidArgumentsNamingTheField() throws Exception {
    for (String bad : List.of("nodot", "a.system.x", ".patients", "legacy.", "le gacy.patients", "legacy.pa$tients")) {
      refused(d -> d.setSourceNamespace(bad), Status.Code.INVALID_ARGUMENT, "definition.source_namespace");
      refused(d -> d.setTargetNamespace(bad), Status.Code.INVALID_ARGUMENT, "definition.target_namespace");
    }
    refused(d -> d.setSourceNamespace("medical.patients").setTargetNamespace("medical.patients"),
        Status.Code.INVALID_ARGUMENT, "definition.target_namespace");
    refused(d -> d.setTargetNamespace("legacy.patients"), Status.Code.INVALID_ARGUMENT, "definition.target_namespace");
  }

  @Test
  void aSourceCollectionThatDoesNotExistIsAFailedPrecondition() throws Exception {
    refused(d -> d.setSourceNamespace("legacy.nothing_here"), Status.Code.FAILED_PRECONDITION,
        "definition.source_namespace");
    refused(d -> d.setSourceNamespace("nowhere.patients"), Status.Code.FAILED_PRECONDITION,
        "definition.source_namespace");
  }

  @Test
  void badFieldPlanEntriesNameTheEntryAndItsField() throws Exception {
    refused(d -> d.addFields(field("", RND, "string")), Status.Code.INVALID_ARGUMENT, "definition.fields[0].path");
    refused(d -> d.addFields(field("a..b", RND, "string")), Status.Code.INVALID_ARGUMENT, "definition.fields[0].path");
    refused(d -> d.addFields(field("$where", RND, "string")), Status.Code.INVALID_ARGUMENT,
        "definition.fields[0].path");
    refused(d -> d.addFields(field("ssn", EncryptionAlgorithm.ENCRYPTION_ALGORITHM_UNSPECIFIED, "string")),
        Status.Code.INVALID_ARGUMENT, "definition.fields[0].algorithm");
    refused(d -> d.addFields(FieldPlan.newBuilder().setPath("ssn").setAlgorithmValue(42).setBsonType("string")),
        Status.Code.INVALID_ARGUMENT, "definition.fields[0].algorithm");
    refused(d -> d.addFields(field("ssn", RND, "varchar")), Status.Code.INVALID_ARGUMENT,
        "definition.fields[0].bson_type");
    refused(d -> d.addFields(field("ssn", RND, "")), Status.Code.INVALID_ARGUMENT, "definition.fields[0].bson_type");
    refused(d -> d.addFields(field("ssn", RND, "String")), Status.Code.INVALID_ARGUMENT,
        "definition.fields[0].bson_type");
    for (String type : List.of("double", "bool", "object", "array", "decimal")) {
      refused(d -> d.addFields(field("ssn", RND, "string")).addFields(field("score", DET, type)),
          Status.Code.INVALID_ARGUMENT, "definition.fields[1].algorithm");
    }
  }

  @Test
  void conflictingFieldPlansAreRefused() throws Exception {
    refused(d -> d.addFields(field("ssn", DET, "string")).addFields(field("ssn", RND, "string")),
        Status.Code.INVALID_ARGUMENT, "definition.fields[1].path");
    refused(d -> d.addFields(field("insurance", RND, "object")).addFields(field("insurance.policy", RND, "string")),
        Status.Code.INVALID_ARGUMENT, "definition.fields[1].path");
    refused(d -> d.addFields(field("insurance.policy", RND, "string")).addFields(field("insurance", RND, "object")),
        Status.Code.INVALID_ARGUMENT, "definition.fields[1].path");
    refused(d -> d.addFields(field("tenantId", DET, "string")), Status.Code.INVALID_ARGUMENT,
        "definition.fields[0].path");
    refused(d -> d.setTenantField("org.slug").addFields(field("org", RND, "object")), Status.Code.INVALID_ARGUMENT,
        "definition.fields[0].path");
    refused(d -> d.addFields(field("_id", DET, "string")), Status.Code.INVALID_ARGUMENT, "definition.fields[0].path");
    refused(d -> d.addFields(field("_id.part", DET, "string")), Status.Code.INVALID_ARGUMENT,
        "definition.fields[0].path");
    refused(d -> d.setTenantField("tenant id"), Status.Code.INVALID_ARGUMENT, "definition.tenant_field");
  }

  @Test
  void batchSizeOutOfRangeIsRefused() throws Exception {
    refused(d -> d.setBatchSize(-1), Status.Code.INVALID_ARGUMENT, "definition.batch_size");
    refused(d -> d.setBatchSize(10_001), Status.Code.INVALID_ARGUMENT, "definition.batch_size");
  }

  @Test
  void unknownAndMalformedMigrationIdsAreNotFoundAndInvalid() {
    String unknown = UUID.randomUUID().toString();
    String truncated = made.get(0).getId().substring(0, 35);
    Map<String, Consumer<String>> calls = new LinkedHashMap<>();
    calls.put("Get", id -> api().getMigration(GetMigrationRequest.newBuilder().setMigrationId(id).build()));
    calls.put("Pause", id -> api().pauseMigration(PauseMigrationRequest.newBuilder().setMigrationId(id).build()));
    calls.put("Resume", id -> api().resumeMigration(ResumeMigrationRequest.newBuilder().setMigrationId(id).build()));
    calls.put("Cancel", id -> api().cancelMigration(CancelMigrationRequest.newBuilder().setMigrationId(id).build()));
    calls.put("Report", id -> api().getCompletionReport(
        GetCompletionReportRequest.newBuilder().setMigrationId(id).build()));
    calls.put("Watch", id -> api().watchMigration(WatchMigrationRequest.newBuilder().setMigrationId(id).build())
        .hasNext());
    calls.put("Rollback", id -> api().rollbackMigration(
        RollbackMigrationRequest.newBuilder().setTenant("val-co").setMigrationId(id).build()));
    calls.forEach((name, call) -> {
      Status missing = statusOf(() -> call.accept(unknown));
      assertThat(missing.getCode()).as(name).isEqualTo(Status.Code.NOT_FOUND);
      assertThat(missing.getDescription()).as(name).startsWith("migration_id").contains(unknown);
      for (String bad : List.of("not-a-uuid", truncated, "1-2-3-4-5", unknown + "0")) {
        Status malformed = statusOf(() -> call.accept(bad));
        assertThat(malformed.getCode()).as("%s(%s)", name, bad).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(malformed.getDescription()).as(name).startsWith("migration_id");
      }
      if (!name.equals("Watch") && !name.equals("Rollback")) {
        Status empty = statusOf(() -> call.accept(""));
        assertThat(empty.getCode()).as(name).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(empty.getDescription()).as(name).startsWith("migration_id");
      }
    });
  }

  @Test
  void aCompletedMigrationCannotBePausedResumedOrCancelled() {
    String id = made.get(2).getId();
    Status pause = statusOf(() -> api().pauseMigration(PauseMigrationRequest.newBuilder().setMigrationId(id).build()));
    assertThat(pause.getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(pause.getDescription()).contains("COMPLETED");
    Status resume = statusOf(() -> api().resumeMigration(ResumeMigrationRequest.newBuilder().setMigrationId(id)
        .build()));
    assertThat(resume.getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    Status cancel = statusOf(() -> api().cancelMigration(CancelMigrationRequest.newBuilder().setMigrationId(id)
        .build()));
    assertThat(cancel.getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(api().getMigration(GetMigrationRequest.newBuilder().setMigrationId(id).build()).getMigration()
        .getState()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
  }

  @Test
  void listIsNewestFirstPagesWithoutGapsAndFiltersByTenantAndState() {
    List<String> newestFirst = new ArrayList<>(made.stream().map(Migration::getId).toList());
    Collections.reverse(newestFirst);
    assertThat(list(ListMigrationsRequest.newBuilder().build())).extracting(Migration::getId)
        .containsExactlyElementsOf(newestFirst);
    for (int size = 1; size <= 3; size++) {
      assertThat(list(ListMigrationsRequest.newBuilder().setPageSize(size).build())).as("page size %d", size)
          .extracting(Migration::getId).containsExactlyElementsOf(newestFirst);
    }
    assertThat(list(ListMigrationsRequest.newBuilder().build()))
        .extracting(m -> m.getCreateTime().getSeconds() * 1_000_000_000L + m.getCreateTime().getNanos())
        .isSortedAccordingTo(Comparator.reverseOrder());

    assertThat(list(ListMigrationsRequest.newBuilder().setTenant("list-a").setPageSize(1).build()))
        .extracting(Migration::getId).containsExactly(made.get(3).getId(), made.get(0).getId());
    assertThat(list(ListMigrationsRequest.newBuilder().addStates(MigrationState.MIGRATION_STATE_ROLLED_BACK).build()))
        .extracting(Migration::getId).containsExactly(made.get(1).getId());
    assertThat(list(ListMigrationsRequest.newBuilder().setTenant("list-b")
        .addStates(MigrationState.MIGRATION_STATE_COMPLETED).build())).isEmpty();
    assertThat(list(ListMigrationsRequest.newBuilder().addStates(MigrationState.MIGRATION_STATE_COMPLETED)
        .addStates(MigrationState.MIGRATION_STATE_ROLLED_BACK).setPageSize(2).build())).hasSize(5);
    assertThat(list(ListMigrationsRequest.newBuilder().setTenant("val-co").build())).isEmpty();

    ListMigrationsResponse last = api().listMigrations(ListMigrationsRequest.newBuilder().setPageSize(5).build());
    assertThat(last.getMigrationsCount()).isEqualTo(5);
    assertThat(last.getNextPageToken()).as("a page that ends the list has no next token").isEmpty();
  }

  /** Every page of a list, following next_page_token; also checks each page's size. */
  private List<Migration> list(ListMigrationsRequest request) {
    List<Migration> out = new ArrayList<>();
    String token = "";
    int pageSize = request.getPageSize() == 0 ? 100 : request.getPageSize();
    do {
      ListMigrationsResponse page = api().listMigrations(request.toBuilder().setPageToken(token).build());
      assertThat(page.getMigrationsCount()).isLessThanOrEqualTo(pageSize);
      if (!page.getNextPageToken().isEmpty()) {
        assertThat(page.getMigrationsCount()).isEqualTo(pageSize);
      }
      out.addAll(page.getMigrationsList());
      token = page.getNextPageToken();
    } while (!token.isEmpty());
    return out;
  }

  @Test
  void badListRequestsNameTheField() {
    List<Map.Entry<String, ListMigrationsRequest>> bad = new ArrayList<>(List.of(
        Map.entry("states[0]", ListMigrationsRequest.newBuilder()
            .addStates(MigrationState.MIGRATION_STATE_UNSPECIFIED).build()),
        Map.entry("states[1]", ListMigrationsRequest.newBuilder().addStates(MigrationState.MIGRATION_STATE_COMPLETED)
            .addStatesValue(99).build()),
        Map.entry("tenant", ListMigrationsRequest.newBuilder().setTenant("List_A").build()),
        Map.entry("page_size", ListMigrationsRequest.newBuilder().setPageSize(-1).build()),
        Map.entry("page_size", ListMigrationsRequest.newBuilder().setPageSize(1001).build())));
    String reportToken = api().getCompletionReport(GetCompletionReportRequest.newBuilder()
        .setMigrationId(report.getId()).setPageSize(1).build()).getNextPageToken();
    assertThat(reportToken).isNotEmpty();
    for (String token : List.of("%%%", "bm90IGEgdG9rZW4", reportToken,
        Validation.encodePageToken("migrations", "yesterday|someone"))) {
      bad.add(Map.entry("page_token", ListMigrationsRequest.newBuilder().setPageToken(token).build()));
    }
    for (Map.Entry<String, ListMigrationsRequest> e : bad) {
      Status status = statusOf(() -> api().listMigrations(e.getValue()));
      assertThat(status.getCode()).as("%s", e).isEqualTo(Status.Code.INVALID_ARGUMENT);
      assertThat(status.getDescription()).as("%s", e).startsWith(e.getKey());
    }
  }

  @Test
  void theCompletionReportPagesThroughEveryFailedItemOnce() {
    assertThat(MigrationFixture.mongoProgress(report).getFailed()).isEqualTo(MISFITS);
    List<FailedItem> items = new ArrayList<>();
    String token = "";
    int pages = 0;
    do {
      GetCompletionReportResponse page = api().getCompletionReport(GetCompletionReportRequest.newBuilder()
          .setMigrationId(report.getId()).setPageSize(3).setPageToken(token).build());
      assertThat(page.getMigration().getId()).isEqualTo(report.getId());
      assertThat(page.getItemsCount()).isLessThanOrEqualTo(3);
      items.addAll(page.getItemsList());
      token = page.getNextPageToken();
      pages++;
    } while (!token.isEmpty());
    assertThat(pages).isEqualTo(3);
    List<String> expected = new ArrayList<>();
    for (int i = 0; i < MISFITS; i++) {
      expected.add(String.format("report-co-%06d", i * 3));
    }
    assertThat(items).extracting(FailedItem::getSourceId).containsExactlyInAnyOrderElementsOf(expected);
    assertThat(items).allSatisfy(i -> {
      assertThat(i.getErrorCode()).isEqualTo("FIELD_TYPE_MISMATCH");
      assertThat(i.getMessage()).contains("ssn").doesNotContain("10000");
      assertThat(i.hasTime()).isTrue();
    });
    assertThat(api().getCompletionReport(GetCompletionReportRequest.newBuilder().setMigrationId(made.get(0).getId())
        .build()).getItemsList()).isEmpty();

    String listToken = api().listMigrations(ListMigrationsRequest.newBuilder().setPageSize(1).build())
        .getNextPageToken();
    for (String bad : List.of("%%%", listToken, Validation.encodePageToken("report", "seven"))) {
      Status status = statusOf(() -> api().getCompletionReport(GetCompletionReportRequest.newBuilder()
          .setMigrationId(report.getId()).setPageToken(bad).build()));
      assertThat(status.getCode()).as(bad).isEqualTo(Status.Code.INVALID_ARGUMENT);
      assertThat(status.getDescription()).as(bad).startsWith("page_token");
    }
    for (int size : new int[] {-1, 1001}) {
      Status status = statusOf(() -> api().getCompletionReport(GetCompletionReportRequest.newBuilder()
          .setMigrationId(report.getId()).setPageSize(size).build()));
      assertThat(status.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
      assertThat(status.getDescription()).startsWith("page_size");
    }
  }
}
