package io.silo.cli;

import io.silo.api.v1.GetTenantRequest;
import io.silo.api.v1.GetTenantResponse;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code silo tenants get}: shows one tenant (GetTenant). */
@Command(name = "get", mixinStandardHelpOptions = true, description = "Show one tenant.")
public final class TenantsGetCommand extends SiloCommand {

  @Parameters(index = "0", paramLabel = "SLUG", description = "Tenant slug.")
  String slug;

  @Override
  protected int execute() {
    GetTenantResponse response = connection().tenants().getTenant(GetTenantRequest.newBuilder().setSlug(slug).build());
    printer().print(response, () -> TenantTable.of(List.of(response.getTenant())));
    return OK;
  }
}
