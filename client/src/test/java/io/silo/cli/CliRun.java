package io.silo.cli;

import java.io.PrintWriter;
import java.io.StringWriter;
import picocli.CommandLine;

/** Runs the CLI in-process and captures exit code, stdout and stderr. */
record CliRun(int exitCode, String out, String err) {

  /** Runs with the command line exactly as {@code main} builds it. */
  static CliRun run(String... args) {
    return run(SiloCli.commandLine(), args);
  }

  /** Runs with a bare {@code new CommandLine(new SiloCli())}, without main's usage-error handler. */
  static CliRun runBare(String... args) {
    return run(new CommandLine(new SiloCli()), args);
  }

  private static CliRun run(CommandLine cmd, String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    cmd.setOut(new PrintWriter(out, true));
    cmd.setErr(new PrintWriter(err, true));
    int code = cmd.execute(args);
    return new CliRun(code, out.toString(), err.toString());
  }
}
