package io.silo.cli;

import io.silo.api.v1.Migration;
import io.silo.api.v1.ResumeMigrationRequest;
import io.silo.api.v1.ResumeMigrationResponse;
import picocli.CommandLine.Command;

/** {@code silo resume}: resumes a paused or failed migration from its last checkpoint (ResumeMigration). */
@Command(name = "resume", mixinStandardHelpOptions = true,
    description = "Resume a paused or failed migration from its last checkpoint.")
public final class ResumeCommand extends MigrationActionCommand<ResumeMigrationResponse> {

  @Override
  protected ResumeMigrationResponse call(String id) {
    return connection().migrations().resumeMigration(ResumeMigrationRequest.newBuilder().setMigrationId(id).build());
  }

  @Override
  protected Migration migration(ResumeMigrationResponse response) {
    return response.getMigration();
  }

  @Override
  protected String remark(Migration m) {
    return "Resumed migration " + m.getId() + " of tenant " + m.getTenant() + ": now "
        + MigrationText.state(m.getState()) + " (follow it with 'silo watch " + m.getId() + "')";
  }
}
