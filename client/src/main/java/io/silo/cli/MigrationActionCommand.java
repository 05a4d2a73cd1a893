package io.silo.cli;

import com.google.protobuf.Message;
import io.silo.api.v1.Migration;
import java.util.List;
import picocli.CommandLine.Parameters;

/** Base of pause, resume and cancel: one migration id in, the migration as recorded after the request out. */
abstract class MigrationActionCommand<R extends Message> extends SiloCommand {

  @Parameters(index = "0", paramLabel = "MIGRATION_ID", description = "Migration id (see 'silo status TENANT').")
  String migrationId;

  /** Makes the call. */
  protected abstract R call(String id);

  /** The migration in the response. */
  protected abstract Migration migration(R response);

  /** The remark for people, e.g. "Pause requested for ...". */
  protected abstract String remark(Migration m);

  @Override
  protected int execute() {
    R response = call(migrationId);
    Migration m = migration(response);
    Printer printer = printer();
    printer.note(MigrationText.sanitize(remark(m)));
    printer.print(response, () -> MigrationText.table(List.of(m)));
    return OK;
  }
}
