package io.silo.api;

import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.vertx.grpc.common.GrpcMessageDecoder;
import io.vertx.grpc.common.GrpcMessageEncoder;
import io.vertx.grpc.common.ServiceMethod;
import io.vertx.grpc.common.ServiceName;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerRequest;
import io.vertx.grpc.server.GrpcServerResponse;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/** The standard grpc.health.v1.Health service: Check and Watch for the server ("") and each registered service. */
public final class HealthEndpoint {

  static final ServiceName NAME = ServiceName.create("grpc.health.v1", "Health");
  private static final ServiceMethod<HealthCheckRequest, HealthCheckResponse> CHECK = ServiceMethod.server(
      NAME, "Check", GrpcMessageEncoder.encoder(), GrpcMessageDecoder.decoder(HealthCheckRequest.newBuilder()));
  private static final ServiceMethod<HealthCheckRequest, HealthCheckResponse> WATCH = ServiceMethod.server(
      NAME, "Watch", GrpcMessageEncoder.encoder(), GrpcMessageDecoder.decoder(HealthCheckRequest.newBuilder()));

  private record Watcher(String service, GrpcServerResponse<HealthCheckRequest, HealthCheckResponse> response) {
  }

  private final Map<String, ServingStatus> statuses = new ConcurrentHashMap<>();
  private final List<Watcher> watchers = new CopyOnWriteArrayList<>();
  private final ActiveStreams streams;

  public HealthEndpoint(Collection<String> serviceNames, ActiveStreams streams) {
    this.streams = streams;
    statuses.put("", ServingStatus.SERVING);
    serviceNames.forEach(name -> statuses.put(name, ServingStatus.SERVING));
  }

  public void bind(GrpcServer server) {
    server.callHandler(CHECK, this::check);
    server.callHandler(WATCH, this::watch);
  }

  /** Marks every service NOT_SERVING, e.g. when shutdown starts, and tells the watchers. */
  public void setAllNotServing() {
    statuses.replaceAll((name, status) -> ServingStatus.NOT_SERVING);
    for (Watcher watcher : watchers) {
      watcher.response().write(response(ServingStatus.NOT_SERVING));
    }
  }

  private void check(GrpcServerRequest<HealthCheckRequest, HealthCheckResponse> request) {
    UnaryCalls.onMessage(request, CHECK.decoder(), message -> {
      ServingStatus status = statuses.get(message.getService());
      if (status == null) {
        GrpcErrors.fail(request.response(), GrpcErrors.notFound("unknown service " + io.silo.Quote.of(message.getService())));
      } else {
        request.response().end(response(status));
      }
    });
  }

  private void watch(GrpcServerRequest<HealthCheckRequest, HealthCheckResponse> request) {
    GrpcServerResponse<HealthCheckRequest, HealthCheckResponse> response = request.response();
    UnaryCalls.onMessage(request, WATCH.decoder(), message -> {
      if (!streams.register(response)) {
        return;
      }
      Watcher watcher = new Watcher(message.getService(), response);
      watchers.add(watcher);
      // The protocol says an unknown service is reported as SERVICE_UNKNOWN on Watch, not as an error.
      response.write(response(statuses.getOrDefault(message.getService(), ServingStatus.SERVICE_UNKNOWN)));
      request.errorHandler(error -> {
        watchers.remove(watcher);
        streams.unregister(response);
      });
    });
  }

  private static HealthCheckResponse response(ServingStatus status) {
    return HealthCheckResponse.newBuilder().setStatus(status).build();
  }
}
