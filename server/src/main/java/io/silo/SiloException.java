package io.silo;

/** A domain failure with the kind of status the API should report; keeps capability packages free of gRPC types. */
public final class SiloException extends RuntimeException {

  /** What went wrong, in terms a caller can act on. */
  public enum Kind { INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION, UNAVAILABLE, RESOURCE_EXHAUSTED, ABORTED }

  private final Kind kind;

  public SiloException(Kind kind, String message) {
    super(message);
    this.kind = kind;
  }

  public SiloException(Kind kind, String message, Throwable cause) {
    super(message, cause);
    this.kind = kind;
  }

  public Kind kind() {
    return kind;
  }

  public static SiloException invalid(String field, String problem) {
    return new SiloException(Kind.INVALID_ARGUMENT, field + ": " + problem);
  }

  public static SiloException notFound(String message) {
    return new SiloException(Kind.NOT_FOUND, message);
  }

  public static SiloException precondition(String message) {
    return new SiloException(Kind.FAILED_PRECONDITION, message);
  }

  public static SiloException unavailable(String message, Throwable cause) {
    return new SiloException(Kind.UNAVAILABLE, message, cause);
  }
}
