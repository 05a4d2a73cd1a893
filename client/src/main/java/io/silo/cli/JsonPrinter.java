package io.silo.cli;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageOrBuilder;
import com.google.protobuf.util.JsonFormat;
import java.io.PrintWriter;
import java.util.function.Supplier;

/** Prints results as protobuf JSON (proto3 JSON mapping), one object per result. */
public final class JsonPrinter implements Printer {

  // Fields at their default value (created=false, an empty next_page_token) are
  // printed too, so that scripts can rely on every key being present.
  private static final JsonFormat.Printer JSON = JsonFormat.printer().alwaysPrintFieldsWithNoPresence();

  private final PrintWriter out;

  /** Creates a printer writing to {@code out}. */
  public JsonPrinter(PrintWriter out) {
    this.out = out;
  }

  @Override
  public void print(MessageOrBuilder message, Supplier<Table> table) {
    try {
      out.println(JSON.print(message));
    } catch (InvalidProtocolBufferException e) {
      // Only possible for Any fields with unknown types, which the contract does not use.
      throw new IllegalStateException("cannot print " + message.getDescriptorForType().getFullName() + " as JSON", e);
    }
    out.flush();
  }

  @Override
  public void note(String line) {
    // Deliberately silent: the JSON message already carries the same fact.
  }
}
