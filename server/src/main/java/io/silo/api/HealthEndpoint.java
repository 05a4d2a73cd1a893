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
  // Once shutdown has begun the server never reports SERVING again, even if a late readiness signal arrives.
  // Guarded by this, together with the statuses it decides.
  private boolean shuttingDown;

  /** Every service starts SERVING, or NOT_SERVING when {@code serving} is false (see {@link #setAllServing()}). */
  public HealthEndpoint(Collection<String> serviceNames, ActiveStreams streams, boolean serving) {
    this.streams = streams;
    ServingStatus initial = serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
    statuses.put("", initial);
    serviceNames.forEach(name -> statuses.put(name, initial));
  }

  public void bind(GrpcServer server) {
    server.callHandler(CHECK, this::check);
    server.callHandler(WATCH, this::watch);
  }

  /** Marks every service NOT_SERVING for good because shutdown starts, and tells the watchers. */
  public synchronized void setAllNotServing() {
    shuttingDown = true;
    setAll(ServingStatus.NOT_SERVING);
  }

  /** Marks every service SERVING once the server is ready (e.g. the dev demo is seeded); ignored after shutdown began. */
  public synchronized void setAllServing() {
    if (!shuttingDown) {
      setAll(ServingStatus.SERVING);
    }
  }

  private void setAll(ServingStatus status) {
    statuses.replaceAll((name, previous) -> status);
    for (Watcher watcher : watchers) {
      // Watch sends the status of the service the watcher asked for; an unknown one stays SERVICE_UNKNOWN.
      if (statuses.containsKey(watcher.service())) {
        try {
          watcher.response().write(response(status));
        } catch (IllegalStateException cancelled) {
          // The caller went away and its error handler has not run yet; a dead watcher must not abort a
          // shutdown or the readiness change for everyone else.
          watchers.remove(watcher);
        }
      }
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
