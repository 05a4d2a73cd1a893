package io.silo.api;

import io.vertx.grpc.server.StatusException;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.regex.Pattern;

/** Request validation shared by the endpoints; every failure names the field it is about. */
public final class Validation {

  /** Lowercase letters, digits and hyphens, 3-40 characters, starting and ending with a letter or digit. */
  public static final Pattern SLUG = Pattern.compile("[a-z0-9][a-z0-9-]{1,38}[a-z0-9]");
  public static final int MAX_DISPLAY_NAME = 200;
  public static final int MAX_IDEMPOTENCY_KEY = 128;
  public static final int DEFAULT_PAGE_SIZE = 100;
  public static final int MAX_PAGE_SIZE = 1000;

  private Validation() {
  }

  public static String slug(String field, String value) throws StatusException {
    if (value == null || value.isEmpty()) {
      throw GrpcErrors.invalidArgument(field, "is required");
    }
    int length = value.codePointCount(0, value.length());
    if (length < 3 || length > 40) {
      throw GrpcErrors.invalidArgument(field, "must be 3-40 characters long (got " + length + ")");
    }
    if (!SLUG.matcher(value).matches()) {
      throw GrpcErrors.invalidArgument(field, "must contain only lowercase letters a-z, digits and hyphens, "
          + "and start and end with a letter or digit");
    }
    return value;
  }

  public static String displayName(String field, String value) throws StatusException {
    if (value == null || value.isBlank()) {
      throw GrpcErrors.invalidArgument(field, "is required");
    }
    if (value.codePointCount(0, value.length()) > MAX_DISPLAY_NAME) {
      throw GrpcErrors.invalidArgument(field, "must be at most " + MAX_DISPLAY_NAME + " characters");
    }
    if (value.codePoints().anyMatch(Character::isISOControl)) {
      throw GrpcErrors.invalidArgument(field, "must not contain control characters");
    }
    if (!value.equals(value.strip())) {
      throw GrpcErrors.invalidArgument(field, "must not start or end with whitespace");
    }
    return value;
  }

  public static String idempotencyKey(String field, String value) throws StatusException {
    if (value.length() > MAX_IDEMPOTENCY_KEY) {
      throw GrpcErrors.invalidArgument(field, "must be at most " + MAX_IDEMPOTENCY_KEY + " characters");
    }
    if (value.codePoints().anyMatch(Character::isISOControl)) {
      throw GrpcErrors.invalidArgument(field, "must not contain control characters");
    }
    return value;
  }

  public static int pageSize(String field, int value) throws StatusException {
    if (value < 0 || value > MAX_PAGE_SIZE) {
      throw GrpcErrors.invalidArgument(field, "must be between 0 and " + MAX_PAGE_SIZE + " (0 means "
          + DEFAULT_PAGE_SIZE + ")");
    }
    return value == 0 ? DEFAULT_PAGE_SIZE : value;
  }

  /** Page tokens are opaque to callers; inside they carry a kind tag and the last key of the previous page. */
  public static String encodePageToken(String kind, String lastKey) {
    return Base64.getUrlEncoder().withoutPadding()
        .encodeToString((kind + "\n" + lastKey).getBytes(StandardCharsets.UTF_8));
  }

  /** Decodes a page token of the given kind; an empty token means the first page and yields "". */
  public static String decodePageToken(String field, String kind, String token) throws StatusException {
    if (token == null || token.isEmpty()) {
      return "";
    }
    try {
      String decoded = new String(Base64.getUrlDecoder().decode(token), StandardCharsets.UTF_8);
      int newline = decoded.indexOf('\n');
      if (newline < 0 || !decoded.substring(0, newline).equals(kind)) {
        throw GrpcErrors.invalidArgument(field, "is not a token returned by this list call");
      }
      return decoded.substring(newline + 1);
    } catch (IllegalArgumentException e) {
      throw GrpcErrors.invalidArgument(field, "is not a valid page token");
    }
  }
}
