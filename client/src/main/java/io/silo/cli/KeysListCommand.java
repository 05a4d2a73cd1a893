package io.silo.cli;

import io.silo.api.v1.ListTenantKeysRequest;
import io.silo.api.v1.ListTenantKeysResponse;
import java.util.HashSet;
import java.util.Set;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code silo keys list}: lists data keys one page at a time (ListTenantKeys), or all pages with {@code --all}. */
@Command(name = "list", mixinStandardHelpOptions = true, description = "List data keys ordered by key alt name.")
public final class KeysListCommand extends SiloCommand {

  @Option(names = "--tenant", paramLabel = "TENANT", defaultValue = "",
      description = "Only the key of this tenant.")
  String tenant;

  @Option(names = "--page-size", paramLabel = "N", defaultValue = "0",
      description = "Keys per page, 1-1000; 0 (the default) lets the server choose.")
  int pageSize;

  @Option(names = "--page-token", paramLabel = "TOKEN", defaultValue = "",
      description = "Token from a previous page's next_page_token.")
  String pageToken;

  @Option(names = "--all", description = "Follow next_page_token and print every key.")
  boolean all;

  @Override
  protected int execute() {
    if (pageSize < 0 || pageSize > 1000) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "Invalid value for option '--page-size': " + pageSize + " is outside 0-1000");
    }
    ListTenantKeysResponse response = all ? fetchAll() : fetch(pageToken);
    Printer printer = printer();
    printer.print(response, () -> KeyTable.of(response.getKeysList()));
    if (!all && !response.getNextPageToken().isEmpty()) {
      // Table output has no field for the token, so tell people how to continue.
      printer.note("More keys: --page-token " + response.getNextPageToken() + " (or use --all)");
    }
    return OK;
  }

  private ListTenantKeysResponse fetch(String token) {
    return connection().keys().listTenantKeys(
        ListTenantKeysRequest.newBuilder().setTenant(tenant).setPageSize(pageSize).setPageToken(token).build());
  }

  /**
   * Collects every page into one response whose next_page_token is empty, so
   * JSON consumers see the same shape with or without --all. Each page is its
   * own call with its own deadline.
   */
  private ListTenantKeysResponse fetchAll() {
    ListTenantKeysResponse.Builder merged = ListTenantKeysResponse.newBuilder();
    Set<String> seen = new HashSet<>();
    String token = pageToken;
    do {
      // A server that hands back a token it already gave would loop forever.
      if (!seen.add(token)) {
        throw io.grpc.Status.INTERNAL
            .withDescription("server repeated page token '" + token + "'; stopping to avoid an endless loop")
            .asRuntimeException();
      }
      ListTenantKeysResponse page = fetch(token);
      merged.addAllKeys(page.getKeysList());
      token = page.getNextPageToken();
    } while (!token.isEmpty());
    return merged.build();
  }
}
