package io.silo.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Duration;
import com.google.protobuf.Timestamp;
import com.google.protobuf.util.JsonFormat;
import io.silo.api.v1.GetDocumentUrlRequest;
import io.silo.api.v1.GetDocumentUrlResponse;
import io.silo.api.v1.GetTenantUsageRequest;
import io.silo.api.v1.GetUploadUrlRequest;
import io.silo.api.v1.GetUploadUrlResponse;
import io.silo.api.v1.ListUsageRequest;
import io.silo.api.v1.ListUsageResponse;
import io.silo.api.v1.MigrationPhase;
import io.silo.api.v1.MigrationRun;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.ReconcileUsageRequest;
import io.silo.api.v1.ReconcileUsageResponse;
import io.silo.api.v1.TenantMigrationStatus;
import io.silo.api.v1.TenantStatus;
import io.silo.api.v1.TenantUsage;
import io.silo.api.v1.UsageDrift;
import org.junit.jupiter.api.Test;

/** {@code silo usage}, {@code silo url} and {@code silo status --all} against a fake UsageService. */
class UsageCommandsTest extends ServerTest {

  /** 2026-11-01T00:00:00Z and 2026-10-01T00:00:00Z. */
  private static final Timestamp NOV = Timestamp.newBuilder().setSeconds(1_793_491_200L).build();
  private static final Timestamp OCT = Timestamp.newBuilder().setSeconds(1_790_812_800L).build();

  private static TenantUsage usage(String tenant, Timestamp month, long bytes, long documents, boolean carried) {
    return TenantUsage.newBuilder().setTenant(tenant).setMonth(month).setStorageBytes(bytes)
        .setStorageUsedMb(Math.round(bytes / 1_048_576.0 * 1000) / 1000.0).setDocumentsCount(documents)
        .setBucket("dataroom-saas-" + tenant + "-a1b2").setCarriedForward(carried).build();
  }

  @Test
  void usageWithoutATenantFollowsEveryPageOfTheMonthAndPrintsMebibytesAndExactBytes() {
    server.usage.usage.add(usage("acme", NOV, 3_670_016, 2, false));
    server.usage.usage.add(usage("globex", NOV, 0, 0, true));

    CliRun run = silo("usage", "--month", "2026-11");

    assertThat(run.exitCode()).as(run.err()).isZero();
    String[] lines = run.out().split("\n");
    assertThat(lines[0]).matches("TENANT +MONTH +MIB +BYTES +DOCUMENTS +BUCKET");
    assertThat(lines[1]).matches("acme +2026-11 +3\\.500 +3670016 +2 +dataroom-saas-acme-a1b2");
    assertThat(lines[2]).matches("globex +2026-11\\* +0\\.000 +0 +0 +dataroom-saas-globex-a1b2");
    assertThat(lines[3]).startsWith("* no changes that month");
    assertThat(server.usage.requests).hasSize(2).allSatisfy(r -> assertThat(((ListUsageRequest) r).getMonth())
        .isEqualTo(NOV));
  }

  @Test
  void usageOfATenantShowsItsRecentMonthsOrOneMonthWithMonth() {
    server.usage.usage.add(usage("acme", NOV, 2_000, 2, false));
    server.usage.usage.add(usage("acme", OCT, 1_000, 1, true));

    CliRun history = silo("usage", "acme", "--months", "2");
    assertThat(history.exitCode()).as(history.err()).isZero();
    assertThat(history.out()).contains("2026-11 ", "2026-10*");
    assertThat(server.usage.requests.get(0)).isEqualTo(GetTenantUsageRequest.newBuilder().setTenant("acme")
        .setMonths(2).build());

    CliRun one = silo("usage", "acme", "--month", "2026-10", "-o", "json");
    assertThat(one.exitCode()).as(one.err()).isZero();
    assertThat(server.usage.requests.get(1)).isEqualTo(ListUsageRequest.newBuilder().setTenant("acme").setMonth(OCT)
        .build());
    assertThat(one.out()).contains("\"storageBytes\": \"1000\"", "\"carriedForward\": true");
  }

