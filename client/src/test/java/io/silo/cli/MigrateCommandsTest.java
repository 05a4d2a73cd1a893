package io.silo.cli;

import static io.silo.cli.FakeMigrationService.completed;
import static io.silo.cli.FakeMigrationService.event;
import static io.silo.cli.FakeMigrationService.migration;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.util.JsonFormat;
import io.silo.api.v1.FieldPlan;
import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationDefinition;
import io.silo.api.v1.MigrationPhase;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.PlanMigrationRequest;
import io.silo.api.v1.StartMigrationRequest;
import io.silo.api.v1.StartMigrationResponse;
import io.silo.api.v1.TenantPlan;
import io.silo.api.v1.WatchMigrationRequest;
import io.silo.api.v1.WatchMigrationResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class MigrateCommandsTest extends ServerTest {

  private static final MigrationState RUNNING = MigrationState.MIGRATION_STATE_RUNNING;
  private static final MigrationPhase KEYS = MigrationPhase.MIGRATION_PHASE_KEYS;
  private static final MigrationPhase MONGO = MigrationPhase.MIGRATION_PHASE_MONGO;

  private void plan(String tenant, long documents, boolean keyExists, long seconds) {
    migrations.plans.put(tenant, TenantPlan.newBuilder()
        .setTenant(tenant)
        .setDocuments(documents)
        .addFields(FieldPlan.newBuilder().setPath("ssn"))
        .addFields(FieldPlan.newBuilder().setPath("insurance.policyNumber"))
        .addAllPlaintextFields(keyExists ? List.of("visits") : List.of())
        .addAllDroppedFields(keyExists ? List.of("notes") : List.of())
        .setKeyExists(keyExists)
        .setEncryptionPath(keyExists ? "libmongocrypt (data key under provider 'kmip', which the Java path does not"
            + " unwrap; migration.encryptionPath=auto)" : "java (data key under provider 'local';"
            + " migration.encryptionPath=auto)")
        .setEstimatedDuration(com.google.protobuf.Duration.newBuilder().setSeconds(seconds))
        .build());
  }

  /** A --follow script for one migration: KEYS, MONGO half way, then {@code last} as the final event. */
  private void script(String id, Migration last) {
    migrations.watchScripts.put("id:" + id, List.of(
        event(migration(id, "acme", RUNNING, KEYS, 0, 1, 0), false),
        event(migration(id, "acme", RUNNING, MONGO, 100, 200, 0), false),
        event(last, true)));
  }

  // --- plan ---

  @Test
  void planSendsTheTenantsAndPrintsDocumentsFieldsTheirFatesKeyEncryptionPathAndEstimate() {
    plan("acme", 1200, true, 252);
    plan("globex", 40, false, 3);
    CliRun run = silo("plan", "acme", "globex");
    assertThat(run.exitCode()).isZero();
    assertThat(migrations.requests).containsExactly(
        PlanMigrationRequest.newBuilder().addTenants("acme").addTenants("globex").build());
    List<String> lines = run.out().lines().toList();
    assertThat(lines.get(0)).matches("TENANT +DOCUMENTS +OBJECTS +FIELDS +PLAINTEXT +KEY +ENCRYPTION +EST\\. TIME");
    assertThat(lines.get(1)).matches("acme +1200 +0 +ssn,insurance\\.policyNumber +visits,notes\\(dropped\\) +exists"
        + " +libmongocrypt +4m12s");
    assertThat(lines.get(2)).matches("globex +40 +0 +ssn,insurance\\.policyNumber +- +created at start +java +3s");
    // Each path's reason once, under the table.
    assertThat(lines.get(3)).isEqualTo("Encryption: java (data key under provider 'local';"
        + " migration.encryptionPath=auto) (1 tenant)");
    assertThat(lines.get(4)).isEqualTo("Encryption: libmongocrypt (data key under provider 'kmip', which the Java"
        + " path does not unwrap; migration.encryptionPath=auto) (1 tenant)");
    assertThat(lines.get(5)).isEqualTo("2 tenants, 1240 documents, about 4m15s if run one after another");
  }

  @Test
  void planAllSendsAllTenantsAndTenantsTogetherWithAllIsAUsageError() {
    plan("acme", 1, true, 1);
    assertThat(silo("plan", "--all").exitCode()).isZero();
    assertThat(migrations.requests).containsExactly(PlanMigrationRequest.newBuilder().setAllTenants(true).build());

    CliRun both = silo("plan", "acme", "--all");
    assertThat(both.exitCode()).isEqualTo(2);
    assertThat(both.err()).startsWith("silo: Give tenants or --all, not both");
    CliRun neither = silo("plan");
    assertThat(neither.exitCode()).isEqualTo(2);
    assertThat(neither.err()).startsWith("silo: Give at least one TENANT, or --all");
    assertThat(migrations.requests).hasSize(1);
  }

  @Test
  void planOfAnUnknownTenantPrintsTheStatusNamingTheField() {
    CliRun run = silo("plan", "nope");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.out()).isEmpty();
    assertThat(run.err()).isEqualTo("silo: NOT_FOUND: tenants[0]: tenant 'nope' not found\n");
  }

  // --- migrate ---

  @Test
  void migrateSendsTenantIdempotencyKeyAndBatchSizeAndPrintsIdAndState() {
    seedTenants("acme");
    CliRun run = silo("migrate", "acme", "--idempotency-key", "run-1", "--batch-size", "250");
    assertThat(run.exitCode()).isZero();
    assertThat(run.err()).isEmpty();
    assertThat(migrations.requests).containsExactly(StartMigrationRequest.newBuilder()
        .addTenants("acme")
        .setDefinition(MigrationDefinition.newBuilder().setBatchSize(250))
        .setIdempotencyKey("run-1")
        .build());
    List<String> lines = run.out().lines().toList();
    assertThat(lines.get(0)).isEqualTo("Migration mig-acme-1 of tenant acme: RUNNING");
    assertThat(lines.get(1)).startsWith("MIGRATION");
    assertThat(lines.get(2)).matches("mig-acme-1 +acme +RUNNING +KEYS +0/1 \\(0%\\) +0 +.*");
    assertThat(lines.get(3)).isEqualTo("Follow the progress with 'silo watch mig-acme-1'");
  }

  @Test
  void migrateWithoutOptionsLeavesDefinitionAndIdempotencyKeyToTheServer() {
    seedTenants("acme");
    assertThat(silo("migrate", "acme").exitCode()).isZero();
    StartMigrationRequest sent = (StartMigrationRequest) migrations.requests.get(0);
    assertThat(sent.hasDefinition()).as("empty definition = server defaults").isFalse();
    assertThat(sent.getIdempotencyKey()).isEmpty();
  }

  @Test
  void migrateRetriedWithTheSameIdempotencyKeyShowsTheSameMigration() {
    seedTenants("acme");
    CliRun first = silo("migrate", "acme", "--idempotency-key", "k1");
    CliRun retry = silo("migrate", "acme", "--idempotency-key", "k1");
    assertThat(retry.exitCode()).isZero();
    assertThat(retry.out().lines().findFirst()).isEqualTo(first.out().lines().findFirst())
        .contains("Migration mig-acme-1 of tenant acme: RUNNING");
    assertThat(migrations.migrations).hasSize(1);
  }

  @Test
  void migrateBatchSizeOutOfRangeIsAUsageErrorAndNothingIsSent() {
    CliRun run = silo("migrate", "acme", "--batch-size", "10001");
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err()).startsWith("silo: Invalid value for option '--batch-size': 10001 is outside 1-10000");
    assertThat(migrations.requests).isEmpty();
  }

  @Test
  void migrateOfAnUnknownTenantExitsOneWithNotFoundNamingTheField() {
    CliRun run = silo("migrate", "nope", "--follow");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.out()).isEmpty();
    assertThat(run.err()).isEqualTo("silo: NOT_FOUND: tenants[0]: tenant 'nope' not found\n");
  }

  // --- migrate --follow ---

  @Test
  void followEndsOnTheFinalEventAndExitsZeroWhenCompletedClean() {
    seedTenants("acme");
    script("mig-acme-1", completed("mig-acme-1", "acme", 200, 0));
    CliRun run = silo("migrate", "acme", "--follow");
    assertThat(run.exitCode()).isZero();
    assertThat(run.err()).isEmpty();
    assertThat(migrations.requests.get(1)).isEqualTo(WatchMigrationRequest.newBuilder().setMigrationId("mig-acme-1").build());
    assertThat(run.out()).contains(
        "acme  RUNNING  KEYS 0/1 (0%)  250/s  eta 12s  failed 0\n",
        "acme  RUNNING  MONGO 100/200 (50%)  250/s  eta 12s  failed 0\n",
        "acme  COMPLETED  KEYS 1/1, MONGO 200/200  failed 0  migration mig-acme-1\n");
    assertThat(run.out()).doesNotContain("Follow the progress with");
  }

  @Test
  void followExitsOneAndPointsAtTheReportWhenItemsFailed() {
    seedTenants("acme");
    script("mig-acme-1", completed("mig-acme-1", "acme", 200, 3));
    CliRun run = silo("migrate", "acme", "--follow");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.err()).isEqualTo(
        "silo: migration mig-acme-1 of tenant acme completed with 3 failed items\n"
            + "silo: hint: list the failed items with 'silo report mig-acme-1'\n");
  }

  @Test
  void followExitsOneWhenTheMigrationFailed() {
    seedTenants("acme");
    Migration failed = migration("mig-acme-1", "acme", MigrationState.MIGRATION_STATE_FAILED, MONGO, 100, 200, 0)
        .toBuilder().setLastError("mongo: connection reset").build();
    script("mig-acme-1", failed);
    CliRun run = silo("migrate", "acme", "--follow");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.out()).contains("acme  FAILED  KEYS 1/1, MONGO 100/200  failed 0  migration mig-acme-1  error: mongo: connection reset");
    assertThat(run.err()).contains(
        "silo: migration mig-acme-1 of tenant acme FAILED: mongo: connection reset\n",
        "silo report mig-acme-1",
        "silo resume mig-acme-1");
  }

  @Test
  void followStreamHasNoDeadlineWhileTheStartCallHasOne() {
    seedTenants("acme");
    script("mig-acme-1", completed("mig-acme-1", "acme", 200, 0));
    assertThat(silo("migrate", "acme", "--follow", "--timeout", "5s").exitCode()).isZero();
    assertThat(migrations.streamDeadlines).containsExactly(Optional.empty());
    // The recorder sees deadlines only: one, of StartMigration.
    assertThat(server.deadlines).hasSize(1);
  }

  @Test
  void followPrintsPlainProgressRateLimitedNotOneLinePerEvent() {
    seedTenants("acme");
    List<WatchMigrationResponse> events = new ArrayList<>();
    events.add(event(migration("mig-acme-1", "acme", RUNNING, KEYS, 0, 1, 0), false));
    for (int i = 1; i <= 300; i++) {
      events.add(event(migration("mig-acme-1", "acme", RUNNING, MONGO, i, 300, 0), false));
    }
    events.add(event(completed("mig-acme-1", "acme", 300, 0), true));
    migrations.watchScripts.put("id:mig-acme-1", events);
    CliRun run = silo("migrate", "acme", "--follow");
    assertThat(run.exitCode()).isZero();
    List<String> progress = run.out().lines().filter(l -> l.startsWith("acme  ")).toList();
    // KEYS, first MONGO and the final line, plus at most a few on the 2 s clock.
    assertThat(progress.size()).isBetween(3, 6);
    assertThat(progress.get(0)).startsWith("acme  RUNNING  KEYS");
    assertThat(progress.get(1)).startsWith("acme  RUNNING  MONGO 1/300");
    assertThat(progress.get(progress.size() - 1)).startsWith("acme  COMPLETED");
  }

  @Test
  void followJsonIsNdjsonOfTheStartResponseThenEveryEvent() throws Exception {
    seedTenants("acme");
    script("mig-acme-1", completed("mig-acme-1", "acme", 200, 0));
    CliRun run = silo("migrate", "acme", "--follow", "-o", "json");
    assertThat(run.exitCode()).isZero();
    List<String> lines = run.out().lines().toList();
    assertThat(lines).hasSize(4);
    StartMigrationResponse.Builder start = StartMigrationResponse.newBuilder();
    JsonFormat.parser().merge(lines.get(0), start);
    assertThat(start.getMigrations(0).getId()).isEqualTo("mig-acme-1");
    List<WatchMigrationResponse> events = new ArrayList<>();
    for (String line : lines.subList(1, 4)) {
      WatchMigrationResponse.Builder e = WatchMigrationResponse.newBuilder();
      JsonFormat.parser().merge(line, e);
      events.add(e.build());
    }
    assertThat(events).isEqualTo(migrations.watchScripts.get("id:mig-acme-1"));
  }

  @Test
  void followExitsOneWhenTheStreamEndsBeforeTheFinalEvent() {
    seedTenants("acme");
    migrations.watchScripts.put("id:mig-acme-1", List.of(event(migration("mig-acme-1", "acme", RUNNING, MONGO, 1, 2, 0), false)));
    CliRun run = silo("migrate", "acme", "--follow");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.err()).isEqualTo(
        "silo: the server ended the watch before every migration was final (still open: mig-acme-1)\n"
            + "silo: hint: watch again with 'silo watch mig-acme-1'\n");
  }

  @Test
  void followOfAMigrationThatIsAlreadyFinalPrintsItsOutcomeWithoutWatching() {
    seedTenants("acme");
    assertThat(silo("migrate", "acme", "--idempotency-key", "k1").exitCode()).isZero();
    migrations.put(completed("mig-acme-1", "acme", 200, 0));
    CliRun retry = silo("migrate", "acme", "--idempotency-key", "k1", "--follow");
    assertThat(retry.exitCode()).isZero();
    assertThat(retry.out()).startsWith("Migration mig-acme-1 of tenant acme: COMPLETED\n")
        .endsWith("acme  COMPLETED  KEYS 1/1, MONGO 200/200  failed 0  migration mig-acme-1\n");
    assertThat(migrations.requests).noneMatch(r -> r instanceof WatchMigrationRequest);
  }

  // --- migrate-all ---

  @Test
  void migrateAllFollowWaitsForEveryStartedMigrationAndIgnoresOthers() {
    seedTenants("acme", "globex");
    plan("acme", 200, true, 1);
    plan("globex", 50, true, 1);
    migrations.watchScripts.put("all", List.of(
        event(migration("mig-acme-1", "acme", RUNNING, MONGO, 10, 200, 0), false),
        event(completed("mig-initech-9", "initech", 5, 0), true),
        event(completed("mig-acme-1", "acme", 200, 0), true),
        event(migration("mig-globex-2", "globex", RUNNING, MONGO, 10, 50, 0), false),
        event(completed("mig-globex-2", "globex", 50, 0), true)));
    CliRun run = silo("migrate-all", "--follow", "--idempotency-key", "fleet-1");
    assertThat(run.exitCode()).isZero();
    assertThat(migrations.requests.get(0)).isEqualTo(
        StartMigrationRequest.newBuilder().setAllTenants(true).setIdempotencyKey("fleet-1").build());
    assertThat(migrations.requests.get(1)).isEqualTo(WatchMigrationRequest.newBuilder().setAll(true).build());
    assertThat(run.out()).startsWith("2 migrations started or already active\n")
        .contains("acme  COMPLETED", "globex  COMPLETED")
        .doesNotContain("initech")
        .endsWith("2 migrations final: 2 completed cleanly, 0 not\n");
  }

  @Test
  void migrateAllFollowExitsOneIfAnyMigrationHasFailedItems() {
    seedTenants("acme", "globex");
    plan("acme", 200, true, 1);
    plan("globex", 50, true, 1);
    migrations.watchScripts.put("all", List.of(
        event(completed("mig-acme-1", "acme", 200, 0), true),
        event(completed("mig-globex-2", "globex", 50, 2), true)));
    CliRun run = silo("migrate-all", "--follow");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.out()).endsWith("2 migrations final: 1 completed cleanly, 1 not\n");
    assertThat(run.err()).contains("mig-globex-2 of tenant globex completed with 2 failed items", "silo report mig-globex-2")
        .doesNotContain("mig-acme-1");
  }

  @Test
  void migrateAllFollowLooksUpAMigrationTheStreamNeverMentions() throws Exception {
    seedTenants("acme", "globex");
    plan("acme", 200, true, 1);
    plan("globex", 50, true, 1);
    // globex finishes before the watch subscribes, so the stream only ever shows acme.
    migrations.watchScripts.put("all", List.of(event(completed("mig-acme-1", "acme", 200, 0), true)));
    CompletableFuture<CliRun> run = CompletableFuture.supplyAsync(() -> silo("migrate-all", "--follow"));
    assertThat(migrations.watchOpened.await(10, TimeUnit.SECONDS)).isTrue();
    migrations.put(completed("mig-globex-2", "globex", 50, 0));
    CliRun done = run.get(20, TimeUnit.SECONDS);
    assertThat(done.exitCode()).isZero();
    assertThat(done.out()).contains("globex  COMPLETED  KEYS 1/1, MONGO 50/50  failed 0  migration mig-globex-2");
    assertThat(migrations.requests).anyMatch(r -> r instanceof io.silo.api.v1.GetMigrationRequest g
        && g.getMigrationId().equals("mig-globex-2"));
    assertThat(migrations.watchCancelled.await(5, TimeUnit.SECONDS)).as("the open stream was cancelled").isTrue();
  }

  @Test
  void migrateAllWithNothingToMigrateSaysSoAndDoesNotWatch() {
    CliRun run = silo("migrate-all", "--follow");
    assertThat(run.exitCode()).isZero();
    assertThat(run.out()).startsWith("Nothing to migrate: no tenant needs a migration\n");
    assertThat(migrations.requests).hasSize(1);
  }
}
