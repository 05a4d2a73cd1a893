package io.silo.cli;

import java.io.PrintWriter;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
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
  /** Exit code after Ctrl-C ended a stream: 128 + SIGINT, what the shell reports for an interrupted process anyway. */
  public static final int INTERRUPTED = 130;

  // How long Ctrl-C waits for the command to finish its output (closing progress
  // bars, saying what keeps running on the server) before the JVM halts.
  private static final long INTERRUPT_GRACE_MILLIS = 2_000;

  @Spec protected CommandSpec spec;

  /** Does the work; returns the exit code. gRPC errors may simply propagate. */
  protected abstract int execute() throws Exception;

  @Override
  public final Integer call() {
    // Ctrl-C starts JVM shutdown; the hook cancels open streams (the server then
    // stops sending at once instead of finding a dead peer later) and lets the
    // command print its last lines before the JVM halts.
    CountDownLatch finished = new CountDownLatch(1);
    Thread onCtrlC = new Thread(() -> {
      if (ServerStream.interruptOpen() > 0) {
        try {
          finished.await(INTERRUPT_GRACE_MILLIS, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    }, "silo-ctrl-c");
    Runtime.getRuntime().addShutdownHook(onCtrlC);
    try {
      return execute();
    } catch (ServerStream.Interrupted e) {
      err().println("silo: interrupted: " + e.getMessage());
      err().flush();
      return INTERRUPTED;
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
      finished.countDown();
      try {
        Runtime.getRuntime().removeShutdownHook(onCtrlC);
      } catch (IllegalStateException shuttingDown) {
        // Ctrl-C arrived: the hook is running and is waiting for `finished`.
      }
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

  /**
   * Whether progress may be drawn as live bars: a person at a terminal asked for
   * table output. Pipes, files, CI logs and JSON get plain lines instead.
   */
  protected boolean interactive() {
    return System.console() != null && root().output() == OutputFormat.TABLE;
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
