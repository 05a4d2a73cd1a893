package io.silo.cli;

import io.grpc.Status;
import java.io.PrintWriter;

/** Formats a failure as {@code silo: <STATUS_CODE>: <message>} plus, where it helps, a hint line. */
public final class ErrorReporter {
  private final PrintWriter err;

  /** Creates a reporter writing to {@code err}. */
  public ErrorReporter(PrintWriter err) {
    this.err = err;
  }

  /** Reports {@code failure}; {@code cli} supplies the options named in hints. */
  public void report(Throwable failure, SiloCli cli) {
    // fromThrowable finds a status in the cause chain and maps anything else to
    // UNKNOWN, so every failure gets the same shape.
    Status status = Status.fromThrowable(failure);
    err.println("silo: " + status.getCode() + ": " + message(status, failure));
    String hint = hint(status.getCode(), cli);
    if (hint != null) {
      err.println("silo: hint: " + hint);
    }
    err.flush();
  }

  static String message(Status status, Throwable failure) {
    String description = status.getDescription();
    Throwable cause = status.getCause() != null ? status.getCause() : (status.getCode() == Status.Code.UNKNOWN ? failure : null);
    String causeText = cause == null ? null : cause.getMessage();
    if (description == null || description.isBlank()) {
      return causeText != null ? causeText : status.getCode().toString().toLowerCase(java.util.Locale.ROOT).replace('_', ' ');
    }
    // Transport failures read "io exception"; the cause ("Connection refused: ...")
    // is what tells the user what went wrong.
    if (causeText != null && !causeText.isBlank() && !description.contains(causeText)) {
      return description + " (" + causeText + ")";
    }
    return description;
  }

  private static String hint(Status.Code code, SiloCli cli) {
    return switch (code) {
      case UNAVAILABLE -> "is a Silo server running at " + cli.server
          + "? Set --server or SILO_SERVER, and --tls or --plaintext to match the server.";
      case DEADLINE_EXCEEDED -> "no answer within " + cli.timeout.toString().substring(2).toLowerCase(java.util.Locale.ROOT)
          + "; raise --timeout if the server is just slow.";
      case UNAUTHENTICATED -> "pass a valid token with --token or SILO_TOKEN (for `silo-server dev`, run silo from"
          + " the directory holding .silo-data, or use the admin token it printed).";
      case PERMISSION_DENIED -> "this token's role or tenant does not allow that; use a token with the role the"
          + " message names.";
      default -> null;
    };
  }
}
