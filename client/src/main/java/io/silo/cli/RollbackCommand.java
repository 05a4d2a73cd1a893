package io.silo.cli;

import io.silo.api.v1.Migration;
import io.silo.api.v1.RollbackMigrationRequest;
import io.silo.api.v1.RollbackMigrationResponse;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code silo rollback}: removes a tenant's migrated target data (RollbackMigration); the source is untouched. */
@Command(
    name = "rollback",
    mixinStandardHelpOptions = true,
    description = "Remove the tenant's migrated data from the encrypted collection and the tenant's bucket. "
        + "The pooled source is not touched, so the tenant keeps working from it. Repeating it is harmless.")
public final class RollbackCommand extends SiloCommand {

  @Parameters(index = "0", paramLabel = "TENANT", description = "Tenant slug.")
  String tenant;

  @Option(names = "--migration", paramLabel = "MIGRATION_ID",
      description = "The migration to roll back (default: the tenant's latest).")
  String migrationId;

  @Option(names = "--idempotency-key", paramLabel = "KEY",
      description = "Optional key: retrying with it reports the earlier rollback (at most 128 characters).")
  String idempotencyKey;

  @Override
  protected int execute() {
    RollbackMigrationRequest.Builder request = RollbackMigrationRequest.newBuilder().setTenant(tenant);
    if (migrationId != null) {
      request.setMigrationId(migrationId);
    }
    if (idempotencyKey != null) {
      request.setIdempotencyKey(idempotencyKey);
    }
    RollbackMigrationResponse response = connection().migrations().rollbackMigration(request.build());
    Migration m = response.getMigration();
    Printer printer = printer();
    printer.note(MigrationText.sanitize("Rolled back migration " + m.getId() + " of tenant " + m.getTenant() + ": "
        + response.getDocumentsRemoved() + " documents and " + response.getObjectsRemoved()
        + " objects removed from the target"));
    printer.print(response, () -> MigrationText.table(List.of(m)));
    return OK;
  }
}
