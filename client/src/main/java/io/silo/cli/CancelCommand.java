package io.silo.cli;

import io.silo.api.v1.CancelMigrationRequest;
import io.silo.api.v1.CancelMigrationResponse;
import io.silo.api.v1.Migration;
import picocli.CommandLine.Command;

/** {@code silo cancel}: cancels a migration after its current batch (CancelMigration); migrated data stays until rollback. */
@Command(name = "cancel", mixinStandardHelpOptions = true,
    description = "Cancel a migration after its current batch. It cannot be resumed; the data migrated so far "
        + "stays in the target until 'silo rollback'.")
public final class CancelCommand extends MigrationActionCommand<CancelMigrationResponse> {

  @Override
  protected CancelMigrationResponse call(String id) {
    return connection().migrations().cancelMigration(CancelMigrationRequest.newBuilder().setMigrationId(id).build());
  }

  @Override
  protected Migration migration(CancelMigrationResponse response) {
    return response.getMigration();
  }

  @Override
  protected String remark(Migration m) {
    return "Cancel requested for migration " + m.getId() + " of tenant " + m.getTenant() + ": now "
        + MigrationText.state(m.getState()) + "; remove the migrated data with 'silo rollback " + m.getTenant()
        + " --migration " + m.getId() + "'";
  }
}
