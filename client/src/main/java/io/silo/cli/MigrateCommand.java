package io.silo.cli;

import io.silo.api.v1.Migration;
import io.silo.api.v1.StartMigrationRequest;
import io.silo.api.v1.WatchMigrationRequest;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code silo migrate}: starts (or finds the active) migration of one tenant (StartMigration), optionally following it. */
@Command(
    name = "migrate",
    mixinStandardHelpOptions = true,
    description = {
        "Start migrating one tenant to isolated storage, or show its active migration if one is running.",
        "With --follow, watch it to the end: exit 0 if it completed with no failed item, 1 otherwise. "
            + "With -o json --follow, stdout is NDJSON: the start response, then one event per line."})
public final class MigrateCommand extends StartingCommand {

  @Parameters(index = "0", paramLabel = "TENANT", description = "Tenant slug.")
  String tenant;

  @Override
  protected void select(StartMigrationRequest.Builder request) {
    request.addTenants(tenant);
  }

  @Override
  protected WatchMigrationRequest watch(List<Migration> started) {
    // By id: the server ends this stream itself after the final event.
    return WatchMigrationRequest.newBuilder().setMigrationId(started.get(0).getId()).build();
  }

  @Override
  protected String watchAgain(List<Migration> started) {
    return "silo watch " + started.get(0).getId();
  }
}
