package io.silo.keys;

import com.mongodb.ClientEncryptionSettings;
import com.mongodb.ConnectionString;
import com.mongodb.MongoClientSettings;
import com.mongodb.client.vault.ClientEncryption;
import com.mongodb.client.vault.ClientEncryptions;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import org.bson.BsonDocument;
import org.bson.BsonString;

/** Shared set-up for the KMS tests: a key vault on mongo-java-server and ClientEncryption pointed at a KMS. */
final class KmsTestSupport {

  static final String KEY_VAULT = "encryption.__keyVault";
  static final String KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/6f1f0c4e-6c6d-4d55-9d0c-5b6c1a2b3c4d";

  private KmsTestSupport() {}

  /** An in-memory MongoDB-wire server on a free loopback port, as the key vault. */
  static MongoServer keyVaultServer() {
    MongoServer server = new MongoServer(new MemoryBackend());
    server.bind("127.0.0.1", 0);
    return server;
  }

  static String connectionString(MongoServer server) {
    InetSocketAddress a = server.getLocalAddress();
    return "mongodb://127.0.0.1:" + a.getPort();
  }

  /** ClientEncryption with the aws provider (dummy credentials: the stub does not check SigV4). */
  static ClientEncryption awsClientEncryption(String keyVaultUri, SSLContext kmsTls) {
    return ClientEncryptions.create(ClientEncryptionSettings.builder()
        .keyVaultMongoClientSettings(keyVaultSettings(keyVaultUri))
        .keyVaultNamespace(KEY_VAULT)
        .kmsProviders(Map.of("aws", DUMMY_AWS_CREDENTIALS))
        .kmsProviderSslContextMap(Map.of("aws", kmsTls))
        .build());
  }

  static MongoClientSettings keyVaultSettings(String uri) {
    return MongoClientSettings.builder().applyConnectionString(new ConnectionString(uri))
        .applyToClusterSettings(b -> b.serverSelectionTimeout(5, TimeUnit.SECONDS))
        .build();
  }

  /** Dummy credentials: the stub does not check SigV4 signatures. */
  static final Map<String, Object> DUMMY_AWS_CREDENTIALS =
      Map.of("accessKeyId", "AKIDSILOTESTDUMMY", "secretAccessKey", "dummy-secret");

  /** Silo settings for the aws provider in us-east-1 against the stub, trusting its CA from {@code caPem}. */
  static Map<String, Object> awsSettings(AwsKmsStub stub, java.nio.file.Path caPem) {
    return Map.of("kms.aws.region", "us-east-1",
        "kms.aws.endpoint", stub.endpoint(),
        "kms.aws.caFile", caPem.toString(),
        "kms.aws.accessKeyId", "AKIDSILOTESTDUMMY",
        "kms.aws.secretAccessKey", "dummy-secret");
  }

  /** A ClientEncryption of another process: the given providers, each trusting the stub, and an empty DEK cache. */
  static ClientEncryption clientEncryption(String keyVaultUri, Map<String, Map<String, Object>> providers,
                                           SSLContext stubTls) {
    Map<String, SSLContext> tls = new java.util.HashMap<>();
    providers.keySet().stream().filter(p -> p.startsWith("aws")).forEach(p -> tls.put(p, stubTls));
    return ClientEncryptions.create(ClientEncryptionSettings.builder()
        .keyVaultMongoClientSettings(keyVaultSettings(keyVaultUri))
        .keyVaultNamespace(KEY_VAULT)
        .kmsProviders(providers)
        .kmsProviderSslContextMap(tls)
        .build());
  }

  /** The aws master key of a tenant's DEK, with the endpoint pointing at the stub. */
  static BsonDocument awsMasterKey(String endpoint) {
    return new BsonDocument("region", new BsonString("us-east-1")).append("key", new BsonString(KEY_ARN))
        .append("endpoint", new BsonString(endpoint));
  }
}
