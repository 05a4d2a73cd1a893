package io.silo.auth;

import io.silo.config.ConfigException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The configured bearer tokens, held only as SHA-256 hashes. A presented token is hashed and compared with every
 * configured hash in constant time, so neither the configuration nor the timing of a refusal reveals a token.
 */
public final class TokenRegistry {

  /** The setting that lists the tokens, as {@code name:role[:tenant]:sha256hex} entries. */
  public static final String SETTING = "auth.tokens";

  private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_.-]{1,64}");
  private static final Pattern TENANT = Pattern.compile("[a-z0-9][a-z0-9-]{1,38}[a-z0-9]");
  private static final Pattern HASH = Pattern.compile("[0-9a-fA-F]{64}");

  private record Entry(Principal principal, byte[] hash) {
  }

  private final List<Entry> entries;

  private TokenRegistry(List<Entry> entries) {
    this.entries = List.copyOf(entries);
  }

  /**
   * Parses the configured entries.
   *
   * @throws ConfigException naming the entry (by position and token name, never its hash) that is malformed
   */
  public static TokenRegistry parse(List<String> configured) {
    List<Entry> out = new ArrayList<>();
    Set<String> names = new HashSet<>();
    Set<String> hashes = new HashSet<>();
    for (int i = 0; i < configured.size(); i++) {
      String where = SETTING + "[" + i + "]";
      String[] parts = configured.get(i).trim().split(":", -1);
      if (parts.length != 3 && parts.length != 4) {
        throw new ConfigException("invalid setting '" + where + "': expected name:role[:tenant]:sha256hex");
      }
      String name = parts[0];
      if (!NAME.matcher(name).matches()) {
        throw new ConfigException("invalid setting '" + where + "': the name must be 1-64 of A-Z a-z 0-9 _ . -");
      }
      where = where + " (" + name + ")";
      Role role = Role.parse(parts[1]);
      if (role == null) {
        throw new ConfigException("invalid setting '" + where + "': role must be viewer, operator or admin");
      }
      String tenant = parts.length == 4 ? parts[2] : null;
      if (tenant != null && !TENANT.matcher(tenant).matches()) {
        throw new ConfigException("invalid setting '" + where + "': the tenant must be a tenant slug");
      }
      String hash = parts[parts.length - 1];
      if (!HASH.matcher(hash).matches()) {
        // A plaintext token pasted here by mistake must not be echoed back, so the value is not quoted.
        throw new ConfigException("invalid setting '" + where + "': the last part must be the token's SHA-256 as"
            + " 64 hex digits (printf %s \"$TOKEN\" | sha256sum), never the token itself");
      }
      if (!names.add(name)) {
        throw new ConfigException("invalid setting '" + where + "': the name is used by another token");
      }
      if (!hashes.add(hash.toLowerCase(java.util.Locale.ROOT))) {
        throw new ConfigException("invalid setting '" + where + "': the same token is configured twice");
      }
      out.add(new Entry(new Principal(name, role, tenant), HexFormat.of().parseHex(hash)));
    }
    return new TokenRegistry(out);
  }

  /** Whether no token is configured. */
  public boolean isEmpty() {
    return entries.isEmpty();
  }

  /** The caller a presented token belongs to, or empty when it matches no configured token. */
  public Optional<Principal> authenticate(String token) {
    byte[] presented = sha256(token);
    Principal found = null;
    // Every entry is compared, match or not, so the time taken does not tell which entry (if any) matched.
    for (Entry entry : entries) {
      if (MessageDigest.isEqual(entry.hash(), presented) && found == null) {
        found = entry.principal();
      }
    }
    return Optional.ofNullable(found);
  }

  /** The SHA-256 of a token as lower-case hex: what {@code auth.tokens} holds. */
  public static String hashHex(String token) {
    return HexFormat.of().formatHex(sha256(token));
  }

  private static byte[] sha256(String token) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java runtime has SHA-256", e);
    }
  }
}
