package io.silo.api;

import io.vertx.core.buffer.Buffer;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerRequest;
import io.vertx.grpc.server.StatusException;
import java.util.Map;

/**
 * Answers calls that no endpoint handles: RPCs of the v1 contract that are not built yet get UNIMPLEMENTED
 * naming the missing feature; anything else gets UNIMPLEMENTED naming the unknown method.
 */
public final class UnimplementedEndpoints {

  /** Service full name to the feature that will provide it; the README lists the same. */
  private final Map<String, String> plannedFeatures;
  /** Service full name to the setting that must be configured before it can answer. */
  private final Map<String, String> unconfigured;

  public UnimplementedEndpoints(Map<String, String> plannedFeatures, Map<String, String> unconfigured) {
    this.plannedFeatures = Map.copyOf(plannedFeatures);
    this.unconfigured = Map.copyOf(unconfigured);
  }

  public void bind(GrpcServer server) {
    server.callHandler(this::handle);
  }

  private void handle(GrpcServerRequest<Buffer, Buffer> request) {
    String service = request.serviceName() != null ? request.serviceName().fullyQualifiedName() : "";
    String setting = unconfigured.get(service);
    if (setting != null) {
      request.handler(ignored -> { });
      GrpcErrors.fail(request.response(), new StatusException(GrpcStatus.FAILED_PRECONDITION, request.fullMethodName()
          + " needs '" + setting + "' to be configured on the server"));
      return;
    }
    String feature = plannedFeatures.get(service);
    String message = feature != null
        ? request.fullMethodName() + " is not available yet: " + feature + " is not built in this version of Silo"
        : "unknown method " + request.fullMethodName();
    // Drain the request so the HTTP/2 stream is not left half-open, then answer.
    request.handler(ignored -> { });
    GrpcErrors.fail(request.response(), new StatusException(GrpcStatus.UNIMPLEMENTED, message));
  }
}
