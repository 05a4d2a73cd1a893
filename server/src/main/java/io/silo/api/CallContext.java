package io.silo.api;

import io.vertx.grpc.server.GrpcServerRequest;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;

/** Who made a call, as recorded in audit rows: a fingerprint of the bearer token, or the peer address. */
public record CallContext(String caller) {

  static CallContext of(GrpcServerRequest<?, ?> request) {
    String auth = request.headers().get("authorization");
    if (auth != null && !auth.isBlank()) {
      // Only a short hash is kept, so audit rows identify a caller without storing its secret.
      try {
        byte[] digest = MessageDigest.getInstance("SHA-256").digest(auth.trim().getBytes(StandardCharsets.UTF_8));
        return new CallContext("token:" + HexFormat.of().formatHex(digest, 0, 6));
      } catch (Exception e) {
        return new CallContext("token:unknown");
      }
    }
    var remote = request.connection() != null ? request.connection().remoteAddress() : null;
    return new CallContext(remote != null ? "peer:" + remote.hostAddress() : "peer:unknown");
  }
}
