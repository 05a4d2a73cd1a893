package io.silo.cli;

import java.time.YearMonth;
import java.time.format.DateTimeParseException;
import picocli.CommandLine;

/** Converts {@code --month} values such as {@code 2026-11}. */
public final class MonthConverter implements CommandLine.ITypeConverter<YearMonth> {

  @Override
  public YearMonth convert(String value) {
    try {
      return YearMonth.parse(value.trim());
    } catch (DateTimeParseException e) {
      throw new CommandLine.TypeConversionException("'" + value + "' is not a month (example: 2026-11)");
    }
  }
}
