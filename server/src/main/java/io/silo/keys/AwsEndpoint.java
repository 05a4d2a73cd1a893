package io.silo.keys;

import java.net.URI;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One AWS KMS endpoint override in the two forms its clients take: the AWS SDK wants an {@code https://} URI,
 * libmongocrypt a bare {@code host:port}. Operators write either form once and Silo derives the other.
 */
public record AwsEndpoint(String host, int port) {

  // libmongocrypt always speaks TLS to a KMS, so plain http:// is refused rather than silently upgraded.
  private static final Pattern FORM = Pattern.compile("(?:https://)?([A-Za-z0-9.-]+|\\[[0-9A-Fa-f:.]+])(?::(\\d{1,5}))?/?");

  public AwsEndpoint {
    if (port < 1 || port > 65535) {
      throw new IllegalArgumentException("port must be 1-65535");
    }
  }

  /**
   * Parses {@code host}, {@code host:port}, {@code https://host} or {@code https://host:port} (port 443 when absent).
   * Throws IllegalArgumentException naming the accepted forms.
   */
  public static AwsEndpoint parse(String value) {
    Matcher m = FORM.matcher(value == null ? "" : value.trim());
    if (!m.matches()) {
      throw new IllegalArgumentException("'" + value + "' is not an AWS KMS endpoint: use host[:port] or "
          + "https://host[:port]");
    }
    return new AwsEndpoint(m.group(1), m.group(2) == null ? 443 : Integer.parseInt(m.group(2)));
  }

  /** Whether a value parses as an endpoint; for config validation. */
  public static boolean isValid(String value) {
    try {
      parse(value);
      return true;
    } catch (IllegalArgumentException e) {
      return false;
    }
  }

  /** The form libmongocrypt takes in a master key's {@code endpoint} field. */
  public String hostPort() {
    return host + ":" + port;
  }

  /** The form the AWS SDK takes as {@code endpointOverride}. */
  public URI sdkUri() {
    return URI.create("https://" + hostPort());
  }
}
