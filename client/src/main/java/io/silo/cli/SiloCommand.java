package io.silo.cli;

import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/**
 * Base of every command that talks to the server: gives access to the global
 * options, the connection and the printer, and turns failures into
 * {@code silo: CODE: message} and exit code 1.
 */
public abstract class SiloCommand implements Callable<Integer> {

  /** Exit code of a successful command. */
  public static final int OK = 0;
  /** Exit code of a failed call or an unhealthy answer. */
  public static final int FAILED = 1;

  @Spec protected CommandSpec spec;

  /** Does the work; returns the exit code. gRPC errors may simply propagate. */
  protected abstract int execute() throws Exception;

  @Override
  public final Integer call() {
    try {
      return execute();
    } catch (CommandLine.ParameterException e) {
      // Bad option values found only when used (e.g. --server) stay usage errors:
      // picocli prints them with the usage help and exits 2.
      throw e;
    } catch (Exception e) {
      // Handled here rather than by an execution-exception handler so that the
      // behaviour is the same however the CommandLine was set up (tests build
      // their own), and no stack trace ever reaches the user.
      new ErrorReporter(err()).report(e, root());
      return FAILED;
    } finally {
      root().closeConnection();
    }
  }

  /** The root command, which holds the global options. */
  protected SiloCli root() {
    return (SiloCli) spec.root().userObject();
  }

  /** The lazily opened connection to the server. */
  protected GrpcConnection connection() {
    return root().connection(spec.commandLine());
  }

  /** A printer for the chosen --output format, writing to the command's stdout. */
  protected Printer printer() {
    return root().output().printer(out());
  }

  /** The command's standard output (replaceable in tests via CommandLine.setOut). */
  protected PrintWriter out() {
    return spec.commandLine().getOut();
  }

  /** The command's standard error (replaceable in tests via CommandLine.setErr). */
  protected PrintWriter err() {
    return spec.commandLine().getErr();
  }
}
