package io.silo.auth;

/**
 * The authenticated caller of one request: the configured token's name, its role, and the one tenant it is limited
 * to ({@code null} for every tenant). Never holds the token itself.
 */
public record Principal(String name, Role role, String tenant) {

  /** The caller when authentication is switched off ({@code auth.disabled}): unrestricted, as before tokens. */
  public static final Principal UNRESTRICTED = new Principal("auth-disabled", Role.ADMIN, null);

  /** Whether this caller is limited to one tenant. */
  public boolean scoped() {
    return tenant != null;
  }

  /** Whether this caller may see and act on {@code slug}. */
  public boolean covers(String slug) {
    return tenant == null || tenant.equals(slug);
  }

  /** How audit rows and logs name this caller: the token's name, never its value. */
  public String caller() {
    return "token:" + name;
  }
}
