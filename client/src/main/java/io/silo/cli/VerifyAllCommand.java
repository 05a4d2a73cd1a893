package io.silo.cli;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.silo.api.v1.ListTenantsRequest;
import io.silo.api.v1.ListTenantsResponse;
import io.silo.api.v1.Tenant;
import io.silo.api.v1.VerifyTenantResponse;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import picocli.CommandLine.Command;

/** {@code silo verify-all}: verifies every registered tenant in turn and prints a per-tenant summary. Exit 0 only if all are clean. */
@Command(
    name = "verify-all",
    mixinStandardHelpOptions = true,
    description = {
        "Verify every registered tenant, one after another: findings as they come (prefixed with the tenant), "
            + "then a table with one row per tenant. Exits 0 only if every tenant is clean.",
        "With -o json, NDJSON lines {\"tenant\":...,\"finding\"|\"summary\"|\"error\":...}."})
public final class VerifyAllCommand extends SiloCommand {

  @picocli.CommandLine.Mixin
  PhaseOptions phaseOptions = new PhaseOptions();

  // Failures that would repeat identically for every tenant: stop at the first
  // rather than print the same error a few hundred times.
  private static final Set<Status.Code> FATAL = EnumSet.of(
      Status.Code.UNAVAILABLE, Status.Code.UNAUTHENTICATED, Status.Code.PERMISSION_DENIED,
      Status.Code.UNIMPLEMENTED, Status.Code.CANCELLED, Status.Code.DEADLINE_EXCEEDED);

  /** One tenant's outcome: a verification result, or the error that prevented it. */
  private record Row(String tenant, Verification.Result result, Status error) {
    boolean clean() {
      return result != null && result.clean();
    }
  }

  @Override
  protected int execute() {
    boolean json = root().output() == OutputFormat.JSON;
    List<String> slugs = allTenants();
    List<Row> rows = new ArrayList<>();
    int i = 0;
    for (String tenant : slugs) {
      i++;
      Row row;
      try {
        row = new Row(tenant, Verification.run(connection(), tenant, phaseOptions.selected(spec.commandLine()), m -> print(json, tenant, m)), null);
      } catch (StatusRuntimeException e) {
        if (FATAL.contains(e.getStatus().getCode())) {
          throw e;
        }
        row = new Row(tenant, null, e.getStatus());
        if (json) {
          out().println("{\"tenant\":" + Ndjson.string(tenant) + ",\"error\":{\"code\":"
              + Ndjson.string(e.getStatus().getCode().name()) + ",\"message\":"
              + Ndjson.string(ErrorReporter.message(e.getStatus(), e)) + "}}");
          out().flush();
        }
      }
      rows.add(row);
      if (!json) {
        // Progress for a person on stderr; stdout keeps findings and the table.
        err().println("verified " + MigrationText.sanitize(tenant) + " (" + i + "/" + slugs.size() + "): " + result(row));
        err().flush();
      }
    }
    long clean = rows.stream().filter(Row::clean).count();
    if (!json) {
      // No JSON counterpart: the NDJSON lines above already carry every row.
      out().print(table(rows).render());
      out().println(rows.size() + " tenants verified: " + clean + " clean, " + (rows.size() - clean) + " not");
      out().flush();
    }
    return clean == rows.size() ? OK : FAILED;
  }

  private void print(boolean json, String tenant, VerifyTenantResponse m) {
    if (json) {
      if (m.hasFinding()) {
        out().println("{\"tenant\":" + Ndjson.string(tenant) + ",\"finding\":" + Ndjson.line(m.getFinding()) + "}");
      } else if (m.hasSummary()) {
        out().println("{\"tenant\":" + Ndjson.string(tenant) + ",\"summary\":" + Ndjson.line(m.getSummary()) + "}");
      }
      out().flush();
    } else if (m.hasFinding()) {
      out().println(MigrationText.sanitize(tenant) + "  " + Verification.line(m.getFinding()));
      out().flush();
    }
  }

  private static String result(Row row) {
    if (row.error() != null) {
      return "error: " + row.error().getCode() + ": " + ErrorReporter.message(row.error(), null);
    }
    return row.clean() ? "clean" : Math.max(row.result().summary().getFindings(), row.result().findingsSeen()) + " findings";
  }

  private static Table table(List<Row> rows) {
    Table table = new Table("TENANT", "CHECKED", "FINDINGS", "RESULT");
    for (Row row : rows) {
      Verification.Result r = row.result();
      table.row(
          row.tenant(),
          r == null ? null : Long.toString(r.summary().getChecked()),
          r == null ? null : Long.toString(Math.max(r.summary().getFindings(), r.findingsSeen())),
          row.error() != null ? result(row) : row.clean() ? "clean" : "FINDINGS");
    }
    return table;
  }

  /** Every tenant slug, following next_page_token; each page is its own call with its own deadline. */
  private List<String> allTenants() {
    List<String> slugs = new ArrayList<>();
    Set<String> seen = new HashSet<>();
    String token = "";
    do {
      // A server that hands back a token it already gave would loop forever.
      if (!seen.add(token)) {
        throw Status.INTERNAL
            .withDescription("server repeated page token '" + token + "'; stopping to avoid an endless loop")
            .asRuntimeException();
      }
      ListTenantsResponse page = connection().tenants().listTenants(ListTenantsRequest.newBuilder().setPageToken(token).build());
      page.getTenantsList().stream().map(Tenant::getSlug).forEach(slugs::add);
      token = page.getNextPageToken();
    } while (!token.isEmpty());
    return slugs;
  }
}
