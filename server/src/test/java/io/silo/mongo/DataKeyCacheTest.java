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

  /** A RemoteUnwrap for the aws providers that hands out fresh key bytes and remembers them. */
  private static final class FakeKms implements DataKeyCache.RemoteUnwrap {
    final java.util.List<byte[]> handedOut = new java.util.ArrayList<>();
    RuntimeException failNext;

    @Override
    public boolean handles(String provider) {
      return provider.equals("aws") || provider.startsWith("aws:");
    }

    @Override
    public byte[] unwrap(String provider, BsonDocument masterKey, byte[] keyMaterial) {
      if (failNext != null) {
        RuntimeException f = failNext;
        failNext = null;
        throw f;
      }
      byte[] key = new byte[CsfleCipher.KEY_LENGTH];
      new SecureRandom().nextBytes(key);
      handedOut.add(key);
      return key;
    }
  }

  private BsonBinary awsKey() {
    BsonBinary keyId = new BsonBinary(UUID.randomUUID());
    vault().insertOne(new BsonDocument("_id", keyId).append("keyMaterial", new BsonBinary(new byte[184]))
        .append("masterKey", new BsonDocument("provider", new BsonString("aws"))
            .append("key", new BsonString("arn:aws:kms:us-east-1:123456789012:key/test"))
            .append("region", new BsonString("us-east-1"))));
    return keyId;
  }

  @Test
  void anAwsKeyIsUnwrappedByItsKmsOncePerPeriodAndItsBytesAreZeroedWhenThePeriodEnds() {
    FakeKms kms = new FakeKms();
    BsonBinary keyId = awsKey();
    DataKeyCache cache = new DataKeyCache(vault(), providers, kms, TTL, clock::get, false);

    DataKeyCache.Unwrapped first = cache.get(keyId, cipher);
    assertThat(first.inJava()).isTrue();
    assertThat(first.provider()).isEqualTo("aws");
    clock.addAndGet(TTL - 1);
    assertThat(cache.get(keyId, cipher)).isSameAs(first);
    assertThat(kms.handedOut).hasSize(1);
    assertThat(new JavaEncryption(JavaEncryption.Path.JAVA, cache).bind(keyId)).isNotNull();

    clock.addAndGet(1);
    assertThat(cache.get(keyId, cipher)).isNotSameAs(first);
    assertThat(kms.handedOut).hasSize(2);
    assertThat(kms.handedOut.get(0)).as("the expired key's bytes").containsOnly(0);
  }

  @Test
  void aThrottledKmsDecryptReachesTheBatchUnchangedAndIsNotCached() {
    FakeKms kms = new FakeKms();
    BsonBinary keyId = awsKey();
    DataKeyCache cache = new DataKeyCache(vault(), providers, kms, TTL, clock::get, false);
    RuntimeException throttled = software.amazon.awssdk.services.kms.model.KmsException.builder().statusCode(400)
        .awsErrorDetails(software.amazon.awssdk.awscore.exception.AwsErrorDetails.builder()
            .errorCode("ThrottlingException").errorMessage("Rate exceeded").build()).build();
    kms.failNext = throttled;

    assertThatThrownBy(() -> cache.get(keyId, cipher)).isSameAs(throttled);
    assertThat(io.silo.keys.KmsErrors.isThrottling(throttled)).isTrue();
    assertThat(cache.get(keyId, cipher).inJava()).as("the retry unwraps").isTrue();
  }

  @Test
  void planAndStatusNameThePathEachProviderTakesAndWhy() {
    DataKeyCache withAws = new DataKeyCache(vault(), providers, new FakeKms(), TTL, clock::get, false);
    DataKeyCache localOnly = cache();
    JavaEncryption auto = new JavaEncryption(JavaEncryption.Path.AUTO, withAws);
    assertThat(auto.describe("local")).isEqualTo("java (data key under provider 'local';"
        + " migration.encryptionPath=auto)");
    assertThat(auto.describe("aws:eu")).isEqualTo("java (data key under provider 'aws:eu';"
        + " migration.encryptionPath=auto)");
    assertThat(auto.describe("kmip")).isEqualTo("libmongocrypt (data key under provider 'kmip', which the Java"
        + " path does not unwrap; migration.encryptionPath=auto)");
    assertThat(new JavaEncryption(JavaEncryption.Path.AUTO, localOnly).describe("aws")).startsWith("libmongocrypt");
    assertThat(new JavaEncryption(JavaEncryption.Path.JAVA, localOnly).describe("azure")).isEqualTo("none: the copy"
        + " fails (data key under provider 'azure', which the Java path does not unwrap;"
        + " migration.encryptionPath=java)");
    assertThat(new JavaEncryption(JavaEncryption.Path.LIBMONGOCRYPT, null).describe("local"))
        .isEqualTo("libmongocrypt (migration.encryptionPath=libmongocrypt)");
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
