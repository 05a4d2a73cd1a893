package io.silo.cli;

import io.silo.api.v1.MigrationPhase;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import picocli.CommandLine;
import picocli.CommandLine.Option;

/** The {@code --phases mongo,s3} option shared by plan, migrate and verify: which phases a command covers. */
final class PhaseOptions {

  @Option(names = "--phases", paramLabel = "PHASE[,PHASE]", split = ",",
      description = "Phases to cover: mongo, s3 (default: every phase the server runs).")
  List<String> phases = new ArrayList<>();

  /** The phases asked for, or an empty list for the server's default. */
  List<MigrationPhase> selected(CommandLine commandLine) {
    List<MigrationPhase> out = new ArrayList<>();
    for (String name : phases) {
      switch (name.trim().toLowerCase(Locale.ROOT)) {
        case "mongo" -> out.add(MigrationPhase.MIGRATION_PHASE_MONGO);
        case "s3" -> out.add(MigrationPhase.MIGRATION_PHASE_S3);
        default -> throw new CommandLine.ParameterException(commandLine,
            "Invalid value for option '--phases': '" + name + "' (use mongo, s3 or mongo,s3)");
      }
    }
    return out;
  }
}