  @Test
  void usageRefusesOptionsThatDoNotGoTogetherBeforeCallingTheServer() {
    assertThat(silo("usage", "--month", "November").exitCode()).isEqualTo(2);
    assertThat(silo("usage", "--dry-run").err()).contains("--dry-run goes with --reconcile");
    assertThat(silo("usage", "--reconcile", "--month", "2026-11").err()).contains("current month");
    assertThat(silo("usage", "--months", "3").err()).contains("--months goes with a TENANT");
    assertThat(server.usage.requests).isEmpty();
  }

  @Test
  void aDryRunReconcileThatFindsDriftPrintsItAndExitsOneAndARepairExitsZero() throws Exception {
    server.usage.reconcile = ReconcileUsageResponse.newBuilder().setMonth(NOV).setTenantsChecked(3)
        .addDrift(UsageDrift.newBuilder().setTenant("globex").setRecordedBytes(5).setRecordedCount(1)
            .setActualBytes(7).setActualCount(2))
        .addDrift(UsageDrift.newBuilder().setTenant("initech").setRowMissing(true).setActualBytes(9)
            .setActualCount(1))
        .build();

    CliRun dry = silo("usage", "--reconcile", "--dry-run");
    assertThat(dry.exitCode()).isEqualTo(1);
    assertThat(dry.out()).startsWith("Reconciled 2026-11 for 3 tenants: 2 drifted (dry run: nothing changed)\n");
    assertThat(dry.out()).containsPattern("globex +5 +7 +1 +2").containsPattern("initech +\\(no row\\) +9");
    assertThat(server.usage.requests.get(0)).isEqualTo(ReconcileUsageRequest.newBuilder().setDryRun(true).build());

    CliRun repair = silo("usage", "globex", "--reconcile", "-o", "json");
    assertThat(repair.exitCode()).isZero();
    ReconcileUsageResponse.Builder parsed = ReconcileUsageResponse.newBuilder();
    JsonFormat.parser().merge(repair.out(), parsed);
    assertThat(parsed.getRepaired()).isTrue();
    assertThat(((ReconcileUsageRequest) server.usage.requests.get(1)).getTenant()).isEqualTo("globex");
  }

  @Test
  void urlPrintsTheDownloadUrlFirstAndSendsTheValidityAsked() {
    server.usage.documentUrl = GetDocumentUrlResponse.newBuilder().setUrl("http://s3.test/b/documents/7/a.pdf?X=1")
        .setExpireTime(NOV).setBucket("b").setKey("documents/7/a.pdf")
        .setNotice("valid for 600 s instead of the 3600 s asked").build();

    CliRun run = silo("url", "acme", "7", "--expires", "1h");

    assertThat(run.exitCode()).as(run.err()).isZero();
    assertThat(run.out().split("\n")).containsExactly("http://s3.test/b/documents/7/a.pdf?X=1",
        "Expires 2026-11-01T00:00:00Z; s3://b/documents/7/a.pdf", "Note: valid for 600 s instead of the 3600 s asked");
    assertThat(server.usage.requests).containsExactly(GetDocumentUrlRequest.newBuilder().setTenant("acme")
        .setDocumentId(7).setExpiresIn(Duration.newBuilder().setSeconds(3_600)).build());
  }

  @Test
  void urlWithUploadPrintsThePutUrlAndTheHeadersItNeeds() {
    server.usage.uploadUrl = GetUploadUrlResponse.newBuilder().setUrl("http://s3.test/b/temp/u/scan.pdf?X=1")
        .setExpireTime(NOV).setBucket("b").setKey("temp/u/scan.pdf")
        .putHeaders("x-amz-server-side-encryption", "AES256").build();

    CliRun run = silo("url", "acme", "--upload", "scan.pdf");

    assertThat(run.exitCode()).as(run.err()).isZero();
    assertThat(run.out()).startsWith("http://s3.test/b/temp/u/scan.pdf?X=1\n")
        .contains("Header x-amz-server-side-encryption: AES256\n")
        .contains("curl -X PUT -H 'x-amz-server-side-encryption: AES256' --upload-file FILE '<URL>'");
    assertThat(server.usage.requests).containsExactly(GetUploadUrlRequest.newBuilder().setTenant("acme")
        .setFilename("scan.pdf").build());
  }

