package io.silo.mongo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.mongodb.ClientEncryptionSettings;
import com.mongodb.client.MongoClient;
import com.mongodb.client.MongoCollection;
import com.mongodb.client.model.vault.DataKeyOptions;
import com.mongodb.client.vault.ClientEncryption;
import com.mongodb.client.vault.ClientEncryptions;
import io.silo.dev.mongo.DevMongoServer;
import java.security.SecureRandom;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.bson.BsonBinary;
import org.bson.BsonDocument;
import org.bson.BsonString;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DataKeyCacheTest {

  private static final long TTL = TimeUnit.SECONDS.toNanos(15);
  private final AtomicLong clock = new AtomicLong();
  private final CsfleCipher cipher = new CsfleCipher();
  private DevMongoServer dev;
  private MongoClient mongo;
  private ClientEncryption encryption;
  private Map<String, Map<String, Object>> providers;

  @BeforeAll
  void start() {
    dev = DevMongoServer.start(null, "127.0.0.1", 0);
    byte[] master = new byte[CsfleCipher.KEY_LENGTH];
    new SecureRandom().nextBytes(master);
    providers = Map.of("local", Map.of("key", master));
    CryptLibrary.ensureBundledLibrary();
    encryption = ClientEncryptions.create(ClientEncryptionSettings.builder()
        .keyVaultMongoClientSettings(MongoClientFactory.settings(dev.connectionString()))
        .keyVaultNamespace("encryption.__keyVault").kmsProviders(providers).build());
    mongo = MongoClientFactory.sync(dev.connectionString());
  }

  @AfterAll
  void stop() {
    encryption.close();
    mongo.close();
    dev.close();
  }

  private DataKeyCache cache() {
    return new DataKeyCache(vault(), providers, TTL, clock::get, false);
  }

  private MongoCollection<BsonDocument> vault() {
    return mongo.getDatabase("encryption").getCollection("__keyVault", BsonDocument.class);
  }

  @Test
  void aShreddedKeyStopsEncryptingOnceItsPeriodExpires() {
    BsonBinary id = encryption.createDataKey("local", new DataKeyOptions());
    DataKeyCache cache = cache();
    DataKeyCache.Unwrapped first = cache.get(id, cipher);
    assertThat(first.inJava()).isTrue();

    encryption.deleteKey(id);
    clock.addAndGet(TTL - 1);
    assertThat(cache.get(id, cipher)).isSameAs(first); // still inside the period, like libmongocrypt's cache

    clock.addAndGet(1);
    assertThatThrownBy(() -> cache.get(id, cipher)).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("no longer in the key vault");
  }

  @Test
  void expiredKeysAreDroppedBySweepAndForgetDropsAtOnce() {
    BsonBinary a = encryption.createDataKey("local", new DataKeyOptions());
    BsonBinary b = encryption.createDataKey("local", new DataKeyOptions());
    DataKeyCache cache = cache();
    cache.get(a, cipher);
    clock.addAndGet(TTL / 2);
    cache.get(b, cipher);
    assertThat(cache.size()).isEqualTo(2);

    cache.forget(b.asUuid());
    assertThat(cache.size()).isEqualTo(1);
    clock.addAndGet(TTL / 2);
    cache.sweep();
    assertThat(cache.size()).isZero();
  }

  @Test
  void aKeyUnderAnotherProviderIsLeftToLibmongocryptAndRefusedByTheJavaOnlyPath() {
    UUID id = UUID.randomUUID();
    BsonBinary keyId = new BsonBinary(id);
    vault().insertOne(new BsonDocument("_id", keyId).append("keyMaterial", new BsonBinary(new byte[160]))
        .append("masterKey", new BsonDocument("provider", new BsonString("aws"))));
    DataKeyCache cache = cache();

    assertThat(new JavaEncryption(JavaEncryption.Path.AUTO, cache).bind(keyId)).isNull();
    assertThatThrownBy(() -> new JavaEncryption(JavaEncryption.Path.JAVA, cache).bind(keyId))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("'aws'")
        .hasMessageContaining("migration.encryptionPath");
    assertThat(new JavaEncryption(JavaEncryption.Path.LIBMONGOCRYPT, cache).bind(keyId)).isNull();
  }

  @Test
  void aKeyWrappedByAnotherMasterKeyIsRefusedWithoutDetail() {
    BsonBinary id = encryption.createDataKey("local", new DataKeyOptions());
    byte[] otherMaster = new byte[CsfleCipher.KEY_LENGTH];
    DataKeyCache cache = new DataKeyCache(vault(), Map.of("local", Map.of("key", otherMaster)), TTL, clock::get, false);
    assertThatThrownBy(() -> cache.get(id, cipher)).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("does not unwrap");
  }
}
