package io.silo.auth;

import io.silo.config.ConfigException;
import io.silo.config.SiloConfig;
import java.util.Locale;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Decides, from a call's method name and its {@code authorization} header alone, whether the call may go on and
 * as whom. SiloServer asks it once per HTTP request, before gRPC, gRPC-Web or /metrics handle it; endpoints ask it
 * again for the caller ({@link #principal}) to apply the tenant scope.
 */
public final class AccessControl {

  private static final Logger LOG = LoggerFactory.getLogger(AccessControl.class);
  private static final String BEARER = "bearer ";

  /** The outcome for one call: a caller, or a refusal with the gRPC status and a message for the caller. */
  public record Decision(Principal principal, Refusal refusal, String message) {

    static Decision allow(Principal principal) {
      return new Decision(principal, null, null);
    }

    static Decision refuse(Refusal refusal, String message) {
      return new Decision(null, refusal, message);
    }

    /** Whether the call may go on. */
    public boolean allowed() {
      return refusal == null;
    }
  }

  /** Why a call was refused: no valid token, or a token that may not do this. */
  public enum Refusal { UNAUTHENTICATED, PERMISSION_DENIED }

  private final TokenRegistry tokens;
  private final boolean disabled;
  private final boolean metricsRequireToken;
  private final boolean reflectionRequireToken;

  AccessControl(TokenRegistry tokens, boolean disabled, boolean metricsRequireToken, boolean reflectionRequireToken) {
    this.tokens = tokens;
    this.disabled = disabled;
    this.metricsRequireToken = metricsRequireToken;
    this.reflectionRequireToken = reflectionRequireToken;
  }

  /**
   * Builds access control from {@code auth.*}.
   *
   * @throws ConfigException when no token is configured and {@code auth.disabled} is not set: a server without
   *     tokens would let anyone rotate or shred keys, so that must be an explicit choice
   */
  public static AccessControl from(SiloConfig config) {
    TokenRegistry tokens = TokenRegistry.parse(config.list(TokenRegistry.SETTING));
    boolean disabled = config.bool("auth.disabled");
    if (disabled) {
      LOG.warn("AUTHENTICATION IS DISABLED (auth.disabled: true): anyone who can reach this server can register"
          + " tenants, rotate and shred keys and purge data. Configure auth.tokens and remove auth.disabled"
          + " outside a test or a sealed-off machine.");
    } else if (tokens.isEmpty()) {
      throw new ConfigException("no tokens are configured: set auth.tokens (entries name:role[:tenant]:sha256hex,"
          + " see the README's Security section), or set auth.disabled: true to run without authentication");
    }
    return new AccessControl(tokens, disabled, config.bool("auth.metricsRequireToken"),
        config.bool("auth.reflectionRequireToken"));
  }

  /** Whether authentication is switched off. */
  public boolean disabled() {
    return disabled;
  }

  /** Decides whether a call to {@code fullMethodName} ({@code package.Service/Method}) may go on. */
  public Decision decide(String fullMethodName, String authorization) {
    if (disabled) {
      return Decision.allow(Principal.UNRESTRICTED);
    }
    RpcPolicy.Guard guard = RpcPolicy.guard(fullMethodName);
    if (guard == RpcPolicy.Guard.OPEN || (guard == RpcPolicy.Guard.REFLECTION && !reflectionRequireToken)) {
      return Decision.allow(principal(authorization).orElse(null));
    }
    Optional<Principal> caller = principal(authorization);
    if (caller.isEmpty()) {
      return Decision.refuse(Refusal.UNAUTHENTICATED, authorization == null || authorization.isBlank()
          ? fullMethodName + " needs a token: send 'authorization: Bearer <token>' (silo --token or SILO_TOKEN)"
          : fullMethodName + ": the bearer token is not valid");
    }
    Role required = guard == RpcPolicy.Guard.REFLECTION ? Role.VIEWER : RpcPolicy.required(fullMethodName);
    if (!caller.get().role().includes(required)) {
      return Decision.refuse(Refusal.PERMISSION_DENIED, fullMethodName + " needs the " + required.label()
          + " role; token '" + caller.get().name() + "' has " + caller.get().role().label());
    }
    return Decision.allow(caller.get());
  }

  /** Decides whether GET /metrics may be answered: open when so configured, else any valid token. */
  public Decision decideMetrics(String authorization) {
    if (disabled || !metricsRequireToken) {
      return Decision.allow(principal(authorization).orElse(Principal.UNRESTRICTED));
    }
    return principal(authorization).map(Decision::allow).orElseGet(() -> Decision.refuse(Refusal.UNAUTHENTICATED,
        "GET /metrics needs a token: send 'Authorization: Bearer <token>' (or set auth.metricsRequireToken: false)"));
  }

  /**
   * The caller an {@code authorization} header names, or empty for none or an unknown token. With authentication
   * disabled every caller is {@link Principal#UNRESTRICTED}.
   */
  public Optional<Principal> principal(String authorization) {
    if (disabled) {
      return Optional.of(Principal.UNRESTRICTED);
    }
    if (authorization == null) {
      return Optional.empty();
    }
    String value = authorization.trim();
    if (value.length() <= BEARER.length() || !value.substring(0, BEARER.length()).toLowerCase(Locale.ROOT)
        .equals(BEARER)) {
      return Optional.empty();
    }
    return tokens.authenticate(value.substring(BEARER.length()).trim());
  }
}
