package io.silo.cli;

import static io.silo.cli.FakeMigrationService.completed;
import static io.silo.cli.FakeMigrationService.migration;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.util.JsonFormat;
import io.silo.api.v1.CancelMigrationRequest;
import io.silo.api.v1.FailedItem;
import io.silo.api.v1.GetCompletionReportRequest;
import io.silo.api.v1.GetCompletionReportResponse;
import io.silo.api.v1.ListMigrationsRequest;
import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationPhase;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.PauseMigrationRequest;
import io.silo.api.v1.PurgeSourceRequest;
import io.silo.api.v1.ResumeMigrationRequest;
import io.silo.api.v1.RollbackMigrationRequest;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class MigrationAdminCommandsTest extends ServerTest {

  private static final MigrationState RUNNING = MigrationState.MIGRATION_STATE_RUNNING;
  private static final MigrationPhase MONGO = MigrationPhase.MIGRATION_PHASE_MONGO;

  // --- status ---

  @Test
  void statusShowsTheLatestMigrationWithPhasesLastErrorAndTimes() {
    migrations.put(completed("old", "acme", 10, 0));
    migrations.put(migration("new", "acme", MigrationState.MIGRATION_STATE_FAILED, MONGO, 120, 500, 2)
        .toBuilder().setLastError("mongo: timed out").build());
    CliRun run = silo("status", "acme");
    assertThat(run.exitCode()).isZero();
    assertThat(migrations.requests).containsExactly(ListMigrationsRequest.newBuilder().setTenant("acme").setPageSize(1).build());
    assertThat(run.out().lines().toList()).satisfiesExactly(
        l -> assertThat(l).isEqualTo("Migration new of tenant acme: FAILED, phase MONGO"),
        l -> assertThat(l).isEqualTo("Created 2025-12-17T19:33:20Z, updated 2025-12-17T19:34:20Z, completed -"),
        l -> assertThat(l).isEqualTo("Last error: mongo: timed out"),
        l -> assertThat(l).matches("PHASE +DONE +TOTAL +FAILED +BYTES"),
        l -> assertThat(l).matches("KEYS +1 +1 +0 +0"),
        l -> assertThat(l).matches("MONGO +120 +500 +2 +0"));
  }

  @Test
  void statusNamesTheEncryptionPathTheMongoPhaseRecorded() {
    Migration running = migration("run", "acme", MigrationState.MIGRATION_STATE_RUNNING, MONGO, 120, 0, 0);
    int mongo = running.getProgressCount() - 1;
    migrations.put(running.toBuilder().setProgress(mongo, running.getProgress(mongo).toBuilder()
        .setDetail("values encrypted by java (data key under provider 'aws'; migration.encryptionPath=auto)"))
        .build());
    CliRun run = silo("status", "acme");
    assertThat(run.exitCode()).isZero();
    assertThat(run.out().lines().toList()).contains("MONGO: values encrypted by java (data key under provider 'aws';"
        + " migration.encryptionPath=auto)");
    // A total not counted yet shows as '?'.
    assertThat(run.out().lines().toList()).anySatisfy(l -> assertThat(l).matches("MONGO +120 +\\? +0 +0"));
  }

  @Test
  void statusJsonIsTheMigrationItself() throws Exception {
    Migration m = migrations.put(migration("m1", "acme", RUNNING, MONGO, 1, 2, 0));
    CliRun run = silo("status", "acme", "-o", "json");
    assertThat(run.exitCode()).isZero();
    Migration.Builder parsed = Migration.newBuilder();
    JsonFormat.parser().merge(run.out(), parsed);
    assertThat(parsed.build()).isEqualTo(m);
  }

  @Test
  void statusOfATenantWithoutMigrationsExitsOne() {
    migrations.put(migration("m1", "globex", RUNNING, MONGO, 1, 2, 0));
    CliRun run = silo("status", "acme");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.out()).isEmpty();
    assertThat(run.err()).isEqualTo("silo: tenant 'acme' has no migrations\n"
        + "silo: hint: preview one with 'silo plan acme', start it with 'silo migrate acme'\n");
  }

  // --- pause, resume, cancel ---

  @Test
  void pauseResumeAndCancelSendTheIdAndPrintTheResultingMigration() {
    migrations.put(migration("m1", "acme", RUNNING, MONGO, 1, 2, 0));
    CliRun pause = silo("pause", "m1");
    assertThat(pause.exitCode()).isZero();
    assertThat(pause.out()).startsWith("Pause requested for migration m1 of tenant acme: now PAUSED;")
        .containsPattern("m1 +acme +PAUSED +MONGO +1/2 \\(50%\\)");
    CliRun resume = silo("resume", "m1");
    assertThat(resume.exitCode()).isZero();
    assertThat(resume.out()).startsWith("Resumed migration m1 of tenant acme: now RUNNING");
    CliRun cancel = silo("cancel", "m1");
    assertThat(cancel.exitCode()).isZero();
    assertThat(cancel.out()).startsWith("Cancel requested for migration m1 of tenant acme: now CANCELLED;")
        .contains("'silo rollback acme --migration m1'");
    assertThat(migrations.requests).containsExactly(
        PauseMigrationRequest.newBuilder().setMigrationId("m1").build(),
        ResumeMigrationRequest.newBuilder().setMigrationId("m1").build(),
        CancelMigrationRequest.newBuilder().setMigrationId("m1").build());
  }

  @Test
  void cancelOfAFinishedMigrationExitsOneWithFailedPrecondition() {
    migrations.put(completed("m1", "acme", 2, 0));
    CliRun run = silo("cancel", "m1");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.out()).isEmpty();
    assertThat(run.err()).isEqualTo(
        "silo: FAILED_PRECONDITION: migration_id: migration 'm1' is MIGRATION_STATE_COMPLETED; it cannot change any more\n");
  }

  // --- rollback, purge ---

  @Test
  void rollbackSendsTenantMigrationAndIdempotencyKeyAndPrintsWhatWasRemoved() {
    migrations.put(completed("m1", "acme", 2, 0));
    CliRun run = silo("rollback", "acme", "--migration", "m1", "--idempotency-key", "rb-1");
    assertThat(run.exitCode()).isZero();
    assertThat(migrations.requests).containsExactly(RollbackMigrationRequest.newBuilder()
        .setTenant("acme").setMigrationId("m1").setIdempotencyKey("rb-1").build());
    assertThat(run.out()).startsWith(
        "Rolled back migration m1 of tenant acme: 1200 documents and 7 objects removed from the target\n")
        .containsPattern("m1 +acme +ROLLED_BACK");
  }

  @Test
  void purgeRequiresConfirmAndSendsIt() {
    CliRun missing = silo("purge", "acme");
    assertThat(missing.exitCode()).isEqualTo(2);
    assertThat(missing.err()).startsWith("silo: Missing required option: '--confirm=TENANT'");
    assertThat(migrations.requests).isEmpty();

    CliRun run = silo("purge", "acme", "--confirm", "acme");
    assertThat(run.exitCode()).isZero();
    assertThat(migrations.requests).containsExactly(PurgeSourceRequest.newBuilder().setTenant("acme").setConfirm("acme").build());
    assertThat(run.out()).isEqualTo(
        "Purged the source data of tenant acme: 1200 documents and 7 objects deleted (audit id 4711)\n");
  }

  @Test
  void purgeSaysHowManyDocumentsAndObjectsItKeptAndWhatToDoAboutThem() {
    CliRun run = silo("purge", "changing", "--confirm", "changing");
    assertThat(run.exitCode()).isZero();
    assertThat(run.out()).isEqualTo("Purged the source data of tenant changing: 1199 documents and 5 objects deleted"
        + " (audit id 4712); 1 document(s) and 2 object(s) kept because they changed since the copy or have no copy"
        + " (re-sync with 'silo migrate changing', verify, then purge again)\n");
  }

  @Test
  void purgeWithAWrongConfirmationExitsOneWithTheServersReason() {
    CliRun run = silo("purge", "acme", "--confirm", "acne");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.err()).isEqualTo("silo: FAILED_PRECONDITION: confirm: must equal the tenant slug 'acme'\n");
  }

  // --- report ---

  private List<FailedItem> fiveItems() {
    List<FailedItem> items = new ArrayList<>();
    for (int i = 1; i <= 4; i++) {
      items.add(FailedItem.newBuilder().setPhase(MONGO).setSourceId("{\"$oid\":\"" + i + "\"}")
          .setErrorCode("BSON_TYPE_MISMATCH").setMessage("ssn: expected string, found int").build());
    }
    items.add(FailedItem.newBuilder().setPhase(MigrationPhase.MIGRATION_PHASE_S3).setSourceId("shared-bucket")
        .setKey("acme/scan.pdf").setErrorCode("NoSuchKey").setHttpStatus(404).setMessage("object vanished").build());
    return items;
  }

  @Test
  void reportFollowsEveryPageAndPrintsEachItemAndACount() {
    migrations.put(completed("m1", "acme", 100, 5));
    migrations.reportItems.put("m1", fiveItems());
    CliRun run = silo("report", "m1", "--page-size", "2");
    assertThat(run.exitCode()).isZero();
    assertThat(migrations.requests).extracting(r -> ((GetCompletionReportRequest) r).getPageToken())
        .containsExactly("", "roff-2", "roff-4");
    List<String> lines = run.out().lines().toList();
    assertThat(lines).hasSize(7);
    assertThat(lines.get(0)).matches("PHASE +SOURCE ID +ERROR CODE +MESSAGE");
    assertThat(lines.get(1)).matches("MONGO +\\{\"\\$oid\":\"1\"\\} +BSON_TYPE_MISMATCH +ssn: expected string, found int");
    assertThat(lines.get(5)).matches("S3 +shared-bucket/acme/scan\\.pdf +NoSuchKey \\(HTTP 404\\) +object vanished");
    assertThat(lines.get(6)).isEqualTo("5 failed items in migration m1 (tenant acme, COMPLETED)");
  }

  @Test
  void reportJsonIsOneResponseWithTheItemsOfAllPages() throws Exception {
    migrations.put(completed("m1", "acme", 100, 5));
    migrations.reportItems.put("m1", fiveItems());
    CliRun run = silo("report", "m1", "--page-size", "2", "-o", "json");
    assertThat(run.exitCode()).isZero();
    GetCompletionReportResponse.Builder parsed = GetCompletionReportResponse.newBuilder();
    JsonFormat.parser().merge(run.out(), parsed);
    assertThat(parsed.getItemsList()).isEqualTo(fiveItems());
    assertThat(parsed.getMigration().getId()).isEqualTo("m1");
    assertThat(parsed.getNextPageToken()).isEmpty();
  }

  @Test
  void reportOfAnUnknownMigrationExitsOneWithNotFound() {
    CliRun run = silo("report", "nope");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.err()).isEqualTo("silo: NOT_FOUND: migration_id: migration 'nope' not found\n");
  }
}
