package io.silo;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.silo.config.SiloConfig;
import io.vertx.core.Vertx;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** A real Silo server on an ephemeral loopback port over a fresh test database, plus a grpc-java channel to it. */
public final class TestServer implements AutoCloseable {

  public final Vertx vertx;
  public final SiloServer server;
  public final ManagedChannel channel;
  public final Map<String, Object> settings;

  private TestServer(Vertx vertx, SiloServer server, Map<String, Object> settings) {
    this.vertx = vertx;
    this.server = server;
    this.settings = settings;
    this.channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
  }

  public static TestServer start(Map<String, Object> extra) throws Exception {
    Map<String, Object> settings = new HashMap<>(TestPostgres.freshDatabase());
    settings.put("grpc.host", "127.0.0.1");
    settings.put("grpc.port", 0);
    settings.put("grpc.shutdownGraceSeconds", 2);
    settings.putAll(extra);
    Vertx vertx = Vertx.vertx();
    SiloServer server = SiloServer.start(vertx, SiloConfig.of(settings))
        .toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
    return new TestServer(vertx, server, settings);
  }

  public Object queryOne(String sql) throws Exception {
    return TestPostgres.queryOne(settings, sql);
  }

  @Override
  public void close() throws Exception {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    try {
      server.shutdown().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    } finally {
      vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }
}
