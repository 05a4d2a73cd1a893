package io.silo.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code silo verify}: compares a tenant's source and target (VerifyTenant) and prints each finding. Exit 0 only when clean. */
@Command(
    name = "verify",
    mixinStandardHelpOptions = true,
    description = {
        "Compare the tenant's source and migrated data, printing each finding (KIND SOURCE_ID FIELD MESSAGE) "
            + "and a summary. Changes nothing; findings never contain plaintext values.",
        "Exits 0 when clean, 1 when there are findings. With -o json, one stream message per line (NDJSON)."})
public final class VerifyCommand extends SiloCommand {

  @picocli.CommandLine.Mixin
  PhaseOptions phaseOptions = new PhaseOptions();

  /** Least time between two "checked so far" lines on stderr. */
  static final long PROGRESS_INTERVAL_NANOS = 2_000_000_000L;

  @Parameters(index = "0", paramLabel = "TENANT", description = "Tenant slug.")
  String tenant;

  @Override
  protected int execute() {
    boolean json = root().output() == OutputFormat.JSON;
    long[] lastProgress = {System.nanoTime()};
    Verification.Result result = Verification.run(connection(), tenant, phaseOptions.selected(spec.commandLine()), message -> {
      if (json) {
        Ndjson.print(out(), message);
      } else if (message.hasFinding()) {
        out().println(Verification.line(message.getFinding()));
        out().flush();
      } else if (message.hasCheckedSoFar() && System.nanoTime() - lastProgress[0] >= PROGRESS_INTERVAL_NANOS) {
        // On stderr and rate-limited: it reassures a person watching a long run
        // without getting into the findings a script may be reading from stdout.
        lastProgress[0] = System.nanoTime();
        err().println("verifying " + MigrationText.sanitize(tenant) + ": " + message.getCheckedSoFar() + " checked so far");
        err().flush();
      }
    });
    printer().note(Verification.summaryLine(tenant, result));
    return result.clean() ? OK : FAILED;
  }
}
