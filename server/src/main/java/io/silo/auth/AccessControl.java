package io.silo.auth;

import io.silo.config.ConfigException;
import io.silo.config.SiloConfig;
import java.util.Locale;
import java.util.Optional;
import javax.security.auth.x500.X500Principal;
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
  private final ClientCertificates certificates;
  private final boolean disabled;
  private final boolean metricsRequireToken;
  private final boolean reflectionRequireToken;
  private final AuditTrail audit = new AuditTrail();

  AccessControl(TokenRegistry tokens, ClientCertificates certificates, boolean disabled, boolean metricsRequireToken,
                boolean reflectionRequireToken) {
    this.tokens = tokens;
    this.certificates = certificates;
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
    ClientCertificates certificates = ClientCertificates.parse(config.list(ClientCertificates.SETTING));
    if (!certificates.isEmpty() && config.string("grpc.tls.caFile").isEmpty()) {
      throw new ConfigException("invalid setting '" + ClientCertificates.SETTING + "': client certificates are only"
          + " verified with mutual TLS; set grpc.tls.caFile (and grpc.tls.certFile, grpc.tls.keyFile)");
    }
    boolean disabled = config.bool("auth.disabled");
    if (disabled) {
      LOG.warn("AUTHENTICATION IS DISABLED (auth.disabled: true): anyone who can reach this server can register"
          + " tenants, rotate and shred keys and purge data. Configure auth.tokens and remove auth.disabled"
          + " outside a test or a sealed-off machine.");
    } else if (tokens.isEmpty() && certificates.isEmpty()) {
      throw new ConfigException("no tokens are configured: set auth.tokens (entries name:role[:tenant]:sha256hex,"
          + " see the README's Security section) or auth.clientCertificates, or set auth.disabled: true to run"
          + " without authentication");
    }
    return new AccessControl(tokens, certificates, disabled, config.bool("auth.metricsRequireToken"),
        config.bool("auth.reflectionRequireToken"));
  }

  /** The audit trail of this server's calls, which the gate and the endpoints write to. */
  public AuditTrail audit() {
    return audit;
  }

  /**
   * How audit rows name the caller of a request: the principal's {@link Principal#caller()}, else
   * {@code anonymous} or {@code invalid-token:<12 hex of its SHA-256>}.
   */
  public String callerName(String authorization, X500Principal subject) {
    return principal(authorization, subject).map(Principal::caller)
        .orElseGet(() -> AuditTrail.unknownCaller(authorization));
  }

  /** Whether authentication is switched off. */
  public boolean disabled() {
    return disabled;
  }

  /** Decides whether a call to {@code fullMethodName} ({@code package.Service/Method}) may go on. */
  public Decision decide(String fullMethodName, String authorization) {
    return decide(fullMethodName, authorization, null);
  }

  /**
   * Like {@link #decide(String, String)} for a call whose TLS connection verified a client certificate with
   * {@code subject} (null for none). A bearer token, when one is sent, decides; otherwise the subject's mapping.
   */
  public Decision decide(String fullMethodName, String authorization, X500Principal subject) {
    if (disabled) {
      return Decision.allow(Principal.UNRESTRICTED);
    }
    RpcPolicy.Guard guard = RpcPolicy.guard(fullMethodName);
    Optional<Principal> caller = principal(authorization, subject);
    if (guard == RpcPolicy.Guard.OPEN || (guard == RpcPolicy.Guard.REFLECTION && !reflectionRequireToken)) {
      return Decision.allow(caller.orElse(null));
    }
    if (caller.isEmpty()) {
      return Decision.refuse(Refusal.UNAUTHENTICATED, unauthenticated(fullMethodName, authorization, subject));
    }
    Role required = guard == RpcPolicy.Guard.REFLECTION ? Role.VIEWER : RpcPolicy.required(fullMethodName);
    if (!caller.get().role().includes(required)) {
      return Decision.refuse(Refusal.PERMISSION_DENIED, fullMethodName + " needs the " + required.label()
          + " role; " + caller.get().describe() + " has " + caller.get().role().label());
    }
    return Decision.allow(caller.get());
  }

  private static String unauthenticated(String method, String authorization, X500Principal subject) {
    if (authorization != null && !authorization.isBlank()) {
      return method + ": the bearer token is not valid";
    }
    if (subject != null) {
      return method + ": client certificate '" + subject.getName(X500Principal.RFC2253) + "' is not mapped in "
          + ClientCertificates.SETTING + "; map it or send 'authorization: Bearer <token>'";
    }
    return method + " needs a token: send 'authorization: Bearer <token>' (silo --token or SILO_TOKEN)";
  }

  /** Decides whether GET /metrics may be answered: open when so configured, else any valid token. */
  public Decision decideMetrics(String authorization) {
    return decideMetrics(authorization, null);
  }

  /** Like {@link #decideMetrics(String)}, also accepting a mapped client certificate. */
  public Decision decideMetrics(String authorization, X500Principal subject) {
    if (disabled || !metricsRequireToken) {
      return Decision.allow(principal(authorization, subject).orElse(Principal.UNRESTRICTED));
    }
    return principal(authorization, subject).map(Decision::allow).orElseGet(() -> Decision.refuse(
        Refusal.UNAUTHENTICATED, "GET /metrics needs a token: send 'Authorization: Bearer <token>' (or set"
            + " auth.metricsRequireToken: false)"));
  }

  /**
   * The caller of a request: the bearer token's when a token is sent (an invalid one is no caller, whatever the
   * certificate), else the one {@code subject} is mapped to.
   */
  public Optional<Principal> principal(String authorization, X500Principal subject) {
    if (disabled || (authorization != null && !authorization.isBlank())) {
      return principal(authorization);
    }
    return certificates.authenticate(subject);
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
