package io.silo.api;

import io.silo.Quote;
import io.vertx.grpc.server.StatusException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import java.util.function.Predicate;
import java.util.regex.Pattern;

/** Request validation shared by the endpoints; every failure names the field it is about. */
public final class Validation {

  /** Lowercase letters, digits and hyphens, 3-40 characters, starting and ending with a letter or digit. */
  public static final Pattern SLUG = Pattern.compile("[a-z0-9][a-z0-9-]{1,38}[a-z0-9]");
  public static final int MAX_DISPLAY_NAME = 200;
  public static final int MAX_IDEMPOTENCY_KEY = 128;
  public static final int DEFAULT_PAGE_SIZE = 100;
  public static final int MAX_PAGE_SIZE = 1000;
  /** Tenants one request may name; more would make one call hold the server for minutes. */
  public static final int MAX_TENANTS_PER_REQUEST = 1000;
  /** Longest page token accepted; every token Silo issues is far shorter. */
  public static final int MAX_PAGE_TOKEN = 512;
  /** Longest master-key provider name and descriptor JSON accepted. */
  public static final int MAX_PROVIDER = 64;
  public static final int MAX_DESCRIPTOR_JSON = 4096;

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
    rejectInvisible(field, value);
    if (!value.equals(value.strip())) {
      throw GrpcErrors.invalidArgument(field, "must not start or end with whitespace");
    }
    return value;
  }

  public static String idempotencyKey(String field, String value) throws StatusException {
    if (value.length() > MAX_IDEMPOTENCY_KEY) {
      throw GrpcErrors.invalidArgument(field, "must be at most " + MAX_IDEMPOTENCY_KEY + " characters");
    }
    rejectInvisible(field, value);
    return value;
  }

  /**
   * Refuses control, format (bidi overrides and isolates U+202A-202E and U+2066-2069, zero-width characters, BOM),
   * line and paragraph separators, unpaired surrogates, private-use and unassigned code points: they make a name
   * display as something else than what is stored (an audit log or a terminal shows "ocx.exe" for "exe.xco").
   */
  static void rejectInvisible(String field, String value) throws StatusException {
    for (int i = 0; i < value.length(); ) {
      int cp = value.codePointAt(i);
      if (invisible(cp)) {
        throw GrpcErrors.invalidArgument(field, String.format("must not contain control, format or invisible "
            + "characters (U+%04X at position %d)", cp, value.codePointCount(0, i)));
      }
      i += Character.charCount(cp);
    }
  }

  private static boolean invisible(int cp) {
    int type = Character.getType(cp);
    return Character.isISOControl(cp) || type == Character.FORMAT || type == Character.SURROGATE
        || type == Character.LINE_SEPARATOR || type == Character.PARAGRAPH_SEPARATOR
        || type == Character.PRIVATE_USE || type == Character.UNASSIGNED;
  }

  /** The tenants a request lists must be at most {@link #MAX_TENANTS_PER_REQUEST}; checked before anything else. */
  public static void tenantCount(String field, List<String> tenants) throws StatusException {
    if (tenants.size() > MAX_TENANTS_PER_REQUEST) {
      throw GrpcErrors.invalidArgument(field, "names " + tenants.size() + " tenants; the limit is "
          + MAX_TENANTS_PER_REQUEST + " per request (use all_tenants, or split the request)");
    }
  }

  /** A confirmation field that must be set and equal the tenant slug it guards. */
  public static void confirmation(String field, String value) throws StatusException {
    if (value == null || value.isEmpty()) {
      throw GrpcErrors.invalidArgument(field, "is required and must equal the tenant slug");
    }
    if (value.length() > 40) {
      throw GrpcErrors.invalidArgument(field, "must equal the tenant slug (3-40 characters)");
    }
  }

  /** A bounded, printable master-key setting (provider name or descriptor JSON). */
  public static void boundedText(String field, String value, int max) throws StatusException {
    if (value.length() > max) {
      throw GrpcErrors.invalidArgument(field, "must be at most " + max + " characters (got " + value.length() + ")");
    }
    rejectInvisible(field, value.replace('\n', ' ').replace('\t', ' ').replace('\r', ' '));
  }

  /**
   * A google.protobuf.Duration that is well-formed (nanos within +-999,999,999 with the sign of seconds) and within
   * {@code [0, maxMillis]}; returns it in milliseconds. Checked before any arithmetic, so huge seconds cannot wrap.
   */
  public static long duration(String field, com.google.protobuf.Duration d, long maxMillis) throws StatusException {
    long seconds = d.getSeconds();
    int nanos = d.getNanos();
    if (nanos <= -1_000_000_000 || nanos >= 1_000_000_000 || (seconds > 0 && nanos < 0) || (seconds < 0 && nanos > 0)) {
      throw GrpcErrors.invalidArgument(field, "is not a valid duration (nanos must be within +-999999999 and have "
          + "the sign of seconds)");
    }
    if (seconds < 0 || nanos < 0 || seconds > maxMillis / 1000) {
      throw GrpcErrors.invalidArgument(field, "must be between 0 and " + maxMillis / 1000 + " s");
    }
    long millis = seconds * 1000 + nanos / 1_000_000;
    if (millis > maxMillis) {
      throw GrpcErrors.invalidArgument(field, "must be between 0 and " + maxMillis / 1000 + " s");
    }
    return millis;
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
    return decodePageToken(field, kind, token, key -> true);
  }

  /**
   * Decodes a page token of the given kind and checks its key with {@code validKey}: a token is a cursor that goes
   * into a SQL parameter, so a forged one (a NUL byte, invalid UTF-8, a key of the wrong shape) is refused here by
   * name instead of reaching PostgreSQL as an INTERNAL error.
   */
  public static String decodePageToken(String field, String kind, String token, Predicate<String> validKey)
      throws StatusException {
    if (token == null || token.isEmpty()) {
      return "";
    }
    if (token.length() > MAX_PAGE_TOKEN) {
      throw GrpcErrors.invalidArgument(field, "is not a token returned by this list call (longer than "
          + MAX_PAGE_TOKEN + " characters)");
    }
    String decoded;
    try {
      byte[] bytes = Base64.getUrlDecoder().decode(token);
      decoded = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
    } catch (IllegalArgumentException | CharacterCodingException e) {
      throw GrpcErrors.invalidArgument(field, "is not a valid page token");
    }
    int newline = decoded.indexOf('\n');
    if (newline < 0 || !decoded.substring(0, newline).equals(kind)) {
      throw GrpcErrors.invalidArgument(field, "is not a token returned by this list call");
    }
    String key = decoded.substring(newline + 1);
    if (key.codePoints().anyMatch(Validation::invisible) || !validKey.test(key)) {
      throw GrpcErrors.invalidArgument(field, "is not a token returned by this list call");
    }
    return key;
  }
}
