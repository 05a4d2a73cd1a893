package io.silo.cli;

import java.io.PrintWriter;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import picocli.CommandLine;

/** The {@code --output} formats: aligned columns for people, protobuf JSON for scripts. */
public enum OutputFormat {
  TABLE,
  JSON;

  /** Creates the printer for this format writing to {@code out}. */
  Printer printer(PrintWriter out) {
    return this == JSON ? new JsonPrinter(out) : new TablePrinter(out);
  }

  /** Accepts the lower-case names users type ({@code table}, {@code json}), in any case. */
  public static final class Converter implements CommandLine.ITypeConverter<OutputFormat> {
    @Override
    public OutputFormat convert(String value) {
      try {
        return OutputFormat.valueOf(value.trim().toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new CommandLine.TypeConversionException("'" + value + "' is not one of table, json");
      }
    }
  }

  /** Lists the formats for help and shell completion. */
  public static final class Candidates implements Iterable<String> {
    @Override
    public Iterator<String> iterator() {
      return List.of("table", "json").iterator();
    }
  }
}
