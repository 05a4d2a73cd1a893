package io.silo.config;

import io.vertx.core.json.JsonArray;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Predicate;

/** One known configuration setting: its dotted key, type, default, constraint and whether it is a secret. */
public record Setting(String key, Type type, Object defaultValue, Predicate<Object> check, String rule, boolean secret) {

  /** Value types a setting can hold. */
  public enum Type { STRING, INT, NUMBER, BOOL, STRING_LIST }

  /** The environment variable that overrides this setting, e.g. grpc.corsOrigins becomes SILO_GRPC_CORS_ORIGINS. */
  public String envName() {
    StringBuilder out = new StringBuilder("SILO_");
    for (char c : key.toCharArray()) {
      if (c == '.') {
        out.append('_');
      } else if (Character.isUpperCase(c)) {
        out.append('_').append(c);
      } else {
        out.append(Character.toUpperCase(c));
      }
    }
    return out.toString().toUpperCase(Locale.ROOT);
  }

  /** Converts a value read from a file (already typed) or the environment (a string) to this setting's type. */
  Object coerce(Object raw, String source) {
    Object value;
    try {
      value = switch (type) {
        case STRING -> {
          if (!(raw instanceof String) && !(raw instanceof Number) && !(raw instanceof Boolean)) {
            throw new IllegalArgumentException("expected a string");
          }
          yield raw.toString();
        }
        case INT -> {
          if (raw instanceof Number n) {
            if (n.doubleValue() != Math.rint(n.doubleValue())) {
              throw new IllegalArgumentException("expected an integer");
            }
            yield n.intValue();
          }
          yield Integer.parseInt(raw.toString().trim());
        }
        case NUMBER -> {
          double n = raw instanceof Number number ? number.doubleValue() : Double.parseDouble(raw.toString().trim());
          if (!Double.isFinite(n)) {
            throw new IllegalArgumentException("expected a number");
          }
          yield n;
        }
        case BOOL -> {
          if (raw instanceof Boolean b) {
            yield b;
          }
          String s = raw.toString().trim().toLowerCase(Locale.ROOT);
          if (!s.equals("true") && !s.equals("false")) {
            throw new IllegalArgumentException("expected true or false");
          }
          yield Boolean.parseBoolean(s);
        }
        case STRING_LIST -> {
          List<String> items = new ArrayList<>();
          if (raw instanceof JsonArray array) {
            for (Object o : array) {
              items.add(String.valueOf(o));
            }
          } else if (raw instanceof List<?> list) {
            for (Object o : list) {
              items.add(String.valueOf(o));
            }
          } else {
            for (String part : raw.toString().split(",")) {
              if (!part.isBlank()) {
                items.add(part.trim());
              }
            }
          }
          yield List.copyOf(items);
        }
      };
    } catch (IllegalArgumentException e) {
      // Never echo a secret's value back, even when it is malformed.
      String shown = secret ? "<redacted>" : String.valueOf(raw);
      throw new ConfigException("invalid setting '" + key + "' from " + source + ": " + shown
          + " (" + (e instanceof NumberFormatException ? (type == Type.NUMBER ? "expected a number" : "expected an integer")
          : e.getMessage()) + ")");
    }
    if (check != null && !check.test(value)) {
      String shown = secret ? "<redacted>" : String.valueOf(value);
      throw new ConfigException("invalid setting '" + key + "' from " + source + ": " + shown + " (" + rule + ")");
    }
    return value;
  }
}
