package io.silo.cli;

import java.util.Locale;

/** A parsed {@code host:port} server address, as given with {@code --server}. */
public record ServerAddress(String host, int port) {

  /** Parses {@code host:port}, {@code [ipv6]:port}; rejects anything else with a readable message. */
  public static ServerAddress parse(String text) {
    if (text == null || text.isBlank()) {
      throw new IllegalArgumentException("expected HOST:PORT but got an empty value");
    }
    String s = text.trim();
    String host;
    String portText;
    if (s.startsWith("[")) {
      int close = s.indexOf(']');
      if (close < 0 || close + 1 >= s.length() || s.charAt(close + 1) != ':') {
        throw new IllegalArgumentException("expected [IPV6]:PORT but got '" + s + "'");
      }
      host = s.substring(1, close);
      portText = s.substring(close + 2);
    } else {
      int colon = s.lastIndexOf(':');
      // More than one colon without brackets is an unbracketed IPv6 address,
      // whose port cannot be told apart from the address.
      if (colon <= 0 || s.indexOf(':') != colon) {
        throw new IllegalArgumentException("expected HOST:PORT but got '" + s + "'");
      }
      host = s.substring(0, colon);
      portText = s.substring(colon + 1);
    }
    int port;
    try {
      port = Integer.parseInt(portText);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("port '" + portText + "' is not a number");
    }
    if (port < 1 || port > 65535) {
      throw new IllegalArgumentException("port " + port + " is outside 1-65535");
    }
    if (host.isEmpty()) {
      throw new IllegalArgumentException("expected HOST:PORT but got '" + s + "'");
    }
    return new ServerAddress(host, port);
  }

  /**
   * Whether the host is this machine. Decided from the text alone, without a DNS
   * lookup, so that choosing plaintext never depends on the resolver.
   */
  public boolean isLoopback() {
    String h = host.toLowerCase(Locale.ROOT);
    return h.equals("localhost") || h.endsWith(".localhost") || h.startsWith("127.") || h.equals("::1");
  }

  @Override
  public String toString() {
    return host.indexOf(':') >= 0 ? "[" + host + "]:" + port : host + ":" + port;
  }
}
