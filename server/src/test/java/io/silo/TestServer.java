package io.silo;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.silo.config.SiloConfig;
import io.silo.dev.mongo.DevMongoServer;
import io.silo.keys.LocalMasterKeyFile;
import io.vertx.core.Vertx;
import java.nio.file.Path;
import java.util.List;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** A real Silo server on an ephemeral loopback port over a fresh test database, plus a grpc-java channel to it. */
public final class TestServer implements AutoCloseable {

  public final Vertx vertx;
  public final SiloServer server;
  public final ManagedChannel channel;
  public final Map<String, Object> settings;
  /** The MongoDB-wire dev server behind this Silo, or null when started without MongoDB. */
  public final DevMongoServer mongo;

  private TestServer(Vertx vertx, SiloServer server, Map<String, Object> settings, DevMongoServer mongo) {
    this.vertx = vertx;
    this.server = server;
    this.settings = settings;
    this.mongo = mongo;
    this.channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
  }

  public static TestServer start(Map<String, Object> extra) throws Exception {
    return start(extra, null);
  }

  /**
   * Starts Silo with an in-memory MongoDB-wire dev server, a random local master key and a named local
   * provider {@code local:2026} whose key file lives in the given directory.
   */
  public static TestServer startWithMongo(Map<String, Object> extra, Path keyDir) throws Exception {
    DevMongoServer mongo = DevMongoServer.start(null, "127.0.0.1", 0);
    Map<String, Object> settings = new HashMap<>();
    settings.put("mongo.uri", mongo.connectionString());
    settings.put("kms.local.keyBase64", LOCAL_KEY_BASE64);
    settings.put("kms.local.named", List.of("2026=" + LocalMasterKeyFile.loadOrCreate(keyDir.resolve("mk-2026.bin")).path()));
    settings.putAll(extra);
    try {
      return start(settings, mongo);
    } catch (Exception e) {
      mongo.close();
      throw e;
    }
  }

  /** A fixed random 96-byte local master key for tests; tests read ciphertext back with it. */
  public static final String LOCAL_KEY_BASE64 = java.util.Base64.getEncoder().encodeToString(randomKey());

  private static byte[] randomKey() {
    byte[] key = new byte[96];
    new java.security.SecureRandom().nextBytes(key);
    return key;
  }

  private static TestServer start(Map<String, Object> extra, DevMongoServer mongo) throws Exception {
    Map<String, Object> settings = new HashMap<>(TestPostgres.freshDatabase());
    settings.put("grpc.host", "127.0.0.1");
    settings.put("grpc.port", 0);
    settings.put("grpc.shutdownGraceSeconds", 2);
    if (!extra.containsKey("auth.tokens") && !extra.containsKey("auth.disabled")) {
      // Most tests are about something other than authentication; the auth tests configure tokens themselves.
      settings.put("auth.disabled", true);
    }
    settings.putAll(extra);
    Vertx vertx = Vertx.vertx();
    SiloServer server = SiloServer.start(vertx, SiloConfig.of(settings))
        .toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
    return new TestServer(vertx, server, settings, mongo);
  }

  /** This server's channel with {@code authorization: Bearer <token>} on every call. */
  public io.grpc.Channel withToken(String token) {
    io.grpc.Metadata headers = new io.grpc.Metadata();
    headers.put(io.grpc.Metadata.Key.of("authorization", io.grpc.Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
    return io.grpc.ClientInterceptors.intercept(channel, io.grpc.stub.MetadataUtils.newAttachHeadersInterceptor(headers));
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
      if (mongo != null) {
        mongo.close();
      }
    }
  }
}
