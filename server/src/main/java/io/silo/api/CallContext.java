package io.silo.api;

import io.silo.auth.AccessControl;
import io.silo.auth.ClientCertificates;
import io.silo.auth.Principal;
import io.vertx.core.Future;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.server.GrpcServerRequest;
import io.vertx.grpc.server.StatusException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;

/**
 * Who made a call: the caller as recorded in audit rows (the token's name, or with authentication disabled a
 * fingerprint of the bearer token or the peer address) and the principal whose tenant scope endpoints apply.
 */
public record CallContext(String caller, Principal principal) {

  static CallContext of(GrpcServerRequest<?, ?> request, AccessControl access) throws StatusException {
    String auth = request.headers().get("authorization");
    if (!access.disabled()) {
      // The gate let this call through, so the token is valid; resolved again here because the gate runs on the
      // HTTP request and has nowhere to hand the caller over. Failing closed if it somehow is not.
      Principal principal = access.principal(auth, ClientCertificates.subjectOf(request.connection()))
          .orElseThrow(() -> new StatusException(GrpcStatus.UNAUTHENTICATED,
              request.fullMethodName() + ": no valid bearer token or mapped client certificate"));
      return new CallContext(principal.caller(), principal);
    }
    if (auth != null && !auth.isBlank()) {
      // Only a short hash is kept, so audit rows identify a caller without storing its secret.
      try {
        byte[] digest = MessageDigest.getInstance("SHA-256").digest(auth.trim().getBytes(StandardCharsets.UTF_8));
        return new CallContext("token:" + HexFormat.of().formatHex(digest, 0, 6), Principal.UNRESTRICTED);
      } catch (Exception e) {
        return new CallContext("token:unknown", Principal.UNRESTRICTED);
      }
    }
    var remote = request.connection() != null ? request.connection().remoteAddress() : null;
    return new CallContext(remote != null ? "peer:" + remote.hostAddress() : "peer:unknown", Principal.UNRESTRICTED);
  }

  /** Whether the caller is limited to one tenant. */
  boolean scoped() {
    return principal.scoped();
  }

  /** Refuses {@code tenant} (named by request field {@code field}) when it is outside the caller's scope. */
  void permit(String field, String tenant) throws StatusException {
    if (!principal.covers(tenant)) {
      throw denied(field, tenant);
    }
  }

  /**
   * Like {@link #permit}, as a future, for a tenant the caller did not name but that owns what it named (a
   * migration id): the refusal does not say which tenant that is, so ids cannot reveal other tenants' slugs.
   */
  Future<Void> permittedOwner(String field, String owner) {
    return principal.covers(owner) ? Future.succeededFuture() : Future.failedFuture(new StatusException(
        GrpcStatus.PERMISSION_DENIED, field + ": belongs to a tenant other than '" + principal.tenant()
            + "', which " + principal.describe() + " is limited to"));
  }

  /** Refuses every tenant of {@code tenants} outside the caller's scope. */
  void permitAll(String field, List<String> tenants) throws StatusException {
    for (int i = 0; i < tenants.size(); i++) {
      permit(field + "[" + i + "]", tenants.get(i));
    }
  }

  /**
   * The tenant a list or stream is limited to: the requested one (after {@link #permit}), or, when none is
   * requested, the caller's own tenant for a scoped caller and "" (every tenant) for anyone else.
   */
  String narrow(String field, String requested) throws StatusException {
    if (requested.isEmpty()) {
      return principal.scoped() ? principal.tenant() : "";
    }
    permit(field, requested);
    return requested;
  }

  private StatusException denied(String field, String tenant) {
    return new StatusException(GrpcStatus.PERMISSION_DENIED, field + ": " + principal.describe()
        + " is limited to tenant '" + principal.tenant() + "' and may not act on '" + tenant + "'");
  }
}
