package io.silo.keys;

import com.mongodb.client.MongoClient;
import com.mongodb.client.MongoCollection;
import io.silo.TestServer;
import io.silo.api.v1.KeyServiceGrpc;
import io.silo.mongo.MongoClientFactory;
import io.vertx.core.Vertx;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.bson.RawBsonDocument;

/** A Silo whose aws provider points at an {@link AwsKmsStub} of its own, with a KeyService stub and the key vault. */
final class AwsStubSilo implements AutoCloseable {

  final Vertx stubVertx = Vertx.vertx();
  final AwsKmsStub stub;
  final TestServer server;
  final KeyServiceGrpc.KeyServiceBlockingStub keys;
  final MongoClient mongo;
  final MongoCollection<RawBsonDocument> vault;

  /**
   * Starts the stub and Silo with the aws settings for it, plus the settings {@code extra} gives for the started stub;
   * key files and the stub's CA go in dir.
   */
  AwsStubSilo(Path dir, Function<AwsKmsStub, Map<String, Object>> extra) throws Exception {
    stub = new AwsKmsStub(stubVertx).start();
    Map<String, Object> settings = new HashMap<>(KmsTestSupport.awsSettings(stub,
        stub.writeCaPem(dir.resolve("kms-pki"))));
    settings.putAll(extra.apply(stub));
    server = TestServer.startWithMongo(settings, dir);
    keys = KeyServiceGrpc.newBlockingStub(server.channel).withDeadlineAfter(120, TimeUnit.SECONDS);
    mongo = MongoClientFactory.sync(server.mongo.connectionString());
    vault = mongo.getDatabase("encryption").getCollection("__keyVault", RawBsonDocument.class);
  }

  @Override
  public void close() throws Exception {
    mongo.close();
    server.close();
    stub.close();
    stubVertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }
}
