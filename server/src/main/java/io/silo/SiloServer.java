package io.silo;

import com.google.protobuf.Descriptors.ServiceDescriptor;
import io.grpc.health.v1.HealthProto;
import io.grpc.reflection.v1.ServerReflectionProto;
import io.silo.api.ActiveStreams;
import io.silo.api.HealthEndpoint;
import io.silo.api.ReflectionEndpoint;
import io.silo.api.TenantEndpoint;
import io.silo.api.UnimplementedEndpoints;
import io.silo.api.v1.KeyServiceGrpcService;
import io.silo.api.v1.MigrationServiceGrpcService;
import io.silo.api.v1.TenantServiceGrpcService;
import io.silo.api.v1.UsageServiceGrpcService;
import io.silo.config.SiloConfig;
import io.silo.store.Database;
import io.silo.store.TenantStore;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.handler.CorsHandler;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerOptions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Assembles Silo's gRPC server (gRPC, gRPC-Web with CORS, health, reflection) over its stores, and shuts it down gracefully. */
public final class SiloServer {

  private static final Logger LOG = LoggerFactory.getLogger(SiloServer.class);

  /** RPC services of the v1 contract that later work will build, and the feature each belongs to. */
  static final Map<String, String> PLANNED = Map.of(
      "silo.v1.KeyService", "tenant key management (per-tenant DEKs, rotation, shredding)",
      "silo.v1.MigrationService", "the migration engine (plan, start, watch, verify, rollback, purge)",
      "silo.v1.UsageService", "usage reports and presigned document URLs");

  private final Vertx vertx;
  private final SiloConfig config;
  private final Database database;
  private final HttpServer http;
  private final HealthEndpoint health;
  private final ActiveStreams streams;

  private SiloServer(Vertx vertx, SiloConfig config, Database database, HttpServer http, HealthEndpoint health,
                     ActiveStreams streams) {
    this.vertx = vertx;
    this.config = config;
    this.database = database;
    this.http = http;
    this.health = health;
    this.streams = streams;
  }

  /** Migrates the schema, binds every endpoint and listens on grpc.host:grpc.port. */
  public static Future<SiloServer> start(Vertx vertx, SiloConfig config) {
    return Database.open(vertx, config).compose(database -> {
      ActiveStreams streams = new ActiveStreams();
      GrpcServer grpc = GrpcServer.server(vertx, new GrpcServerOptions()
          .setScheduleDeadlineAutomatically(true)
          .setMaxMessageSize(config.integer("grpc.maxMessageBytes")));

      List<ServiceDescriptor> descriptors = new ArrayList<>(List.of(
          TenantServiceGrpcService.SERVICE_DESCRIPTOR,
          KeyServiceGrpcService.SERVICE_DESCRIPTOR,
          MigrationServiceGrpcService.SERVICE_DESCRIPTOR,
          UsageServiceGrpcService.SERVICE_DESCRIPTOR,
          HealthProto.getDescriptor().findServiceByName("Health"),
          ServerReflectionProto.getDescriptor().findServiceByName("ServerReflection")));
      HealthEndpoint health = new HealthEndpoint(descriptors.stream().map(ServiceDescriptor::getFullName).toList(),
          streams);

      grpc.addService(TenantServiceGrpcService.of(new TenantEndpoint(new TenantStore(database.pool(),
          database.tables()))));
      health.bind(grpc);
      new ReflectionEndpoint(descriptors, streams).bind(grpc);
      new UnimplementedEndpoints(PLANNED).bind(grpc);

      Router cors = corsRouter(vertx, config.list("grpc.corsOrigins"), grpc);
      HttpServer http = vertx.createHttpServer(new HttpServerOptions()
          .setHttp2ClearTextEnabled(true)
          .setCompressionSupported(false));
      http.requestHandler(request -> {
        // Only browsers send Origin; plain gRPC callers skip the router entirely.
        if (cors != null && request.headers().contains("Origin")) {
          cors.handle(request);
        } else {
          grpc.handle(request);
        }
      });
      return http.listen(config.integer("grpc.port"), config.string("grpc.host"))
          .map(listening -> {
            LOG.info("silo listening on {}:{} (gRPC, gRPC-Web)", config.string("grpc.host"), listening.actualPort());
            return new SiloServer(vertx, config, database, listening, health, streams);
          })
          .onFailure(failure -> database.close());
    });
  }

  private static Router corsRouter(Vertx vertx, List<String> origins, GrpcServer grpc) {
    if (origins.isEmpty()) {
      return null;
    }
    CorsHandler handler = CorsHandler.create()
        .allowedMethods(Set.of(HttpMethod.POST, HttpMethod.OPTIONS))
        .allowedHeaders(Set.of("content-type", "x-grpc-web", "x-user-agent", "grpc-timeout", "authorization"))
        .exposedHeaders(Set.of("grpc-status", "grpc-message", "grpc-status-details-bin"));
    if (origins.contains("*")) {
      handler.addOrigin("*");
    } else {
      handler.addOrigins(origins);
    }
    Router router = Router.router(vertx);
    router.route().handler(handler);
    router.route().handler(ctx -> grpc.handle(ctx.request()));
    return router;
  }

  public int port() {
    return http.actualPort();
  }

  public SiloConfig config() {
    return config;
  }

  public Database database() {
    return database;
  }

  /**
   * Graceful shutdown: report NOT_SERVING, end open streams with UNAVAILABLE, stop accepting calls and let
   * in-flight unary calls finish within the grace period, then close the stores.
   */
  public Future<Void> shutdown() {
    LOG.info("shutting down: {} open streams, grace {} s", streams.size(), config.integer("grpc.shutdownGraceSeconds"));
    health.setAllNotServing();
    streams.closeAll();
    return http.shutdown(config.integer("grpc.shutdownGraceSeconds"), TimeUnit.SECONDS)
        .eventually(() -> {
          database.close();
          LOG.info("shutdown complete");
          return Future.succeededFuture();
        });
  }

  Vertx vertx() {
    return vertx;
  }
}
