package io.silo.api;

import io.silo.api.v1.CallerRole;
import io.silo.api.v1.SessionServiceGrpcService;
import io.silo.api.v1.WhoAmIRequest;
import io.silo.api.v1.WhoAmIResponse;
import io.silo.auth.AccessControl;
import io.silo.auth.Principal;
import io.vertx.core.Future;
import io.vertx.grpc.server.GrpcServer;

/** gRPC endpoint of silo.v1.SessionService: tells a caller its token's name, role and tenant scope. */
public final class SessionEndpoint {

  private final AccessControl access;

  public SessionEndpoint(AccessControl access) {
    this.access = access;
  }

  /** Binds WhoAmI; the auth gate has already admitted the caller, so any valid token may ask. */
  public void bind(GrpcServer server) {
    UnaryCalls.bind(server, access, SessionServiceGrpcService.WhoAmI, this::whoAmI);
  }

  Future<WhoAmIResponse> whoAmI(WhoAmIRequest request, CallContext ctx) {
    Principal principal = ctx.principal();
    CallerRole role = switch (principal.role()) {
      case VIEWER -> CallerRole.CALLER_ROLE_VIEWER;
      case OPERATOR -> CallerRole.CALLER_ROLE_OPERATOR;
      case ADMIN -> CallerRole.CALLER_ROLE_ADMIN;
    };
    return Future.succeededFuture(WhoAmIResponse.newBuilder()
        .setName(principal.name())
        .setRole(role)
        .setTenant(principal.scoped() ? principal.tenant() : "")
        .setAuthDisabled(access.disabled())
        .build());
  }
}
