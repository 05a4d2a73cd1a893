package io.silo.cli;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Struct;
import com.google.protobuf.util.JsonFormat;
import io.silo.api.v1.MasterKey;
import picocli.CommandLine;

/** Validation shared by the commands that take {@code --provider} and {@code --master-key}. */
final class MasterKeyOptions {

  private MasterKeyOptions() {}

  /**
   * Builds the master key from the two options. A descriptor without a provider
   * is a usage error: the server would reject it anyway, and failing locally
   * means nothing is sent for a command line that cannot be right.
   */
  static MasterKey of(CommandLine cmd, String provider, String descriptorJson) {
    boolean hasProvider = provider != null && !provider.isBlank();
    if (descriptorJson != null && !hasProvider) {
      throw new CommandLine.ParameterException(cmd,
          "a master key needs a provider: --master-key was given without --provider");
    }
    MasterKey.Builder key = MasterKey.newBuilder();
    if (hasProvider) {
      key.setProvider(provider.trim());
    }
    if (descriptorJson != null) {
      key.setDescriptorJson(descriptorJson);
    }
    return key.build();
  }

  /** Accepts {@code --master-key} only when it is a JSON object, so typos fail before any call. */
  static final class JsonObjectConverter implements CommandLine.ITypeConverter<String> {

    @Override
    public String convert(String value) {
      String json = value.strip();
      // Struct's JSON form is an object, but JsonFormat's reader is lenient about
      // what follows it ("{} junk"); requiring the braces at both ends closes that gap.
      if (!json.startsWith("{")) {
        throw new CommandLine.TypeConversionException("must be a JSON object such as {\"keyId\":\"1\"}");
      }
      if (!json.endsWith("}")) {
        throw new CommandLine.TypeConversionException("not valid JSON: the object must end with '}' and nothing after it");
      }
      try {
        // protobuf-java-util is already a dependency; gson, which it uses, is
        // runtime-only, so Struct is the way to have a real JSON parser check it.
        JsonFormat.parser().merge(json, Struct.newBuilder());
      } catch (InvalidProtocolBufferException | RuntimeException e) {
        throw new CommandLine.TypeConversionException("not valid JSON (" + e.getMessage() + ")");
      }
      // The text is sent as given: re-serialising could reorder or reformat what
      // the user wrote, and the server parses it itself.
      return json;
    }
  }
}
