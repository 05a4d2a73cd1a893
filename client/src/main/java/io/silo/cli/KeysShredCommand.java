package io.silo.cli;

import io.silo.api.v1.ShredTenantKeyRequest;
import io.silo.api.v1.ShredTenantKeyResponse;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code silo keys shred}: deletes a tenant's data key so its data can never be decrypted again (ShredTenantKey). */
@Command(
    name = "shred",
    mixinStandardHelpOptions = true,
    description = "Delete the tenant's data key (crypto-shredding): the tenant's encrypted data becomes "
        + "unrecoverable. This cannot be undone.")
public final class KeysShredCommand extends SiloCommand {

  @Parameters(index = "0", paramLabel = "TENANT", description = "Tenant slug.")
  String tenant;

  // The server checks that it equals the tenant slug; the CLI only insists that
  // it is typed, so that the comparison is made in one place.
  @Option(names = "--confirm", required = true, paramLabel = "TENANT",
      description = "The tenant slug again, to confirm that this tenant's data is to be made unreadable.")
  String confirm;

  @Override
  protected int execute() {
    ShredTenantKeyResponse response = connection().keys().shredTenantKey(
        ShredTenantKeyRequest.newBuilder().setTenant(tenant).setConfirm(confirm).build());
    printer().print(response, () -> Table.value("Shredded key " + response.getKeyId() + " of tenant " + tenant
        + " (audit id " + response.getAuditId() + "): ciphertext under this key stops decrypting within "
        + response.getEffectiveWithinSeconds() + " s"));
    return OK;
  }
}
