package io.silo.cli;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** A small text table: a header row and data rows, rendered as left-aligned columns. */
public final class Table {
  private static final String GAP = "  ";

  private final List<String> headers;
  private final boolean showHeaders;
  private final List<List<String>> rows = new ArrayList<>();

  /** Creates a table with the given column headers. */
  public Table(String... headers) {
    this(true, headers);
  }

  private Table(boolean showHeaders, String... headers) {
    this.headers = List.of(headers);
    this.showHeaders = showHeaders;
  }

  /** A single value on a line of its own, for answers where a header would be noise (e.g. "SERVING"). */
  public static Table value(String value) {
    return new Table(false, "").row(value);
  }

  /** Adds a row; it must have one cell per column. Null cells print as "-". */
  public Table row(String... cells) {
    if (cells.length != headers.size()) {
      throw new IllegalArgumentException("expected " + headers.size() + " cells, got " + cells.length);
    }
    rows.add(Arrays.stream(cells).map(c -> c == null || c.isEmpty() ? "-" : sanitize(c)).toList());
    return this;
  }

  /** Number of data rows. */
  public int size() {
    return rows.size();
  }

  /** Renders header and rows, each line ending in a newline. */
  public String render() {
    int[] widths = new int[headers.size()];
    for (int i = 0; i < widths.length; i++) {
      widths[i] = showHeaders ? headers.get(i).length() : 0;
      for (List<String> r : rows) {
        widths[i] = Math.max(widths[i], r.get(i).length());
      }
    }
    StringBuilder sb = new StringBuilder();
    if (showHeaders) {
      line(sb, headers, widths);
    }
    for (List<String> r : rows) {
      line(sb, r, widths);
    }
    return sb.toString();
  }

  private static void line(StringBuilder sb, List<String> cells, int[] widths) {
    for (int i = 0; i < cells.size(); i++) {
      String c = cells.get(i);
      sb.append(c);
      // No padding after the last column, so lines carry no trailing blanks.
      if (i < cells.size() - 1) {
        sb.append(" ".repeat(widths[i] - c.length())).append(GAP);
      }
    }
    sb.append('\n');
  }

  // Display names come from the server; a newline or tab in one would break the
  // column layout (and a terminal escape could mislead the reader).
  private static String sanitize(String cell) {
    StringBuilder sb = new StringBuilder(cell.length());
    cell.codePoints().forEach(cp -> sb.appendCodePoint(Character.isISOControl(cp) ? '?' : cp));
    return sb.toString();
  }
}
