package io.silo.cli;

import io.silo.api.v1.Migration;
import io.silo.api.v1.PauseMigrationRequest;
import io.silo.api.v1.PauseMigrationResponse;
import picocli.CommandLine.Command;

/** {@code silo pause}: pauses a running migration after its current batch (PauseMigration). */
@Command(name = "pause", mixinStandardHelpOptions = true,
    description = "Pause a running migration after its current batch; 'silo resume' continues it.")
public final class PauseCommand extends MigrationActionCommand<PauseMigrationResponse> {

  @Override
  protected PauseMigrationResponse call(String id) {
    return connection().migrations().pauseMigration(PauseMigrationRequest.newBuilder().setMigrationId(id).build());
  }

  @Override
  protected Migration migration(PauseMigrationResponse response) {
    return response.getMigration();
  }

  @Override
  protected String remark(Migration m) {
    // The state may still read RUNNING: the pause takes effect after the batch in flight.
    return "Pause requested for migration " + m.getId() + " of tenant " + m.getTenant() + ": now "
        + MigrationText.state(m.getState()) + "; it stops after the current batch";
  }
}
