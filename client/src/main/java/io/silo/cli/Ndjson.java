package io.silo.cli;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageOrBuilder;
import com.google.protobuf.StringValue;
import com.google.protobuf.util.JsonFormat;
import java.io.PrintWriter;

/** Streams as newline-delimited JSON: each message on one line, so `jq -c`, `while read` and log shippers can take it line by line. */
final class Ndjson {

  // Same field policy as JsonPrinter (every key present), minus the line breaks.
  private static final JsonFormat.Printer COMPACT =
      JsonFormat.printer().alwaysPrintFieldsWithNoPresence().omittingInsignificantWhitespace();

  private Ndjson() {}

  /** {@code message} as one line of protobuf JSON, without the newline. */
  static String line(MessageOrBuilder message) {
    try {
      return COMPACT.print(message);
    } catch (InvalidProtocolBufferException e) {
      // Only possible for Any fields with unknown types, which the contract does not use.
      throw new IllegalStateException("cannot print " + message.getDescriptorForType().getFullName() + " as JSON", e);
    }
  }

  /** {@code text} as a JSON string literal, escaped by the same printer as everything else. */
  static String string(String text) {
    return line(StringValue.of(text));
  }

  /** Prints {@code message} as one line and flushes, so a reader sees each line as it happens. */
  static void print(PrintWriter out, MessageOrBuilder message) {
    out.println(line(message));
    out.flush();
  }
}
