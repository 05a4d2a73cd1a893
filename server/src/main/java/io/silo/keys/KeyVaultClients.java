package io.silo.keys;

import com.mongodb.ClientEncryptionSettings;
import com.mongodb.client.MongoClient;
import com.mongodb.client.vault.ClientEncryption;
import com.mongodb.client.vault.ClientEncryptions;
import io.silo.mongo.CryptLibrary;
import io.silo.mongo.MongoClientFactory;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/** The MongoDB clients key management needs: a key-vault client and ClientEncryption instances over the configured KMS providers. */
public final class KeyVaultClients implements AutoCloseable {

  private final MongoClient mongo;
  private final ClientEncryption encryption;
  private final Supplier<ClientEncryption> fresh;
  private final java.util.List<AutoCloseable> others = new java.util.concurrent.CopyOnWriteArrayList<>();

  private KeyVaultClients(MongoClient mongo, ClientEncryption encryption, Supplier<ClientEncryption> fresh) {
    this.mongo = mongo;
    this.encryption = encryption;
    this.fresh = fresh;
  }

  /** Blocking: loads libmongocrypt and connects; call from a worker thread. */
  public static KeyVaultClients open(String uri, String keyVaultNamespace, KmsProviders kms, long keyExpirationSeconds) {
    CryptLibrary.ensureBundledLibrary();
    MongoClient mongo = MongoClientFactory.sync(uri);
    Supplier<ClientEncryptionSettings> settings = () -> ClientEncryptionSettings.builder()
        .keyVaultMongoClientSettings(MongoClientFactory.settings(uri))
        .keyVaultNamespace(keyVaultNamespace)
        .kmsProviders(kms.kmsProviders())
        .kmsProviderPropertySuppliers(kms.propertySuppliers())
        .kmsProviderSslContextMap(kms.sslContexts())
        // A short DEK cache bounds how long a shredded key keeps decrypting in this process.
        .keyExpiration(keyExpirationSeconds, TimeUnit.SECONDS)
        .build();
    ClientEncryption encryption = ClientEncryptions.create(settings.get());
    return new KeyVaultClients(mongo, encryption, () -> ClientEncryptions.create(settings.get()));
  }

  public MongoClient mongo() {
    return mongo;
  }

  public ClientEncryption encryption() {
    return encryption;
  }

  /** A new ClientEncryption with an empty DEK cache; the caller closes it. */
  public Supplier<ClientEncryption> fresh() {
    return fresh;
  }

  /** Closes {@code resource} (e.g. the AWS SDK clients) with these clients. */
  public void closeWith(AutoCloseable resource) {
    others.add(resource);
  }

  @Override
  public void close() {
    for (AutoCloseable other : others) {
      try {
        other.close();
      } catch (Exception e) {
        // Closing at shutdown: nothing to do about it but go on closing the rest.
      }
    }
    encryption.close();
    mongo.close();
  }
}
