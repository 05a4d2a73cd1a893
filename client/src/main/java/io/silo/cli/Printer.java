package io.silo.cli;

import com.google.protobuf.MessageOrBuilder;
import java.util.function.Supplier;

/**
 * Writes a command's result in the chosen {@code --output} format. Commands hand
 * over both views of a result; each printer uses the one it needs.
 */
public interface Printer {

  /**
   * Prints one result: {@code message} is the JSON form (the response message as
   * is, so scripts see the contract's field names), {@code table} the human form.
   */
  void print(MessageOrBuilder message, Supplier<Table> table);

  /** Prints a one-line remark for people (e.g. "created tenant acme"); JSON output skips it so it stays one object. */
  void note(String line);
}
