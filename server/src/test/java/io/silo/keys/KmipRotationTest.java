package io.silo.keys;

import static org.assertj.core.api.Assertions.assertThat;

import com.mongodb.ClientEncryptionSettings;
import com.mongodb.client.model.vault.EncryptOptions;
import com.mongodb.client.vault.ClientEncryption;
import com.mongodb.client.vault.ClientEncryptions;
import io.silo.TestServer;
import io.silo.api.v1.CreateTenantKeyRequest;
import io.silo.api.v1.KeyServiceGrpc;
import io.silo.api.v1.MasterKey;
import io.silo.api.v1.RegisterTenantRequest;
import io.silo.api.v1.RotateTenantKeyRequest;
import io.silo.api.v1.TenantKey;
import io.silo.api.v1.TenantServiceGrpc;
import io.silo.mongo.MongoClientFactory;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.bson.BsonBinary;
import org.bson.BsonString;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The seed's rotation path through Silo against a real KMIP server: local, then a named local provider, then kmip. */
class KmipRotationTest {

  @TempDir
  Path dir;

  @Test
  void tenantRotatesFromLocalToNamedLocalToKmipAndOldCiphertextStillDecrypts() throws Exception {
    try (PyKmipServer kmip = PyKmipServer.startOrSkip()) {
      Map<String, Path> files = kmip.writeClientFiles(dir.resolve("kmip"));
      try (TestServer server = TestServer.startWithMongo(Map.of(
          "kms.kmip.endpoint", kmip.endpoint(),
          "kms.kmip.caFile", files.get("ca").toString(),
          "kms.kmip.certFile", files.get("cert").toString(),
          "kms.kmip.keyFile", files.get("key").toString()), dir)) {
        TenantServiceGrpc.newBlockingStub(server.channel).registerTenant(RegisterTenantRequest.newBuilder()
            .setSlug("kmip-co").setDisplayName("KMIP Co").build());
        KeyServiceGrpc.KeyServiceBlockingStub keys = KeyServiceGrpc.newBlockingStub(server.channel)
            .withDeadlineAfter(60, TimeUnit.SECONDS);
        TenantKey created = keys.createTenantKey(CreateTenantKeyRequest.newBuilder().setTenant("kmip-co").build()).getKey();
        assertThat(created.getMasterKey().getProvider()).isEqualTo("local");

        ClientEncryptionSettings settings = ClientEncryptionSettings.builder()
            .keyVaultMongoClientSettings(MongoClientFactory.settings(server.mongo.connectionString()))
            .keyVaultNamespace("encryption.__keyVault")
            .kmsProviders(Map.of(
                "local", Map.of("key", Base64.getDecoder().decode(TestServer.LOCAL_KEY_BASE64)),
                "local:2026", Map.of("key", LocalMasterKeyFile.load(dir.resolve("mk-2026.bin")).keyBytes()),
                "kmip", Map.of("endpoint", kmip.endpoint())))
            .kmsProviderSslContextMap(Map.of("kmip", kmip.clientSslContext()))
            .build();
        BsonBinary ciphertext;
        try (ClientEncryption client = ClientEncryptions.create(settings)) {
          ciphertext = client.encrypt(new BsonString("987-65-4321"),
              new EncryptOptions("AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic").keyAltName("tenant-kmip-co"));
        }

        for (String provider : new String[] {"local:2026", "kmip"}) {
          TenantKey rotated = keys.rotateTenantKey(RotateTenantKeyRequest.newBuilder().setTenant("kmip-co")
              .setNewMasterKey(MasterKey.newBuilder().setProvider(provider)).build()).getKey();
          assertThat(rotated.getKeyId()).isEqualTo(created.getKeyId());
          assertThat(rotated.getMasterKey().getProvider()).isEqualTo(provider);
          try (ClientEncryption client = ClientEncryptions.create(settings)) {
            assertThat(client.decrypt(ciphertext).asString().getValue()).isEqualTo("987-65-4321");
          }
        }
        assertThat(((Number) server.queryOne("SELECT count(*) FROM silo.key_audit WHERE tenant_slug = 'kmip-co' "
            + "AND action = 'ROTATE' AND outcome = 'OK'")).longValue()).isEqualTo(2);
      }
    }
  }

  @Test
  void rotatingToAnUnreachableKmipServerIsUnavailableAndLeavesTheKeyUnderItsOldMasterKey() throws Exception {
    Map<String, Path> files;
    int closedPort;
    try (PyKmipServer kmip = PyKmipServer.startOrSkip()) {
      files = kmip.writeClientFiles(dir.resolve("kmip"));
      closedPort = kmip.port();
    }
    // The server above has stopped, so its port now refuses connections.
    try (TestServer server = TestServer.startWithMongo(Map.of(
        "kms.kmip.endpoint", "127.0.0.1:" + closedPort,
        "kms.kmip.caFile", files.get("ca").toString(),
        "kms.kmip.certFile", files.get("cert").toString(),
        "kms.kmip.keyFile", files.get("key").toString()), dir)) {
      TenantServiceGrpc.newBlockingStub(server.channel).registerTenant(RegisterTenantRequest.newBuilder()
          .setSlug("down-co").setDisplayName("Down Co").build());
      KeyServiceGrpc.KeyServiceBlockingStub keys = KeyServiceGrpc.newBlockingStub(server.channel)
          .withDeadlineAfter(60, TimeUnit.SECONDS);
      keys.createTenantKey(CreateTenantKeyRequest.newBuilder().setTenant("down-co").build());
      io.grpc.StatusRuntimeException e = org.assertj.core.api.Assertions.catchThrowableOfType(
          io.grpc.StatusRuntimeException.class, () -> keys.rotateTenantKey(RotateTenantKeyRequest.newBuilder()
              .setTenant("down-co").setNewMasterKey(MasterKey.newBuilder().setProvider("kmip")).build()));
      assertThat(e).isNotNull();
      assertThat(e.getStatus().getCode()).isEqualTo(io.grpc.Status.Code.UNAVAILABLE);
      assertThat(keys.listTenantKeys(io.silo.api.v1.ListTenantKeysRequest.newBuilder().setTenant("down-co").build())
          .getKeys(0).getMasterKey().getProvider()).isEqualTo("local");
    }
  }
}
