package io.silo;

/**
 * Quotes caller-supplied text for error messages and logs, bounded: a message that echoes an unbounded value grows
 * the {@code grpc-message} trailer past HTTP/2 header limits, so the caller gets a reset stream instead of a status.
 */
public final class Quote {

  /** Characters of a quoted value kept in a message; the rest is summarised by its length. */
  public static final int MAX_QUOTED = 64;

  private Quote() {
  }

  /**
   * The value in single quotes, cut after {@link #MAX_QUOTED} code points, with control and format characters shown
   * as {@code \\uXXXX} so they cannot reorder or hide the rest of the message on a terminal.
   */
  public static String of(String value) {
    if (value == null) {
      return "(none)";
    }
    StringBuilder out = new StringBuilder("'");
    int shown = 0;
    int i = 0;
    while (i < value.length() && shown < MAX_QUOTED) {
      int cp = value.codePointAt(i);
      if (Character.isISOControl(cp) || Character.getType(cp) == Character.FORMAT
          || Character.getType(cp) == Character.SURROGATE || cp == '\'' || cp == '\\') {
        out.append(String.format("\\u%04X", cp));
      } else {
        out.appendCodePoint(cp);
      }
      shown++;
      i += Character.charCount(cp);
    }
    out.append('\'');
    if (i < value.length()) {
      out.append("… (").append(value.codePointCount(0, value.length())).append(" characters)");
    }
    return out.toString();
  }
}
