package io.silo.cli;

import io.silo.api.v1.ListMigrationsRequest;
import io.silo.api.v1.ListMigrationsResponse;
import io.silo.api.v1.Migration;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code silo status}: the latest migration of a tenant (ListMigrations, newest first, one item). */
@Command(
    name = "status",
    mixinStandardHelpOptions = true,
    description = "Show the tenant's latest migration: state, phase, per-phase counts, last error and times. "
        + "Exits 1 if the tenant has never been migrated.")
public final class StatusCommand extends SiloCommand {

  @Parameters(index = "0", paramLabel = "TENANT", description = "Tenant slug.")
  String tenant;

  @Override
  protected int execute() {
    ListMigrationsResponse response = connection().migrations().listMigrations(
        ListMigrationsRequest.newBuilder().setTenant(tenant).setPageSize(1).build());
    if (response.getMigrationsCount() == 0) {
      err().println(MigrationText.sanitize("silo: tenant '" + tenant + "' has no migrations"));
      err().println(MigrationText.sanitize("silo: hint: preview one with 'silo plan " + tenant
          + "', start it with 'silo migrate " + tenant + "'"));
      err().flush();
      return FAILED;
    }
    Migration m = response.getMigrations(0);
    Printer printer = printer();
    String phase = MigrationText.phase(m.getPhase());
    printer.note(MigrationText.sanitize("Migration " + m.getId() + " of tenant " + m.getTenant() + ": "
        + MigrationText.state(m.getState()) + (phase == null ? "" : ", phase " + phase)));
    printer.note("Created " + orDash(TenantTable.time(m.hasCreateTime() ? m.getCreateTime() : null))
        + ", updated " + orDash(TenantTable.time(m.hasUpdateTime() ? m.getUpdateTime() : null))
        + ", completed " + orDash(TenantTable.time(m.hasCompleteTime() ? m.getCompleteTime() : null)));
    if (m.getPlaintextFieldsCount() > 0) {
      printer.note(MigrationText.sanitize("Copied in plaintext (not in the plan): "
          + String.join(", ", m.getPlaintextFieldsList())));
    }
    if (!m.getNotice().isEmpty()) {
      printer.note(MigrationText.sanitize("Note: " + m.getNotice()));
    }
    if (!m.getLastError().isEmpty()) {
      printer.note(MigrationText.sanitize("Last error: " + m.getLastError()));
    }
    // JSON gets the migration itself rather than a one-item page: the page
    // token would only suggest there is more to this answer.
    printer.print(m, () -> MigrationText.phases(m));
    return OK;
  }

  private static String orDash(String s) {
    return s == null ? "-" : s;
  }
}
