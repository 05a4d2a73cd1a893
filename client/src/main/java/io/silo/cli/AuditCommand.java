package io.silo.cli;

import com.google.protobuf.Timestamp;
import io.silo.api.v1.AuditEvent;
import io.silo.api.v1.AuditServiceGrpc;
import io.silo.api.v1.ListAuditEventsRequest;
import io.silo.api.v1.ListAuditEventsResponse;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.HashSet;
import java.util.Set;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code silo audit}: the audit trail, oldest first (ListAuditEvents; admin only). */
@Command(name = "audit", mixinStandardHelpOptions = true,
    description = "Show the audit trail: mutating and refused calls, key and data operations, oldest first.")
public final class AuditCommand extends SiloCommand {

  @Option(names = "--tenant", paramLabel = "SLUG", defaultValue = "", description = "Only events naming this tenant.")
  String tenant;

  @Option(names = "--since", paramLabel = "TIME",
      description = "Only events at or after this time, e.g. 2026-12-01T00:00:00Z.")
  String since;

  @Option(names = "--calls-only", description = "Leave out the key and data audits.")
  boolean callsOnly;

  @Option(names = "--page-size", paramLabel = "N", defaultValue = "0",
      description = "Events per page, 1-1000; 0 (the default) lets the server choose.")
  int pageSize;

  @Option(names = "--page-token", paramLabel = "TOKEN", defaultValue = "",
      description = "Token from a previous page's next_page_token.")
  String pageToken;

  @Option(names = "--all", description = "Follow next_page_token and print every event.")
  boolean all;

  @Override
  protected int execute() {
    ListAuditEventsRequest.Builder request = ListAuditEventsRequest.newBuilder().setTenant(tenant)
        .setCallsOnly(callsOnly).setPageSize(pageSize);
    if (since != null) {
      try {
        Instant at = Instant.parse(since);
        request.setSince(Timestamp.newBuilder().setSeconds(at.getEpochSecond()).setNanos(at.getNano()));
      } catch (DateTimeParseException e) {
        throw new CommandLine.ParameterException(spec.commandLine(), "Invalid value for option '--since': '"
            + since + "' is not a time like 2026-12-01T00:00:00Z");
      }
    }
    ListAuditEventsResponse.Builder merged = ListAuditEventsResponse.newBuilder();
    Set<String> tokens = new HashSet<>();
    String token = pageToken;
    while (true) {
      ListAuditEventsResponse page = connection().stub(AuditServiceGrpc::newBlockingStub)
          .listAuditEvents(request.setPageToken(token).build());
      merged.addAllEvents(page.getEventsList());
      token = page.getNextPageToken();
      if (!all || token.isEmpty() || !tokens.add(token)) {
        merged.setNextPageToken(all ? "" : token);
        break;
      }
    }
    ListAuditEventsResponse response = merged.build();
    Printer printer = printer();
    printer.print(response, () -> table(response));
    if (!response.getNextPageToken().isEmpty()) {
      printer.note("More events: --page-token " + response.getNextPageToken() + " (or use --all)");
    }
    return OK;
  }

  private static Table table(ListAuditEventsResponse response) {
    Table table = new Table("TIME", "CALLER", "ACTION", "TENANT", "OUTCOME", "MESSAGE");
    for (AuditEvent e : response.getEventsList()) {
      String what = e.getDetails().isEmpty() ? e.getMessage()
          : e.getMessage().isEmpty() ? e.getDetails() : e.getDetails() + "; " + e.getMessage();
      table.row(Instant.ofEpochSecond(e.getTime().getSeconds(), e.getTime().getNanos()).toString(), e.getCaller(),
          e.getAction(), e.getTenant(), e.getOutcome(), what);
    }
    return table;
  }
}
