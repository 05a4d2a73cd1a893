package io.silo.cli;

import io.silo.api.v1.ListTenantsRequest;
import io.silo.api.v1.ListTenantsResponse;
import java.util.HashSet;
import java.util.Set;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code silo tenants list}: lists tenants one page at a time (ListTenants), or all pages with {@code --all}. */
@Command(name = "list", mixinStandardHelpOptions = true, description = "List tenants ordered by slug.")
public final class TenantsListCommand extends SiloCommand {

  @Option(names = "--page-size", paramLabel = "N", defaultValue = "0",
      description = "Tenants per page, 1-1000; 0 (the default) lets the server choose.")
  int pageSize;

  @Option(names = "--page-token", paramLabel = "TOKEN", defaultValue = "",
      description = "Token from a previous page's next_page_token.")
  String pageToken;

  @Option(names = "--all", description = "Follow next_page_token and print every tenant.")
  boolean all;

  @Override
  protected int execute() {
    if (pageSize < 0 || pageSize > 1000) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "Invalid value for option '--page-size': " + pageSize + " is outside 0-1000");
    }
    ListTenantsResponse response = all ? fetchAll() : fetch(pageToken);
    Printer printer = printer();
    printer.print(response, () -> TenantTable.of(response.getTenantsList()));
    if (!all && !response.getNextPageToken().isEmpty()) {
      // Table output has no field for the token, so tell people how to continue.
      printer.note("More tenants: --page-token " + response.getNextPageToken() + " (or use --all)");
    }
    return OK;
  }

  private ListTenantsResponse fetch(String token) {
    return connection().tenants().listTenants(
        ListTenantsRequest.newBuilder().setPageSize(pageSize).setPageToken(token).build());
  }

  /**
   * Collects every page into one response whose next_page_token is empty, so
   * JSON consumers see the same shape with or without --all. Each page is its
   * own call with its own deadline.
   */
  private ListTenantsResponse fetchAll() {
    ListTenantsResponse.Builder merged = ListTenantsResponse.newBuilder();
    Set<String> seen = new HashSet<>();
    String token = pageToken;
    do {
      // A server that hands back a token it already gave would loop forever.
      if (!seen.add(token)) {
        throw io.grpc.Status.INTERNAL
            .withDescription("server repeated page token '" + token + "'; stopping to avoid an endless loop")
            .asRuntimeException();
      }
      ListTenantsResponse page = fetch(token);
      merged.addAllTenants(page.getTenantsList());
      token = page.getNextPageToken();
    } while (!token.isEmpty());
    return merged.build();
  }
}
