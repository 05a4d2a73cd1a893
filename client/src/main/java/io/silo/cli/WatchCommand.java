package io.silo.cli;

import io.silo.api.v1.Migration;
import io.silo.api.v1.WatchMigrationRequest;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code silo watch}: streams progress of one migration, a tenant's migrations or all of them (WatchMigration). */
@Command(
    name = "watch",
    mixinStandardHelpOptions = true,
    description = {
        "Stream migration progress. Give exactly one of MIGRATION_ID, --tenant or --all.",
        "A migration id is watched until it is final (exit 0 if it completed with no failed item, 1 otherwise); "
            + "--tenant and --all run until Ctrl-C, or with --until-done until every migration seen is final.",
        "With -o json, one event per line (NDJSON)."})
public final class WatchCommand extends FollowingCommand {

  @Parameters(index = "0", arity = "0..1", paramLabel = "MIGRATION_ID", description = "Migration to watch.")
  String migrationId;

  @Option(names = "--tenant", paramLabel = "TENANT", description = "Watch the tenant's current and future migrations.")
  String tenant;

  @Option(names = "--all", description = "Watch every migration.")
  boolean all;

  @Option(names = "--until-done",
      description = "With --tenant or --all: exit once every migration seen so far is final (waits for the first "
          + "one to appear) instead of running until Ctrl-C.")
  boolean untilDone;

  @Override
  protected int execute() {
    int selectors = (migrationId != null ? 1 : 0) + (tenant != null ? 1 : 0) + (all ? 1 : 0);
    if (selectors != 1) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "Give exactly one of MIGRATION_ID, --tenant or --all" + (selectors > 1 ? " (got " + selectors + ")" : ""));
    }
    WatchMigrationRequest.Builder request = WatchMigrationRequest.newBuilder();
    if (migrationId != null) {
      request.setMigrationId(migrationId);
      // Tracked as a known id so the stream's other content (none expected) and
      // duplicates after the final event are ignored, as for migrate --follow.
      List<Migration> one = List.of(Migration.newBuilder().setId(migrationId).build());
      Followed followed = follow(request.build(), one, true, "stopped watching; the migration keeps running on the server");
      return finish(followed, "silo watch " + migrationId);
    }
    String again;
    if (tenant != null) {
      request.setTenant(tenant);
      again = "silo watch --tenant " + tenant;
    } else {
      request.setAll(true);
      again = "silo watch --all";
    }
    Followed followed = follow(request.build(), null, untilDone, "stopped watching; migrations keep running on the server");
    if (!untilDone) {
      // Without --until-done only Ctrl-C (or an error) should end this; a stream
      // the server closes on its own is worth saying so.
      err().println("silo: the server ended the watch stream");
      err().println("silo: hint: watch again with '" + again + "'");
      err().flush();
      return FAILED;
    }
    return finish(followed, again + " --until-done");
  }
}
