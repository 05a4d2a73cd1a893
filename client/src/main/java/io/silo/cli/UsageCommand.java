package io.silo.cli;

import com.google.protobuf.Timestamp;
import io.silo.api.v1.GetTenantUsageRequest;
import io.silo.api.v1.GetTenantUsageResponse;
import io.silo.api.v1.ListUsageRequest;
import io.silo.api.v1.ListUsageResponse;
import io.silo.api.v1.ReconcileUsageRequest;
import io.silo.api.v1.ReconcileUsageResponse;
import io.silo.api.v1.TenantUsage;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code silo usage}: storage per tenant and month (GetTenantUsage, ListUsage), or {@code --reconcile} to recount
 * the current month from the documents table and repair drift (ReconcileUsage).
 */
@Command(
    name = "usage",
    mixinStandardHelpOptions = true,
    description = {
        "Show storage used per tenant: MiB (2^20 bytes), exact bytes, documents and bucket.",
        "Without TENANT: every tenant in one month (default the current one, UTC).",
        "With TENANT: its recent months, or the one given with --month.",
        "--reconcile recounts the current month from the documents table and repairs drift (admin); with"
            + " --dry-run it only reports, and exits 1 if anything drifted."})
public final class UsageCommand extends SiloCommand {

  @Parameters(index = "0", arity = "0..1", paramLabel = "TENANT", description = "Tenant slug.")
  String tenant;

  @Option(names = "--month", paramLabel = "YYYY-MM", converter = MonthConverter.class,
      description = "The month to show, e.g. 2026-11 (UTC).")
  YearMonth month;

  @Option(names = "--months", paramLabel = "N", defaultValue = "0",
      description = "With TENANT and no --month: how many recent months, 1-120 (default 12).")
  int months;

  @Option(names = "--reconcile", description = "Recount the current month and repair drift (admin).")
  boolean reconcile;

  @Option(names = "--dry-run", description = "With --reconcile: report drift, change nothing.")
  boolean dryRun;

  @Override
  protected int execute() {
    if (dryRun && !reconcile) {
      throw usageError("--dry-run goes with --reconcile");
    }
    if (reconcile && (month != null || months != 0)) {
      throw usageError("--reconcile works on the current month; drop --month and --months");
    }
    if (months != 0 && (tenant == null || month != null)) {
      throw usageError("--months goes with a TENANT and without --month");
    }
    if (reconcile) {
      return reconcile();
    }
    if (tenant != null && month == null) {
      GetTenantUsageResponse response = connection().usage().getTenantUsage(GetTenantUsageRequest.newBuilder()
          .setTenant(tenant).setMonths(months).build());
      print(response, response.getUsageList());
      return OK;
    }
    ListUsageResponse.Builder all = ListUsageResponse.newBuilder();
    Pages.each("", token -> connection().usage().listUsage(listRequest(token)), ListUsageResponse::getNextPageToken,
        page -> all.addAllUsage(page.getUsageList()));
    ListUsageResponse response = all.build();
    print(response, response.getUsageList());
    return OK;
  }

  private ListUsageRequest listRequest(String token) {
    ListUsageRequest.Builder request = ListUsageRequest.newBuilder().setPageToken(token);
    if (month != null) {
      request.setMonth(Timestamp.newBuilder().setSeconds(month.atDay(1).atStartOfDay(ZoneOffset.UTC)
          .toEpochSecond()));
    }
    if (tenant != null) {
      request.setTenant(tenant);
    }
    return request.build();
  }

  private void print(com.google.protobuf.MessageOrBuilder response, List<TenantUsage> usage) {
    Printer printer = printer();
    printer.print(response, () -> UsageTable.of(usage));
    if (UsageTable.anyCarried(usage)) {
      printer.note(UsageTable.CARRIED_NOTE);
    }
  }

  private int reconcile() {
    ReconcileUsageResponse response = connection().usage().reconcileUsage(ReconcileUsageRequest.newBuilder()
        .setDryRun(dryRun).setTenant(tenant == null ? "" : tenant).build());
    Printer printer = printer();
    String outcome = response.getRepaired()
        ? (response.getDriftCount() > 0 ? ", repaired" : "") + "; " + response.getMonthsFilled()
            + " gap months filled, " + response.getMarkersResolved() + " trigger drift records resolved"
        : " (dry run: nothing changed)";
    printer.note(MigrationText.sanitize("Reconciled " + UsageTable.month(response.getMonth()) + " for "
        + response.getTenantsChecked() + " tenants: " + response.getDriftCount() + " drifted" + outcome));
    printer.print(response, () -> response.getDriftCount() == 0 ? Table.value("No drift.")
        : UsageTable.drift(response.getDriftList()));
    return dryRun && response.getDriftCount() > 0 ? FAILED : OK;
  }

  private CommandLine.ParameterException usageError(String message) {
    return new CommandLine.ParameterException(spec.commandLine(), message);
  }
}
