package io.silo.keys;

import java.util.Optional;
import java.util.regex.Pattern;

/**
 * How a tenant's data key is named in the key vault ({@code keyAltNames}): {@code tenant-{slug}} by default, or
 * {@code tenant-{id}} with the application tenants table's numeric id, which is what the CSFLE lab's users already
 * have ({@code tenant-123}). Exactly one placeholder, between fixed text.
 */
public record AltNameTemplate(String prefix, String placeholder, String suffix) {

  public static final String SLUG = "{slug}";
  public static final String ID = "{id}";
  // Literal text stays to characters that need no escaping in a query or a page token. Declared before DEFAULT,
  // which parse() builds with it during class initialisation.
  private static final Pattern LITERAL = Pattern.compile("[A-Za-z0-9_.:/-]*");
  public static final AltNameTemplate DEFAULT = parse("tenant-{slug}");

  /** Parses a template; IllegalArgumentException says what is wrong. */
  public static AltNameTemplate parse(String template) {
    String t = template == null ? "" : template;
    boolean slug = t.contains(SLUG);
    boolean id = t.contains(ID);
    if (slug == id || t.indexOf(slug ? SLUG : ID) != t.lastIndexOf(slug ? SLUG : ID)) {
      throw new IllegalArgumentException("must contain exactly one of {slug} or {id} once, e.g. tenant-{slug}");
    }
    String placeholder = slug ? SLUG : ID;
    int at = t.indexOf(placeholder);
    String prefix = t.substring(0, at);
    String suffix = t.substring(at + placeholder.length());
    if (!LITERAL.matcher(prefix).matches() || !LITERAL.matcher(suffix).matches()) {
      throw new IllegalArgumentException("text around the placeholder may only use letters, digits and _ . : / -");
    }
    return new AltNameTemplate(prefix, placeholder, suffix);
  }

  /** Whether names carry the tenant's numeric id rather than its slug. */
  public boolean usesId() {
    return placeholder.equals(ID);
  }

  /** The alt name of a tenant. */
  public String render(String slug, long id) {
    return prefix + (usesId() ? Long.toString(id) : slug) + suffix;
  }

  /** The slug or id part of an alt name made by this template, if it is one. */
  public Optional<String> value(String altName) {
    if (altName.length() <= prefix.length() + suffix.length() || !altName.startsWith(prefix)
        || !altName.endsWith(suffix)) {
      return Optional.empty();
    }
    String value = altName.substring(prefix.length(), altName.length() - suffix.length());
    // 18 digits always fit a long; the application's ids are bigserial.
    if (usesId() && !value.matches("[0-9]{1,18}")) {
      return Optional.empty();
    }
    return Optional.of(value);
  }

  @Override
  public String toString() {
    return prefix + placeholder + suffix;
  }
}
