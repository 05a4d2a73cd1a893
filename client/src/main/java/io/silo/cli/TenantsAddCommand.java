package io.silo.cli;

import io.silo.api.v1.RegisterTenantRequest;
import io.silo.api.v1.RegisterTenantResponse;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code silo tenants add}: registers a tenant (RegisterTenant); idempotent for the same slug and name. */
@Command(
    name = "add",
    mixinStandardHelpOptions = true,
    description = "Register a tenant. Registering the same slug and name again is harmless.")
public final class TenantsAddCommand extends SiloCommand {

  @Parameters(index = "0", paramLabel = "SLUG", description = "Tenant slug: lowercase letters, digits, hyphens, 3-40 characters.")
  String slug;

  @Option(names = "--name", required = true, paramLabel = "DISPLAY_NAME", description = "Human-readable tenant name.")
  String name;

  @Option(
      names = "--idempotency-key",
      paramLabel = "KEY",
      description = "Optional key recorded by the server to trace retries (at most 128 characters).")
  String idempotencyKey;

  @Override
  protected int execute() {
    RegisterTenantRequest.Builder request = RegisterTenantRequest.newBuilder().setSlug(slug).setDisplayName(name);
    if (idempotencyKey != null) {
      request.setIdempotencyKey(idempotencyKey);
    }
    RegisterTenantResponse response = connection().tenants().registerTenant(request.build());
    Printer printer = printer();
    printer.note((response.getCreated() ? "Created tenant " : "Tenant already existed: ") + response.getTenant().getSlug());
    printer.print(response, () -> TenantTable.of(List.of(response.getTenant())));
    return OK;
  }
}
