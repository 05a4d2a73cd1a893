package io.silo.mongo;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import com.mongodb.AutoEncryptionSettings;
import com.mongodb.ClientEncryptionSettings;
import com.mongodb.ConnectionString;
import com.mongodb.MongoClientSettings;
import com.mongodb.reactivestreams.client.MongoClient;
import com.mongodb.reactivestreams.client.MongoClients;
import com.mongodb.reactivestreams.client.vault.ClientEncryption;
import com.mongodb.reactivestreams.client.vault.ClientEncryptions;
import org.bson.UuidRepresentation;

/**
 * Builds Silo's MongoDB clients: plain, explicit-encryption ({@link ClientEncryption}) and auto-decrypting.
 *
 * <p>Compression is always off: Silo's dev server proxy cannot translate OP_COMPRESSED, and ciphertext does not
 * compress anyway. Automatic <em>encryption</em> is never used (it needs mongocryptd or crypt_shared, which Silo does not
 * ship); the auto-decrypting client only decrypts what it reads.
 */
public final class MongoClientFactory {

    private static final String APP_NAME = "silo";

    private MongoClientFactory() {
    }

    /**
     * Client settings from a connection string, with compression disabled and bounded connect, selection and read
     * timeouts. Without a read timeout an operation on a connection whose server vanished without a reset (a
     * partition, a killed proxy) waits forever, and a migration would hold its lease with no progress; with one, the
     * operation fails as a transient fault and the run resumes from its checkpoint. {@code socketTimeoutMS} in the
     * connection string wins over the default.
     */
    public static MongoClientSettings settings(String connectionString) {
        ConnectionString parsed = new ConnectionString(connectionString);
        return MongoClientSettings.builder()
                .applyConnectionString(parsed)
                .applicationName(APP_NAME)
                .compressorList(List.of())
                .uuidRepresentation(UuidRepresentation.STANDARD)
                .applyToClusterSettings(b -> b.serverSelectionTimeout(10, TimeUnit.SECONDS))
                .applyToSocketSettings(b -> {
                    b.connectTimeout(5, TimeUnit.SECONDS);
                    if (parsed.getSocketTimeout() == null) {
                        b.readTimeout(DEFAULT_READ_TIMEOUT_SECONDS, TimeUnit.SECONDS);
                    }
                })
                .build();
    }

    /** Longer than any single batch operation Silo issues should take, even on a large unindexed source. */
    static final int DEFAULT_READ_TIMEOUT_SECONDS = 300;

    /** A plain reactive client: encrypted fields come back as subtype-6 binaries. */
    public static MongoClient reactive(String connectionString) {
        return MongoClients.create(settings(connectionString));
    }

    /** A plain synchronous client, for start-up and tooling code that runs off the event loop. */
    public static com.mongodb.client.MongoClient sync(String connectionString) {
        return com.mongodb.client.MongoClients.create(settings(connectionString));
    }

    /**
     * A reactive {@link ClientEncryption} for data keys and explicit encryption.
     *
     * @param keyVaultNamespace e.g. {@code encryption.__keyVault}
     * @param kmsProviders      e.g. {@code {"local": {"key": <96 bytes>}}}
     * @param keyExpiration     how long libmongocrypt caches a decrypted data key; {@code null} keeps the driver's 60 s.
     *                          Short values make a shredded key stop decrypting promptly.
     */
    public static ClientEncryption clientEncryption(String connectionString, String keyVaultNamespace,
                                                    Map<String, Map<String, Object>> kmsProviders, Duration keyExpiration) {
        CryptLibrary.ensureBundledLibrary();
        ClientEncryptionSettings.Builder builder = ClientEncryptionSettings.builder()
                .keyVaultMongoClientSettings(settings(connectionString))
                .keyVaultNamespace(keyVaultNamespace)
                .kmsProviders(kmsProviders);
        if (keyExpiration != null) {
            builder.keyExpiration(keyExpiration.toMillis(), TimeUnit.MILLISECONDS);
        }
        return ClientEncryptions.create(builder.build());
    }

    /**
     * A reactive client that transparently decrypts the fields it reads ({@code bypassAutoEncryption}: it never encrypts).
     * Parameters as for {@link #clientEncryption}.
     */
    public static MongoClient autoDecrypting(String connectionString, String keyVaultNamespace,
                                             Map<String, Map<String, Object>> kmsProviders, Duration keyExpiration) {
        return MongoClients.create(autoDecryptingSettings(connectionString, keyVaultNamespace, kmsProviders, keyExpiration));
    }

    /** Settings behind {@link #autoDecrypting}; usable for a sync client too. */
    public static MongoClientSettings autoDecryptingSettings(String connectionString, String keyVaultNamespace,
                                                             Map<String, Map<String, Object>> kmsProviders,
                                                             Duration keyExpiration) {
        CryptLibrary.ensureBundledLibrary();
        MongoClientSettings base = settings(connectionString);
        AutoEncryptionSettings.Builder auto = AutoEncryptionSettings.builder()
                .keyVaultMongoClientSettings(base)
                .keyVaultNamespace(keyVaultNamespace)
                .kmsProviders(kmsProviders)
                .bypassAutoEncryption(true);
        if (keyExpiration != null) {
            auto.keyExpiration(keyExpiration.toMillis(), TimeUnit.MILLISECONDS);
        }
        return MongoClientSettings.builder(base).autoEncryptionSettings(auto.build()).build();
    }
}
