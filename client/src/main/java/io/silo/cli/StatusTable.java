package io.silo.cli;

import io.silo.api.v1.MigrationRun;
import io.silo.api.v1.TenantMigrationStatus;

/**
 * The human view of {@code silo status --all}: one row per tenant with its isolation status, its latest run (state,
 * phase, MongoDB documents copied and failed), and its S3 migration (status, documents migrated, errors, bucket,
 * start and end).
 */
final class StatusTable {

  private StatusTable() {}

  static Table of(Iterable<TenantMigrationStatus> statuses) {
    Table table = new Table("TENANT", "ISOLATION", "RUN", "PHASE", "COPIED", "FAILED", "S3", "MIGRATED", "ERRORS",
        "BUCKET", "S3 STARTED", "S3 COMPLETED");
    for (TenantMigrationStatus s : statuses) {
      MigrationRun run = s.hasLatestRun() ? s.getLatestRun() : null;
      boolean s3 = !s.getStatus().isEmpty();
      table.row(s.getTenant(), TenantTable.status(s.getTenantStatus()),
          run == null ? null : MigrationText.state(run.getState()),
          run == null ? null : MigrationText.phase(run.getPhase()),
          run == null ? null : Long.toString(run.getDocumentsCopied()),
          run == null ? null : Long.toString(run.getDocumentsFailed()),
          s.getStatus(), s3 ? Long.toString(s.getDocumentsMigrated()) : null, s3 ? Long.toString(s.getErrors()) : null,
          s.getBucket(), TenantTable.time(s.hasStartTime() ? s.getStartTime() : null),
          TenantTable.time(s.hasCompleteTime() ? s.getCompleteTime() : null));
    }
    return table;
  }
}
