package io.silo.cli;

import io.silo.api.v1.PurgeSourceRequest;
import io.silo.api.v1.PurgeSourceResponse;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code silo purge}: deletes a migrated tenant's plaintext source data (PurgeSource). Audited; cannot be undone. */
@Command(
    name = "purge",
    mixinStandardHelpOptions = true,
    description = "Delete the tenant's plaintext data from the pooled source. The server allows it only after a "
        + "clean verify. This cannot be undone.")
public final class PurgeCommand extends SiloCommand {

  @Parameters(index = "0", paramLabel = "TENANT", description = "Tenant slug.")
  String tenant;

  // The server checks that it equals the tenant slug; the CLI only insists that
  // it is typed, so that the comparison is made in one place (as for keys shred).
  @Option(names = "--confirm", required = true, paramLabel = "TENANT",
      description = "The tenant slug again, to confirm that this tenant's source data is to be deleted.")
  String confirm;

  @Override
  protected int execute() {
    PurgeSourceResponse response = connection().migrations().purgeSource(
        PurgeSourceRequest.newBuilder().setTenant(tenant).setConfirm(confirm).build());
    printer().print(response, () -> Table.value(MigrationText.sanitize("Purged the source data of tenant " + tenant
        + ": " + response.getDocumentsDeleted() + " documents and " + response.getObjectsDeleted()
        + " objects deleted (audit id " + response.getAuditId() + ")"
        + (response.getDocumentsKept() == 0 && response.getObjectsKept() == 0 ? ""
        : "; " + response.getDocumentsKept() + " document(s) and " + response.getObjectsKept() + " object(s) kept"
        + " because they changed since the copy or have no copy (re-sync with 'silo migrate " + tenant + "',"
        + " verify, then purge again)"))));
    return OK;
  }
}
