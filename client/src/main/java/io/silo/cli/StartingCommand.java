package io.silo.cli;

import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationDefinition;
import io.silo.api.v1.StartMigrationRequest;
import io.silo.api.v1.StartMigrationResponse;
import io.silo.api.v1.WatchMigrationRequest;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Option;

/** Base of migrate and migrate-all: the shared options, the StartMigration call and the optional --follow. */
abstract class StartingCommand extends FollowingCommand {

  @Option(names = "--follow", description = "Watch until every started migration is final; the exit code then "
      + "reports the outcome (0 only if all completed with no failed item).")
  boolean follow;

  @Option(names = "--idempotency-key", paramLabel = "KEY",
      description = "Makes the command safe to retry: the same key returns the same migrations instead of "
          + "starting new ones (at most 128 characters).")
  String idempotencyKey;

  @Option(names = "--batch-size", paramLabel = "N",
      description = "Documents per batch, 1-10000 (default: the server's, normally 500).")
  Integer batchSize;

  @CommandLine.Mixin
  PhaseOptions phaseOptions = new PhaseOptions();

  /** Sets the tenants (or all_tenants) on the request. */
  protected abstract void select(StartMigrationRequest.Builder request);

  /** Builds the watch that follows the started migrations. */
  protected abstract WatchMigrationRequest watch(List<Migration> started);

  /** The command that resumes watching after Ctrl-C or a lost stream. */
  protected abstract String watchAgain(List<Migration> started);

  @Override
  protected int execute() {
    if (batchSize != null && (batchSize < 1 || batchSize > 10_000)) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "Invalid value for option '--batch-size': " + batchSize + " is outside 1-10000");
    }
    StartMigrationRequest.Builder request = StartMigrationRequest.newBuilder();
    select(request);
    List<io.silo.api.v1.MigrationPhase> phases = phaseOptions.selected(spec.commandLine());
    if (batchSize != null || !phases.isEmpty()) {
      // Only the overridden fields are set; everything else stays at the server's
      // configured defaults (an empty definition means "all defaults").
      MigrationDefinition.Builder definition = MigrationDefinition.newBuilder().addAllPhases(phases);
      if (batchSize != null) {
        definition.setBatchSize(batchSize);
      }
      request.setDefinition(definition);
    }
    if (idempotencyKey != null) {
      request.setIdempotencyKey(idempotencyKey);
    }
    StartMigrationResponse response = connection().migrations().startMigration(request.build());
    List<Migration> started = response.getMigrationsList();
    if (follow && root().output() == OutputFormat.JSON) {
      // The whole of stdout is NDJSON: this line, then one line per event.
      Ndjson.print(out(), response);
    } else {
      Printer printer = printer();
      printer.note(summary(started));
      printer.print(response, () -> MigrationText.table(started));
    }
    if (started.isEmpty()) {
      return OK;
    }
    if (!follow) {
      if (started.stream().anyMatch(m -> !MigrationText.isFinal(m.getState()))) {
        printer().note("Follow the progress with '" + watchAgain(started) + "'");
      }
      return OK;
    }
    String watchAgain = watchAgain(started);
    Followed followed = follow(watch(started), started, true,
        "stopped watching; the migration keeps running on the server (watch again with '" + watchAgain + "')");
    return finish(followed, watchAgain);
  }

  private static String summary(List<Migration> started) {
    if (started.isEmpty()) {
      return "Nothing to migrate: no tenant needs a migration";
    }
    if (started.size() == 1) {
      Migration m = started.get(0);
      // The server returns an already active migration instead of starting a
      // second one, so "started" would not always be true.
      return MigrationText.sanitize("Migration " + m.getId() + " of tenant " + m.getTenant() + ": "
          + MigrationText.state(m.getState()));
    }
    return started.size() + " migrations started or already active";
  }
}