  @Test
  void urlNeedsExactlyOneOfADocumentIdAndUpload() {
    assertThat(silo("url", "acme").err()).contains("not neither");
    assertThat(silo("url", "acme", "7", "--upload", "a.pdf").err()).contains("not both");
    assertThat(silo("url", "acme", "seven").exitCode()).isEqualTo(2);
    assertThat(server.usage.requests).isEmpty();
  }

  @Test
  void statusAllPrintsEveryTenantAcrossPagesAsOneTable() {
    server.usage.statuses.add(TenantMigrationStatus.newBuilder().setTenant("acme").setDisplayName("Acme")
        .setTenantStatus(TenantStatus.TENANT_STATUS_ISOLATED).setStatus("COMPLETED").setDocumentsMigrated(15)
        .setErrors(0).setBucket("dataroom-saas-acme-a1b2").setStartTime(OCT).setCompleteTime(NOV)
        .setLatestRun(MigrationRun.newBuilder().setState(MigrationState.MIGRATION_STATE_COMPLETED)
            .setPhase(MigrationPhase.MIGRATION_PHASE_DONE).setDocumentsCopied(1200)).build());
    server.usage.statuses.add(TenantMigrationStatus.newBuilder().setTenant("globex").setDisplayName("Globex")
        .setTenantStatus(TenantStatus.TENANT_STATUS_MIGRATING).setStatus("FAILED").setDocumentsMigrated(15)
        .setErrors(3).setBucket("dataroom-saas-globex-c3d4").build());
    server.usage.statuses.add(TenantMigrationStatus.newBuilder().setTenant("initech").setDisplayName("Initech")
        .setTenantStatus(TenantStatus.TENANT_STATUS_POOLED).build());

    CliRun run = silo("status", "--all");

    assertThat(run.exitCode()).as(run.err()).isZero();
    String[] lines = run.out().split("\n");
    assertThat(lines).hasSize(4);
    assertThat(lines[0]).matches("TENANT +ISOLATION +RUN +PHASE +COPIED +FAILED +S3 +MIGRATED +ERRORS +BUCKET"
        + " +S3 STARTED +S3 COMPLETED");
    assertThat(lines[1]).matches("acme +ISOLATED +COMPLETED +DONE +1200 +0 +COMPLETED +15 +0 +dataroom-saas-acme-a1b2"
        + " +2026-10-01T00:00:00Z +2026-11-01T00:00:00Z");
    assertThat(lines[2]).matches("globex +MIGRATING +- +- +- +- +FAILED +15 +3 +dataroom-saas-globex-c3d4 +- +-");
    assertThat(lines[3]).matches("initech +POOLED( +-)+");
  }

  @Test
  void statusNeedsATenantOrAll() {
    assertThat(silo("status").err()).contains("give either a TENANT or --all, not neither");
    assertThat(silo("status", "acme", "--all").err()).contains("not both");
  }

  @Test
  void usageJsonIsTheMergedListResponse() throws Exception {
    server.usage.usage.add(usage("acme", NOV, 10, 1, false));
    server.usage.usage.add(usage("globex", NOV, 20, 2, false));
    CliRun run = silo("usage", "-o", "json");
    ListUsageResponse.Builder parsed = ListUsageResponse.newBuilder();
    JsonFormat.parser().merge(run.out(), parsed);
    assertThat(parsed.getUsageList()).extracting(TenantUsage::getTenant).containsExactly("acme", "globex");
    assertThat(parsed.getNextPageToken()).isEmpty();
  }
}
