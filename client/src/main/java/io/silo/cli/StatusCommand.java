package io.silo.cli;

import io.silo.api.v1.ListMigrationStatusRequest;
import io.silo.api.v1.ListMigrationStatusResponse;
import io.silo.api.v1.ListMigrationsRequest;
import io.silo.api.v1.ListMigrationsResponse;
import io.silo.api.v1.Migration;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code silo status}: the latest migration of a tenant (ListMigrations, newest first, one item), or with
 * {@code --all} every tenant's migration status as one table (ListMigrationStatus).
 */
@Command(
    name = "status",
    mixinStandardHelpOptions = true,
    description = {"Show the tenant's latest migration: state, phase, per-phase counts, last error and times. "
        + "Exits 1 if the tenant has never been migrated.",
        "With --all: every tenant, one row each: isolation, latest run, MongoDB documents copied, S3 migration"
            + " status, documents migrated, errors, bucket and times."})
public final class StatusCommand extends SiloCommand {

  @Parameters(index = "0", arity = "0..1", paramLabel = "TENANT", description = "Tenant slug.")
  String tenant;

  @Option(names = "--all", description = "Every tenant as a table.")
  boolean all;

  @Override
  protected int execute() {
    if (all == (tenant != null)) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "give either a TENANT or --all, not " + (all ? "both" : "neither"));
    }
    if (all) {
      ListMigrationStatusResponse.Builder merged = ListMigrationStatusResponse.newBuilder();
      Pages.each("", token -> connection().usage().listMigrationStatus(ListMigrationStatusRequest.newBuilder()
              .setPageToken(token).build()), ListMigrationStatusResponse::getNextPageToken,
          page -> merged.addAllStatuses(page.getStatusesList()));
      ListMigrationStatusResponse response = merged.build();
      printer().print(response, () -> StatusTable.of(response.getStatusesList()));
      return OK;
    }
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
    // How each phase ran, e.g. the MONGO phase's encryption path and why.
    for (io.silo.api.v1.PhaseProgress p : m.getProgressList()) {
      if (!p.getDetail().isEmpty()) {
        printer.note(MigrationText.sanitize(MigrationText.phase(p.getPhase()) + ": " + p.getDetail()));
      }
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
