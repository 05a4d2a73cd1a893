package io.silo.keys;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.mongodb.client.MongoCollection;
import com.mongodb.client.model.Filters;
import com.mongodb.client.model.vault.DataKeyOptions;
import com.mongodb.client.model.vault.EncryptOptions;
import com.mongodb.client.vault.ClientEncryption;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.silo.TestServer;
import io.silo.api.v1.CreateTenantKeyRequest;
import io.silo.api.v1.CreateTenantKeyResponse;
import io.silo.api.v1.KeyOrigin;
import io.silo.api.v1.ListTenantKeysRequest;
import io.silo.api.v1.MasterKey;
import io.silo.api.v1.RegisterTenantRequest;
import io.silo.api.v1.RetireMasterKeyRequest;
import io.silo.api.v1.RetireMasterKeyResponse;
import io.silo.api.v1.RotateTenantKeyRequest;
import io.silo.api.v1.RotateTenantKeyResponse;
import io.silo.api.v1.TenantKey;
import io.silo.api.v1.TenantServiceGrpc;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.bson.BsonBinary;
import org.bson.BsonDocument;
import org.bson.BsonString;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * The seed lab's rotation, end to end through Silo against the AWS KMS stub: a {@code tenant-123} data key made the
 * lab's way is adopted (alt names by {@code tenant-{id}}), rewrapped to a CMK in eu-central-1 through a named aws
 * provider, and still decrypts the lab's ciphertext elsewhere; per-tenant CMKs are created once and reused; a master
 * key is retired only once no data key references it, compared by resolved ARN.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class AwsKmsRotationTest {

  private static final String EU = "eu-central-1";
  private static final String POLICY = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"silo-test\","
      + "\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::123456789012:root\"},\"Action\":\"kms:*\","
      + "\"Resource\":\"*\"}]}";

  @TempDir
  static Path dir;

  private AwsStubSilo silo;
  private MongoCollection<BsonDocument> vault;

  @BeforeAll
  void start() throws Exception {
    Path policy = Files.writeString(dir.resolve("key-policy.json"), POLICY);
    silo = new AwsStubSilo(dir, started -> Map.of(
        // The https:// form: Silo derives the SDK's URI and libmongocrypt's host:port from this one setting.
        "kms.aws.endpoint", "https://" + started.endpoint(),
        "kms.aws.named", List.of("eu=" + EU),
        "kms.keyAltNameTemplate", "tenant-{id}",
        "kms.aws.keyPolicyFile", policy.toString(),
        "kms.aws.keyTags", List.of("CostCentre=cc-{id}"),
        // The S3 phase guards the keys of SSE-KMS tenant buckets; nothing here sends it an S3 request.
        "s3.enabled", true,
        "s3.endpoint", "http://127.0.0.1:9"));
    vault = silo.vault.withDocumentClass(BsonDocument.class);
  }

  @AfterAll
  void stop() throws Exception {
    if (silo != null) silo.close();
  }

  /** Registers a tenant and gives it the application id {@code id}; returns the slug. */
  private String tenant(String slug, long id) throws Exception {
    TenantServiceGrpc.newBlockingStub(silo.server.channel).registerTenant(
        RegisterTenantRequest.newBuilder().setSlug(slug).setDisplayName(slug).build());
    assertThat(((Number) silo.server.queryOne("UPDATE public.tenants SET id = " + id + " WHERE slug = '" + slug
        + "' RETURNING id")).longValue()).isEqualTo(id);
    return slug;
  }

  private long audit(String tenant, String action, String outcome) throws Exception {
    return ((Number) silo.server.queryOne("SELECT count(*) FROM silo.key_audit WHERE tenant_slug = '" + tenant
        + "' AND action = '" + action + "' AND outcome = '" + outcome + "'")).longValue();
  }

  private ClientEncryption otherProcess() {
    Map<String, Map<String, Object>> providers = Map.of(
        "local", Map.of("key", Base64.getDecoder().decode(TestServer.LOCAL_KEY_BASE64)),
        "aws", KmsTestSupport.DUMMY_AWS_CREDENTIALS,
        "aws:eu", KmsTestSupport.DUMMY_AWS_CREDENTIALS);
    return KmsTestSupport.clientEncryption(silo.server.mongo.connectionString(), providers, silo.stub.clientSslContext());
  }

  private static MasterKey aws(String provider, String descriptorJson) {
    return MasterKey.newBuilder().setProvider(provider).setDescriptorJson(descriptorJson).build();
  }

  @Test
  void theLabsTenant123KeyIsAdoptedThenRewrappedToACmkInEuCentral1AndStillDecryptsTheLabsData() throws Exception {
    tenant("lab-acme", 123);
    BsonBinary labCiphertext;
    try (ClientEncryption lab = otherProcess()) {
      // What the lab did: a local-KMS data key named tenant-123, and a value encrypted under it.
      lab.createDataKey("local", new DataKeyOptions().keyAltNames(List.of("tenant-123")));
      labCiphertext = lab.encrypt(new BsonString("123-45-6789"),
          new EncryptOptions("AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic").keyAltName("tenant-123"));
    }
    TenantKey listed = silo.keys.listTenantKeys(ListTenantKeysRequest.newBuilder().setTenant("lab-acme").build())
        .getKeys(0);
    assertThat(listed.getTenant()).isEqualTo("lab-acme");
    assertThat(listed.getOrigin()).isEqualTo(KeyOrigin.KEY_ORIGIN_UNMANAGED);

    CreateTenantKeyResponse adopted = silo.keys.createTenantKey(CreateTenantKeyRequest.newBuilder()
        .setTenant("lab-acme").build());
    assertThat(adopted.getCreated()).isFalse();
    assertThat(adopted.getAdopted()).isTrue();
    assertThat(adopted.getKey().getKeyAltNamesList()).containsExactly("tenant-123");
    assertThat(adopted.getKey().getOrigin()).isEqualTo(KeyOrigin.KEY_ORIGIN_ADOPTED);
    CreateTenantKeyResponse again = silo.keys.createTenantKey(CreateTenantKeyRequest.newBuilder()
        .setTenant("lab-acme").build());
    assertThat(again.getAdopted()).as("adopted once").isFalse();
    assertThat(audit("lab-acme", "ADOPT", "OK")).isEqualTo(1);
    assertThat(vault.countDocuments(Filters.eq("keyAltNames", "tenant-123"))).isEqualTo(1);
    assertThat(vault.countDocuments(Filters.eq("keyAltNames", "tenant-lab-acme"))).isZero();

    // The lab's own command: rewrap tenant-123 to "new-cmk-arn" in eu-central-1.
    String newCmkArn = silo.stub.putKey(EU, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "Enabled");
    long describesBefore = silo.stub.requests("TrentService.DescribeKey");
    RotateTenantKeyResponse rotated = silo.keys.rotateTenantKey(RotateTenantKeyRequest.newBuilder()
        .setTenant("lab-acme")
        .setNewMasterKey(aws("aws:eu", "{\"key\":\"" + newCmkArn + "\",\"region\":\"" + EU + "\"}")).build());

    assertThat(silo.stub.requests("TrentService.DescribeKey")).as("preflight").isGreaterThan(describesBefore);
    assertThat(rotated.getPreviousMasterKey().getProvider()).isEqualTo("local");
    assertThat(rotated.getKey().getMasterKey().getProvider()).isEqualTo("aws:eu");
    BsonDocument masterKey = BsonDocument.parse(rotated.getKey().getMasterKey().getDescriptorJson());
    assertThat(masterKey.getString("key").getValue()).isEqualTo(newCmkArn);
    assertThat(masterKey.getString("region").getValue()).isEqualTo(EU);
    // libmongocrypt's form of the one endpoint setting, derived from https://host:port.
    assertThat(masterKey.getString("endpoint").getValue()).isEqualTo(silo.stub.endpoint());
    BsonDocument stored = vault.find(Filters.eq("keyAltNames", "tenant-123")).first();
    assertThat(stored.getDocument("masterKey").getString("provider").getValue()).isEqualTo("aws:eu");
    assertThat(audit("lab-acme", "ROTATE", "OK")).isEqualTo(1);

    try (ClientEncryption elsewhere = otherProcess()) {
      assertThat(elsewhere.decrypt(labCiphertext)).isEqualTo(new BsonString("123-45-6789"));
    }
  }

  @Test
  void newCmkCreatesTheTenantsOwnKeyInEuCentral1OnceWithTagsAndPolicyAndReusesItThroughTheAlias() throws Exception {
    String slug = tenant("cmk-beta", 4711);
    silo.keys.createTenantKey(CreateTenantKeyRequest.newBuilder().setTenant(slug).build());
    long createsBefore = silo.stub.requests("TrentService.CreateKey");

    RotateTenantKeyResponse first = silo.keys.rotateTenantKey(RotateTenantKeyRequest.newBuilder().setTenant(slug)
        .setNewMasterKey(aws("aws:eu", "")).setNewCmk(true).build());
    String arn = first.getCmk().getKeyArn();
    assertThat(first.getCmk().getCreated()).isTrue();
    assertThat(first.getCmk().getAlias()).isEqualTo("alias/silo/tenant-" + slug);
    assertThat(first.getCmk().getRegion()).isEqualTo(EU);
    assertThat(AwsKms.arnRegion(arn)).contains(EU);
    assertThat(BsonDocument.parse(first.getKey().getMasterKey().getDescriptorJson()).getString("key").getValue())
        .isEqualTo(arn);
    assertThat(silo.stub.aliasTarget(EU, "alias/silo/tenant-" + slug)).isEqualTo(arn);
    assertThat(silo.stub.tags(arn)).containsEntry(TenantCmks.TENANT_TAG, slug).containsEntry("CostCentre", "cc-4711")
        .containsKey(TenantCmks.PROVISIONING_TAG);
    assertThat(silo.stub.policy(arn)).isEqualTo(POLICY);

    RotateTenantKeyResponse second = silo.keys.rotateTenantKey(RotateTenantKeyRequest.newBuilder().setTenant(slug)
        .setNewMasterKey(aws("aws:eu", "{\"region\":\"" + EU + "\"}")).setNewCmk(true).build());
    assertThat(second.getCmk().getKeyArn()).isEqualTo(arn);
    assertThat(second.getCmk().getCreated()).isFalse();
    assertThat(silo.stub.requests("TrentService.CreateKey") - createsBefore).as("CreateKey calls").isEqualTo(1);
    assertThat(silo.stub.keysTagged(TenantCmks.TENANT_TAG, slug)).containsExactly(arn);
    assertThat(audit(slug, "CMK_CREATE", "OK")).isEqualTo(1);
    assertThat(audit(slug, "ROTATE", "OK")).isEqualTo(2);
  }

  @Test
  void aMasterKeyIsRetiredOnlyOnceNoDataKeyReferencesItComparingResolvedArnsNotStrings() throws Exception {
    String shared = silo.stub.putKey("us-east-1", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "Enabled");
    silo.stub.putAlias("us-east-1", "alias/shared", shared);
    String byAlias = tenant("ret-gamma", 501);
    String byArn = tenant("ret-delta", 502);
    silo.keys.createTenantKey(CreateTenantKeyRequest.newBuilder().setTenant(byAlias)
        .setMasterKey(aws("aws", "{\"key\":\"alias/shared\"}")).build());
    silo.keys.createTenantKey(CreateTenantKeyRequest.newBuilder().setTenant(byArn)
        .setMasterKey(aws("aws", "{\"key\":\"" + shared + "\"}")).build());

    StatusRuntimeException tooShort = catchThrowableOfType(StatusRuntimeException.class,
        () -> silo.keys.retireMasterKey(retire("{\"key\":\"" + shared + "\"}", 6, shared)));
    assertThat(tooShort.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(tooShort.getStatus().getDescription()).contains("pending_window_days");
    StatusRuntimeException unconfirmed = catchThrowableOfType(StatusRuntimeException.class,
        () -> silo.keys.retireMasterKey(retire("{\"key\":\"" + shared + "\"}", 7, "alias/shared")));
    assertThat(unconfirmed.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);

    StatusRuntimeException referenced = catchThrowableOfType(StatusRuntimeException.class,
        () -> silo.keys.retireMasterKey(retire("{\"key\":\"" + shared + "\"}", 7, shared)));
    assertThat(referenced.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(referenced.getStatus().getDescription()).contains("still in use by 2 data key(s)", "tenant-501",
        "tenant-502");
    assertThat(silo.stub.state(shared)).isEqualTo("Enabled");

    // The data key that names the ARN moves away; the one that names the alias still holds the key.
    silo.keys.rotateTenantKey(RotateTenantKeyRequest.newBuilder().setTenant(byArn)
        .setNewMasterKey(MasterKey.newBuilder().setProvider("local")).build());
    StatusRuntimeException viaAlias = catchThrowableOfType(StatusRuntimeException.class,
        () -> silo.keys.retireMasterKey(retire("{\"key\":\"" + shared + "\"}", 7, shared)));
    assertThat(viaAlias.getStatus().getDescription()).contains("still in use by 1 data key(s)", "tenant-501")
        .doesNotContain("tenant-502");
    assertThat(silo.stub.state(shared)).isEqualTo("Enabled");

    silo.keys.rotateTenantKey(RotateTenantKeyRequest.newBuilder().setTenant(byAlias)
        .setNewMasterKey(MasterKey.newBuilder().setProvider("local")).build());
    RetireMasterKeyResponse retired = silo.keys.retireMasterKey(retire("{\"key\":\"alias/shared\"}", 7, "alias/shared"));
    assertThat(retired.getKeyArn()).isEqualTo(shared);
    assertThat(retired.getAlreadyScheduled()).isFalse();
    assertThat(retired.getDeletionTime().getSeconds() - System.currentTimeMillis() / 1000)
        .isBetween(7 * 86400L - 600, 7 * 86400L + 600);
    assertThat(silo.stub.state(shared)).isEqualTo("PendingDeletion");
    assertThat(((Number) silo.server.queryOne("SELECT count(*) FROM silo.key_audit WHERE action = "
        + "'CMK_SCHEDULE_DELETION' AND outcome = 'OK' AND from_master_key->>'key' = '" + shared + "'")).longValue())
        .isEqualTo(1);

    RetireMasterKeyResponse repeated = silo.keys.retireMasterKey(retire("{\"key\":\"" + shared + "\"}", 7, shared));
    assertThat(repeated.getAlreadyScheduled()).isTrue();
  }

  @Test
  void aMasterKeyThatEncryptsATenantBucketIsRetiredOnlyOnceTheBucketIsGone() throws Exception {
    String key = silo.stub.putKey("us-east-1", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "Enabled");
    String bucket = "dataroom-saas-kms-bucket-0badc0de";
    io.silo.store.AppDatabase db = io.silo.store.AppDatabase.of(silo.server.settings);
    db.execute("INSERT INTO silo.tenant_buckets (bucket, tenant_slug, state, created_by_silo, kms_key_arns)"
        + " VALUES ('" + bucket + "', 'kms-bucket', 'CREATED', true, ARRAY['" + key + "'])");

    StatusRuntimeException inUse = catchThrowableOfType(StatusRuntimeException.class,
        () -> silo.keys.retireMasterKey(retire("{\"key\":\"" + key + "\"}", 7, key)));
    assertThat(inUse.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(inUse.getStatus().getDescription()).contains("bucket " + bucket + " (tenant 'kms-bucket')");
    assertThat(silo.stub.state(key)).isEqualTo("Enabled");

    // Rolled back: the bucket and every object encrypted under the key are gone.
    db.execute("UPDATE silo.tenant_buckets SET state = 'DELETED' WHERE bucket = '" + bucket + "'");
    assertThat(silo.keys.retireMasterKey(retire("{\"key\":\"" + key + "\"}", 7, key)).getKeyArn()).isEqualTo(key);
    assertThat(silo.stub.state(key)).isEqualTo("PendingDeletion");
  }

  private static RetireMasterKeyRequest retire(String descriptorJson, int days, String confirm) {
    return RetireMasterKeyRequest.newBuilder().setMasterKey(aws("aws", descriptorJson)).setPendingWindowDays(days)
        .setConfirm(confirm).build();
  }
}
