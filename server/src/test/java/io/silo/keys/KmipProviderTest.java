package io.silo.keys;

import static org.assertj.core.api.Assertions.assertThat;

import com.mongodb.ClientEncryptionSettings;
import com.mongodb.client.model.vault.DataKeyOptions;
import com.mongodb.client.model.vault.EncryptOptions;
import com.mongodb.client.vault.ClientEncryption;
import com.mongodb.client.vault.ClientEncryptions;
import de.bwaldvogel.mongo.MongoServer;
import java.util.List;
import java.util.Map;
import org.bson.BsonBinary;
import org.bson.BsonBinarySubType;
import org.bson.BsonDocument;
import org.bson.BsonString;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The kmip provider of ClientEncryption against a real KMIP server (PyKMIP) over mutual TLS. */
class KmipProviderTest {

  static PyKmipServer kmip;
  static MongoServer vault;
  static ClientEncryption ce;

  @BeforeAll
  static void start() throws Exception {
    kmip = PyKmipServer.startOrSkip();
    vault = KmsTestSupport.keyVaultServer();
    ce = ClientEncryptions.create(ClientEncryptionSettings.builder()
        .keyVaultMongoClientSettings(KmsTestSupport.keyVaultSettings(KmsTestSupport.connectionString(vault)))
        .keyVaultNamespace(KmsTestSupport.KEY_VAULT)
        .kmsProviders(Map.of("kmip", Map.of("endpoint", kmip.endpoint())))
        .kmsProviderSslContextMap(Map.of("kmip", kmip.clientSslContext()))
        .build());
  }

  @AfterAll
  static void stop() throws Exception {
    if (ce != null) ce.close();
    if (vault != null) vault.shutdownNow();
    if (kmip != null) kmip.close();
  }

  @Test
  void createsATenantKeyAndEncryptsAndDecryptsThroughKmip() {
    // No keyId: libmongocrypt registers a new 96-byte secret with the KMIP server, activates it, and wraps the DEK
    // under it locally; decrypting the DEK later fetches that secret with a KMIP Get.
    BsonBinary id = ce.createDataKey("kmip", new DataKeyOptions().keyAltNames(List.of("tenant-kmip-acme")));
    assertThat(id.getType()).isEqualTo(BsonBinarySubType.UUID_STANDARD.getValue());

    BsonBinary ct = ce.encrypt(new BsonString("acme@example.com"),
        new EncryptOptions("AEAD_AES_256_CBC_HMAC_SHA_512-Random").keyId(id));
    assertThat(ct.getType()).isEqualTo((byte) 6);
    assertThat(ce.decrypt(ct)).isEqualTo(new BsonString("acme@example.com"));

    BsonBinary byAlt = ce.encrypt(new BsonString("x"),
        new EncryptOptions("AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic").keyAltName("tenant-kmip-acme"));
    assertThat(ce.decrypt(byAlt)).isEqualTo(new BsonString("x"));
  }

  @Test
  void theKeyDocumentRecordsTheKmipKeyId() {
    BsonBinary id = ce.createDataKey("kmip", new DataKeyOptions().keyAltNames(List.of("tenant-kmip-doc")));
    BsonDocument key = ce.getKeyByAltName("tenant-kmip-doc");
    assertThat(key).isNotNull();
    BsonDocument masterKey = key.getDocument("masterKey");
    assertThat(masterKey.getString("provider").getValue()).isEqualTo("kmip");
    // The KMIP unique identifier of the wrapping secret; rewrap and shredding need it.
    assertThat(masterKey.getString("keyId").getValue()).isNotBlank();
    assertThat(id).isNotNull();
  }
}
