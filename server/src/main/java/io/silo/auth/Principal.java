package io.silo.auth;

/**
 * The authenticated caller of one request: the configured token's name (or the client certificate's subject), its
 * role, and the one tenant it is limited to ({@code null} for every tenant). Never holds the token itself.
 */
public record Principal(String name, Role role, String tenant, Kind kind) {

  /** How the caller proved who it is. */
  public enum Kind { TOKEN, CERTIFICATE }

  /** The caller when authentication is switched off ({@code auth.disabled}): unrestricted, as before tokens. */
  public static final Principal UNRESTRICTED = new Principal("auth-disabled", Role.ADMIN, null);

  /** A caller that presented a bearer token. */
  public Principal(String name, Role role, String tenant) {
    this(name, role, tenant, Kind.TOKEN);
  }

  /** Whether this caller is limited to one tenant. */
  public boolean scoped() {
    return tenant != null;
  }

  /** Whether this caller may see and act on {@code slug}. */
  public boolean covers(String slug) {
    return tenant == null || tenant.equals(slug);
  }

  /** How audit rows and logs name this caller: the token's name (never its value) or the certificate subject. */
  public String caller() {
    return (kind == Kind.CERTIFICATE ? "cert:" : "token:") + name;
  }

  /** How refusals name this caller, e.g. {@code token 'ops'} or {@code client certificate 'CN=ops-bot'}. */
  public String describe() {
    return (kind == Kind.CERTIFICATE ? "client certificate '" : "token '") + name + "'";
  }
}
