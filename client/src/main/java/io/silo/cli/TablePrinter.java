package io.silo.cli;

import com.google.protobuf.MessageOrBuilder;
import java.io.PrintWriter;
import java.util.function.Supplier;

/** Prints results as aligned columns for people. */
public final class TablePrinter implements Printer {
  private final PrintWriter out;

  /** Creates a printer writing to {@code out}. */
  public TablePrinter(PrintWriter out) {
    this.out = out;
  }

  @Override
  public void print(MessageOrBuilder message, Supplier<Table> table) {
    out.print(table.get().render());
    out.flush();
  }

  @Override
  public void note(String line) {
    out.println(line);
    out.flush();
  }
}
