package io.silo.cli;

import io.silo.api.v1.FailedItem;
import io.silo.api.v1.GetCompletionReportRequest;
import io.silo.api.v1.GetCompletionReportResponse;
import io.silo.api.v1.Migration;
import java.util.HashSet;
import java.util.Set;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code silo report}: every failed item of a migration (GetCompletionReport, all pages). */
@Command(
    name = "report",
    mixinStandardHelpOptions = true,
    description = "List every failed item of a migration: phase, source id (or bucket/key), error code and reason. "
        + "Reasons never contain plaintext of encrypted fields.")
public final class ReportCommand extends SiloCommand {

  @Parameters(index = "0", paramLabel = "MIGRATION_ID", description = "Migration id.")
  String migrationId;

  @Option(names = "--page-size", paramLabel = "N", defaultValue = "0",
      description = "Items fetched per call, 1-1000; 0 (the default) lets the server choose.")
  int pageSize;

  @Override
  protected int execute() {
    if (pageSize < 0 || pageSize > 1000) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "Invalid value for option '--page-size': " + pageSize + " is outside 0-1000");
    }
    GetCompletionReportResponse report = fetchAll();
    Migration m = report.getMigration();
    Printer printer = printer();
    printer.print(report, () -> table(report));
    int n = report.getItemsCount();
    printer.note(MigrationText.sanitize(n + " failed item" + (n == 1 ? "" : "s") + " in migration " + m.getId()
        + " (tenant " + m.getTenant() + ", " + MigrationText.state(m.getState()) + ")"));
    if (m.getPlaintextFieldsCount() > 0) {
      printer.note(MigrationText.sanitize("Copied in plaintext (not in the plan): "
          + String.join(", ", m.getPlaintextFieldsList())));
    }
    return OK;
  }

  /**
   * Collects every page into one response whose next_page_token is empty, so
   * JSON consumers see the same shape whatever the page size. Each page is its
   * own call with its own deadline.
   */
  private GetCompletionReportResponse fetchAll() {
    GetCompletionReportResponse.Builder merged = GetCompletionReportResponse.newBuilder();
    Set<String> seen = new HashSet<>();
    String token = "";
    do {
      // A server that hands back a token it already gave would loop forever.
      if (!seen.add(token)) {
        throw io.grpc.Status.INTERNAL
            .withDescription("server repeated page token '" + token + "'; stopping to avoid an endless loop")
            .asRuntimeException();
      }
      GetCompletionReportResponse page = connection().migrations().getCompletionReport(
          GetCompletionReportRequest.newBuilder().setMigrationId(migrationId).setPageSize(pageSize).setPageToken(token).build());
      // The migration as of the last page is the freshest snapshot.
      merged.setMigration(page.getMigration());
      merged.addAllItems(page.getItemsList());
      token = page.getNextPageToken();
    } while (!token.isEmpty());
    return merged.build();
  }

  private static Table table(GetCompletionReportResponse report) {
    Table table = new Table("PHASE", "SOURCE ID", "ERROR CODE", "MESSAGE");
    for (FailedItem item : report.getItemsList()) {
      // S3 items name the source bucket in source_id and the object separately.
      String source = item.getSourceId();
      if (!item.getKey().isEmpty()) {
        source = source + "/" + item.getKey() + (item.getVersionId().isEmpty() ? "" : " (version " + item.getVersionId() + ")");
      }
      String code = item.getErrorCode() + (item.getHttpStatus() != 0 ? " (HTTP " + item.getHttpStatus() + ")" : "");
      table.row(MigrationText.phase(item.getPhase()), source, code, item.getMessage());
    }
    return table;
  }
}
