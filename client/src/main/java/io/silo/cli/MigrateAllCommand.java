package io.silo.cli;

import io.silo.api.v1.Migration;
import io.silo.api.v1.StartMigrationRequest;
import io.silo.api.v1.WatchMigrationRequest;
import java.util.List;
import picocli.CommandLine.Command;

/** {@code silo migrate-all}: starts migrations for every tenant not isolated yet (StartMigration all_tenants), optionally following them all. */
@Command(
    name = "migrate-all",
    mixinStandardHelpOptions = true,
    description = {
        "Start migrating every registered tenant that is not isolated yet; tenants with an active migration "
            + "keep it.",
        "With --follow, watch until every one is final: exit 0 only if all completed with no failed item."})
public final class MigrateAllCommand extends StartingCommand {

  @Override
  protected void select(StartMigrationRequest.Builder request) {
    request.setAllTenants(true);
  }

  @Override
  protected WatchMigrationRequest watch(List<Migration> started) {
    // One stream for all of them; events of migrations this command did not
    // start are dropped by the follower.
    return WatchMigrationRequest.newBuilder().setAll(true).build();
  }

  @Override
  protected String watchAgain(List<Migration> started) {
    return "silo watch --all --until-done";
  }
}
