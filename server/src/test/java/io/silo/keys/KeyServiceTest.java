package io.silo.keys;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.google.common.util.concurrent.ListenableFuture;
import com.mongodb.ClientEncryptionSettings;
import com.mongodb.client.MongoClient;
import com.mongodb.client.MongoCollection;
import com.mongodb.client.model.Filters;
import com.mongodb.client.model.vault.EncryptOptions;
import com.mongodb.client.vault.ClientEncryption;
import com.mongodb.client.vault.ClientEncryptions;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.silo.TestServer;
import io.silo.api.v1.CreateTenantKeyRequest;
import io.silo.api.v1.CreateTenantKeyResponse;
import io.silo.api.v1.KeyServiceGrpc;
import io.silo.api.v1.ListTenantKeysRequest;
import io.silo.api.v1.ListTenantKeysResponse;
import io.silo.api.v1.MasterKey;
import io.silo.api.v1.RegisterTenantRequest;
import io.silo.api.v1.RotateTenantKeyRequest;
import io.silo.api.v1.RotateTenantKeyResponse;
import io.silo.api.v1.ShredTenantKeyRequest;
import io.silo.api.v1.ShredTenantKeyResponse;
import io.silo.api.v1.TenantKey;
import io.silo.api.v1.TenantServiceGrpc;
import io.silo.mongo.MongoClientFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.bson.BsonBinary;
import org.bson.BsonDocument;
import org.bson.BsonString;
import org.bson.RawBsonDocument;
import org.bson.UuidRepresentation;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/** KeyService end to end: real PostgreSQL, the MongoDB-wire dev server, libmongocrypt, local and named local KMS providers. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class KeyServiceTest {

  @TempDir
  static Path keyDir;

  private TestServer server;
  private KeyServiceGrpc.KeyServiceBlockingStub keys;
  private MongoClient mongo;
  private MongoCollection<RawBsonDocument> vault;

  @BeforeAll
  void start() throws Exception {
    server = TestServer.startWithMongo(Map.of("kms.keyExpirationSeconds", 1), keyDir);
    keys = KeyServiceGrpc.newBlockingStub(server.channel).withDeadlineAfter(60, TimeUnit.SECONDS);
    mongo = MongoClientFactory.sync(server.mongo.connectionString());
    vault = mongo.getDatabase("encryption").getCollection("__keyVault", RawBsonDocument.class);
    for (String slug : List.of("alpha-co", "beta-co", "gamma-co", "delta-co", "epsilon-co", "race-co", "shred-co",
        "rotate-co", "idem-co")) {
      TenantServiceGrpc.newBlockingStub(server.channel).registerTenant(
          RegisterTenantRequest.newBuilder().setSlug(slug).setDisplayName(slug.toUpperCase()).build());
    }
  }

  @AfterAll
  void stop() throws Exception {
    mongo.close();
    server.close();
  }

  /** A client-side ClientEncryption with an empty DEK cache, as another process reading the data would have. */
  private ClientEncryption freshEncryption() throws Exception {
    Map<String, Map<String, Object>> providers = Map.of(
        "local", Map.of("key", Base64.getDecoder().decode(TestServer.LOCAL_KEY_BASE64)),
        "local:2026", Map.of("key", LocalMasterKeyFile.load(keyDir.resolve("mk-2026.bin")).keyBytes()));
    return ClientEncryptions.create(ClientEncryptionSettings.builder()
        .keyVaultMongoClientSettings(MongoClientFactory.settings(server.mongo.connectionString()))
        .keyVaultNamespace("encryption.__keyVault")
        .kmsProviders(providers)
        .build());
  }

  private TenantKey create(String slug) {
    return keys.createTenantKey(CreateTenantKeyRequest.newBuilder().setTenant(slug).build()).getKey();
  }

  private long keyDocs(String slug) {
    return vault.countDocuments(Filters.eq("keyAltNames", "tenant-" + slug));
  }

  private long auditRows(String slug, String action) throws Exception {
    return ((Number) server.queryOne("SELECT count(*) FROM silo.key_audit WHERE tenant_slug = '" + slug
        + "' AND action = '" + action + "'")).longValue();
  }

  private Map<String, String> rawKeyDocsExcept(String slug) {
    Map<String, String> out = new java.util.HashMap<>();
    for (RawBsonDocument doc : vault.find(Filters.ne("keyAltNames", "tenant-" + slug))) {
      byte[] bytes = new byte[doc.getByteBuffer().remaining()];
      doc.getByteBuffer().get(bytes);
      out.put(doc.get("_id").toString(), Base64.getEncoder().encodeToString(bytes));
    }
    return out;
  }

  @Test
  void createIsIdempotentAndUsesTheTenantAltName() {
    CreateTenantKeyResponse first = keys.createTenantKey(CreateTenantKeyRequest.newBuilder().setTenant("alpha-co").build());
    CreateTenantKeyResponse second = keys.createTenantKey(CreateTenantKeyRequest.newBuilder().setTenant("alpha-co").build());
    assertThat(first.getCreated()).isTrue();
    assertThat(second.getCreated()).isFalse();
    assertThat(second.getKey().getKeyId()).isEqualTo(first.getKey().getKeyId());
    assertThat(first.getKey().getKeyAltNamesList()).containsExactly("tenant-alpha-co");
    assertThat(first.getKey().getMasterKey().getProvider()).isEqualTo("local");
    assertThat(keyDocs("alpha-co")).isEqualTo(1);
  }

  @Test
  void twentyConcurrentCreatesLeaveExactlyOneKey() throws Exception {
    KeyServiceGrpc.KeyServiceFutureStub async = KeyServiceGrpc.newFutureStub(server.channel)
        .withDeadlineAfter(60, TimeUnit.SECONDS);
    List<ListenableFuture<CreateTenantKeyResponse>> calls = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      calls.add(async.createTenantKey(CreateTenantKeyRequest.newBuilder().setTenant("race-co").build()));
    }
    Set<String> ids = new HashSet<>();
    int created = 0;
    for (ListenableFuture<CreateTenantKeyResponse> call : calls) {
      CreateTenantKeyResponse response = call.get(60, TimeUnit.SECONDS);
      ids.add(response.getKey().getKeyId());
      created += response.getCreated() ? 1 : 0;
    }
    assertThat(ids).hasSize(1);
    assertThat(created).isEqualTo(1);
    assertThat(keyDocs("race-co")).isEqualTo(1);
    assertThat(auditRows("race-co", "CREATE")).isEqualTo(1);
  }

  @Test
  void listPagesThroughKeysWithoutKeyMaterial() {
    for (String slug : List.of("beta-co", "gamma-co", "delta-co")) {
      create(slug);
    }
    List<String> tenants = new ArrayList<>();
    String token = "";
    int pages = 0;
    do {
      ListTenantKeysResponse page = keys.listTenantKeys(ListTenantKeysRequest.newBuilder().setPageSize(1)
          .setPageToken(token).build());
      page.getKeysList().forEach(k -> tenants.add(k.getTenant()));
      token = page.getNextPageToken();
      pages++;
    } while (!token.isEmpty() && pages < 50);
    assertThat(tenants).contains("beta-co", "gamma-co", "delta-co").doesNotHaveDuplicates();
    ListTenantKeysResponse one = keys.listTenantKeys(ListTenantKeysRequest.newBuilder().setTenant("gamma-co").build());
    assertThat(one.getKeysList()).hasSize(1);
    assertThat(one.getKeys(0).toString()).doesNotContain("keyMaterial");
    assertThat(one.getKeys(0).getCreateTime().getSeconds()).isPositive();
  }

  @Test
  void rotateRewrapsOnlyThatTenantAndOldCiphertextStillDecrypts() throws Exception {
    TenantKey before = create("rotate-co");
    create("epsilon-co");
    BsonBinary ciphertext;
    try (ClientEncryption client = freshEncryption()) {
      ciphertext = client.encrypt(new BsonString("123-45-6789"), new EncryptOptions(
          "AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic").keyAltName("tenant-rotate-co"));
    }
    Map<String, String> othersBefore = rawKeyDocsExcept("rotate-co");
    long auditBefore = auditRows("rotate-co", "ROTATE");

    RotateTenantKeyResponse rotated = keys.rotateTenantKey(RotateTenantKeyRequest.newBuilder().setTenant("rotate-co")
        .setNewMasterKey(MasterKey.newBuilder().setProvider("local:2026")).build());
    assertThat(rotated.getKey().getKeyId()).isEqualTo(before.getKeyId());
    assertThat(rotated.getKey().getMasterKey().getProvider()).isEqualTo("local:2026");
    assertThat(rotated.getPreviousMasterKey().getProvider()).isEqualTo("local");
    assertThat(rawKeyDocsExcept("rotate-co")).isEqualTo(othersBefore);
    try (ClientEncryption client = freshEncryption()) {
      assertThat(client.decrypt(ciphertext).asString().getValue()).isEqualTo("123-45-6789");
    }
    assertThat(auditRows("rotate-co", "ROTATE")).isEqualTo(auditBefore + 1);
    assertThat(server.queryOne("SELECT to_provider FROM silo.key_audit WHERE tenant_slug = 'rotate-co' "
        + "AND action = 'ROTATE' ORDER BY id DESC LIMIT 1")).isEqualTo("local:2026");

    // Rewrapping under the same master key is allowed, and back to the default provider works too.
    keys.rotateTenantKey(RotateTenantKeyRequest.newBuilder().setTenant("rotate-co")
        .setNewMasterKey(MasterKey.newBuilder().setProvider("local:2026")).build());
    keys.rotateTenantKey(RotateTenantKeyRequest.newBuilder().setTenant("rotate-co")
        .setNewMasterKey(MasterKey.newBuilder().setProvider("local")).build());
    try (ClientEncryption client = freshEncryption()) {
      assertThat(client.decrypt(ciphertext).asString().getValue()).isEqualTo("123-45-6789");
    }
  }

  @Test
  void rotationWithTheSameIdempotencyKeyRewrapsOnce() throws Exception {
    create("idem-co");
    RotateTenantKeyRequest request = RotateTenantKeyRequest.newBuilder().setTenant("idem-co")
        .setNewMasterKey(MasterKey.newBuilder().setProvider("local:2026")).setIdempotencyKey("rot-1").build();
    RotateTenantKeyResponse first = keys.rotateTenantKey(request);
    RotateTenantKeyResponse again = keys.rotateTenantKey(request);
    assertThat(again.getAuditId()).isEqualTo(first.getAuditId());
    assertThat(auditRows("idem-co", "ROTATE")).isEqualTo(1);
  }

  @Test
  void badRotationsAreRejectedAndChangeNothing() throws Exception {
    create("beta-co");
    Map<String, String> vaultBefore = rawKeyDocsExcept("no-such");
    List<RotateTenantKeyRequest> bad = List.of(
        RotateTenantKeyRequest.newBuilder().setTenant("beta-co")
            .setNewMasterKey(MasterKey.newBuilder().setDescriptorJson("{\"keyId\":\"1\"}")).build(),
        RotateTenantKeyRequest.newBuilder().setTenant("beta-co")
            .setNewMasterKey(MasterKey.newBuilder().setProvider("vault9")).build(),
        RotateTenantKeyRequest.newBuilder().setTenant("beta-co")
            .setNewMasterKey(MasterKey.newBuilder().setProvider("local").setDescriptorJson("{\"key\":1}")).build(),
        RotateTenantKeyRequest.newBuilder().setTenant("beta-co")
            .setNewMasterKey(MasterKey.newBuilder().setProvider("local:2026").setDescriptorJson("not json")).build(),
        RotateTenantKeyRequest.newBuilder().setTenant("beta-co").build());
    for (RotateTenantKeyRequest request : bad) {
      StatusRuntimeException e = catchThrowableOfType(StatusRuntimeException.class, () -> keys.rotateTenantKey(request));
      assertThat(e).as(request.toString()).isNotNull();
      assertThat(e.getStatus().getCode()).as(request.toString()).isEqualTo(Status.Code.INVALID_ARGUMENT);
      assertThat(e.getStatus().getDescription()).startsWith("new_master_key");
    }
    StatusRuntimeException unknown = catchThrowableOfType(StatusRuntimeException.class, () -> keys.rotateTenantKey(
        RotateTenantKeyRequest.newBuilder().setTenant("no-such-tenant")
            .setNewMasterKey(MasterKey.newBuilder().setProvider("local")).build()));
    assertThat(unknown.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
    StatusRuntimeException unknownCreate = catchThrowableOfType(StatusRuntimeException.class,
        () -> create("no-such-tenant"));
    assertThat(unknownCreate.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
    assertThat(rawKeyDocsExcept("no-such")).isEqualTo(vaultBefore);
    assertThat(auditRows("beta-co", "ROTATE")).isZero();
    assertThat(keyDocs("no-such-tenant")).isZero();
  }

  @Test
  void shredMakesTheTenantsCiphertextUndecryptableAndLeavesOthersIntact() throws Exception {
    create("shred-co");
    create("delta-co");
    BsonBinary shredded;
    BsonBinary survivor;
    try (ClientEncryption client = freshEncryption()) {
      EncryptOptions random = new EncryptOptions("AEAD_AES_256_CBC_HMAC_SHA_512-Random");
      shredded = client.encrypt(new BsonString("flu"), random.keyAltName("tenant-shred-co"));
      survivor = client.encrypt(new BsonString("cold"), new EncryptOptions("AEAD_AES_256_CBC_HMAC_SHA_512-Random")
          .keyAltName("tenant-delta-co"));
    }

    StatusRuntimeException wrong = catchThrowableOfType(StatusRuntimeException.class, () -> keys.shredTenantKey(
        ShredTenantKeyRequest.newBuilder().setTenant("shred-co").setConfirm("delta-co").build()));
    assertThat(wrong.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(keyDocs("shred-co")).isEqualTo(1);

    ShredTenantKeyResponse response = keys.shredTenantKey(
        ShredTenantKeyRequest.newBuilder().setTenant("shred-co").setConfirm("shred-co").build());
    assertThat(response.getEffectiveWithinSeconds()).isEqualTo(1);
    assertThat(keyDocs("shred-co")).isZero();
    assertThat(auditRows("shred-co", "SHRED")).isEqualTo(1);
    try (ClientEncryption client = freshEncryption()) {
      Exception failure = catchThrowableOfType(Exception.class, () -> client.decrypt(shredded));
      assertThat(failure).as("decrypting after shred must fail").isNotNull();
      assertThat(client.decrypt(survivor).asString().getValue()).isEqualTo("cold");
    }

    StatusRuntimeException again = catchThrowableOfType(StatusRuntimeException.class, () -> create("shred-co"));
    assertThat(again.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(again.getStatus().getDescription()).contains("allow_after_shred");
    CreateTenantKeyResponse recreated = keys.createTenantKey(CreateTenantKeyRequest.newBuilder().setTenant("shred-co")
        .setAllowAfterShred(true).build());
    assertThat(recreated.getCreated()).isTrue();
    assertThat(recreated.getWarning()).contains("unrecoverable");
    assertThat(recreated.getKey().getKeyId()).isNotEqualTo(response.getKeyId());
    try (ClientEncryption client = freshEncryption()) {
      assertThat(catchThrowableOfType(Exception.class, () -> client.decrypt(shredded))).isNotNull();
    }
    assertThat(UUID.fromString(recreated.getKey().getKeyId())).isNotNull();
    BsonDocument doc = mongo.getDatabase("encryption").getCollection("__keyVault", BsonDocument.class)
        .find(Filters.eq("keyAltNames", "tenant-shred-co")).first();
    assertThat(doc.getBinary("_id").asUuid(UuidRepresentation.STANDARD).toString())
        .isEqualTo(recreated.getKey().getKeyId());
  }
}
