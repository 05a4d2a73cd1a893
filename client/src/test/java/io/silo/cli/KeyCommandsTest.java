package io.silo.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.util.JsonFormat;
import io.silo.api.v1.CreateTenantKeyRequest;
import io.silo.api.v1.CreateTenantKeyResponse;
import io.silo.api.v1.KeyOrigin;
import io.silo.api.v1.ListTenantKeysRequest;
import io.silo.api.v1.ListTenantKeysResponse;
import io.silo.api.v1.MasterKey;
import io.silo.api.v1.RetireMasterKeyRequest;
import io.silo.api.v1.RetireMasterKeyResponse;
import io.silo.api.v1.RotateTenantKeyRequest;
import io.silo.api.v1.RotateTenantKeyResponse;
import io.silo.api.v1.ShredTenantKeyRequest;
import io.silo.api.v1.ShredTenantKeyResponse;
import io.silo.api.v1.TenantKey;
import io.silo.api.v1.TenantStatus;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class KeyCommandsTest {

  private static final String AWS_KEY =
      "{\"key\":\"arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab\",\"region\":\"eu-west-1\"}";

  private FakeSiloServer server;

  @BeforeEach
  void start() throws Exception {
    server = new FakeSiloServer();
  }

  @AfterEach
  void stop() throws Exception {
    server.close();
  }

  private CliRun silo(String... args) {
    String[] all = new String[args.length + 2];
    all[0] = "--server";
    all[1] = server.address();
    System.arraycopy(args, 0, all, 2, args.length);
    return CliRun.run(all);
  }

  // --- create ---

  @Test
  void createReportsCreatedFirstAndAlreadyExistedOnRepeat() {
    server.seed("acme", "Acme Corp", TenantStatus.TENANT_STATUS_POOLED);
    CliRun first = silo("keys", "create", "acme", "--provider", "aws", "--master-key", AWS_KEY, "--idempotency-key", "k-1");
    assertThat(first.exitCode()).isZero();
    assertThat(first.err()).isEmpty();
    TenantKey key = server.keys.get("acme");
    assertThat(key).isNotNull();
    assertThat(first.out()).startsWith("Created key " + key.getKeyId() + " for tenant acme (provider aws)\n")
        .contains("TENANT", "KEY ID", "PROVIDER", "MASTER KEY", "CREATED", "UPDATED", key.getKeyId());
    assertThat(server.keyRequests).containsExactly(CreateTenantKeyRequest.newBuilder()
        .setTenant("acme")
        .setMasterKey(MasterKey.newBuilder().setProvider("aws").setDescriptorJson(AWS_KEY))
        .setIdempotencyKey("k-1")
        .build());

    CliRun again = silo("keys", "create", "acme");
    assertThat(again.exitCode()).isZero();
    assertThat(again.out()).startsWith("Key already existed: " + key.getKeyId() + " for tenant acme (provider aws)\n");
    assertThat(server.keys).hasSize(1);
    // Without --provider the master key is left unset so that the server picks its default.
    assertThat(((CreateTenantKeyRequest) server.keyRequests.get(1)).hasMasterKey()).isFalse();
  }

  @Test
  void createJsonIsTheResponseIncludingCreatedFalse() throws Exception {
    TenantKey key = server.seedKey("acme", "local", "");
    CliRun run = silo("keys", "create", "acme", "-o", "json");
    assertThat(run.exitCode()).isZero();
    CreateTenantKeyResponse.Builder parsed = CreateTenantKeyResponse.newBuilder();
    JsonFormat.parser().merge(run.out(), parsed);
    assertThat(parsed.build()).isEqualTo(CreateTenantKeyResponse.newBuilder().setKey(key).setCreated(false).build());
    assertThat(run.out()).contains("\"created\": false").doesNotContain("already existed");
  }

  @Test
  void createAfterShredPassesTheFlagAndPrintsTheWarningOnStderr() throws Exception {
    server.seed("acme", "Acme Corp", TenantStatus.TENANT_STATUS_POOLED);
    server.shredded.add("acme");

    CliRun refused = silo("keys", "create", "acme");
    assertThat(refused.exitCode()).isEqualTo(1);
    assertThat(refused.err()).startsWith("silo: FAILED_PRECONDITION: ");

    CliRun run = silo("keys", "create", "acme", "--allow-after-shred", "-o", "json");
    assertThat(run.exitCode()).isZero();
    assertThat(((CreateTenantKeyRequest) server.keyRequests.get(1)).getAllowAfterShred()).isTrue();
    assertThat(run.err()).isEqualTo("silo: warning: a new key was created after the previous one was shredded\n");
    // The warning goes to stderr only, so stdout stays one parseable object.
    CreateTenantKeyResponse.Builder parsed = CreateTenantKeyResponse.newBuilder();
    JsonFormat.parser().merge(run.out(), parsed);
    assertThat(parsed.getCreated()).isTrue();
  }

  @Test
  void createForUnknownTenantExitsOneWithNotFound() {
    CliRun run = silo("keys", "create", "nope");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.out()).isEmpty();
    assertThat(run.err()).isEqualTo("silo: NOT_FOUND: tenant 'nope' not found\n");
  }

  @Test
  void createMasterKeyWithoutProviderIsAUsageError() {
    server.seed("acme", "Acme Corp", TenantStatus.TENANT_STATUS_POOLED);
    CliRun run = silo("keys", "create", "acme", "--master-key", "{\"keyId\":\"1\"}");
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err()).startsWith("silo: a master key needs a provider: --master-key was given without --provider\n");
    assertThat(server.keyRequests).isEmpty();
    assertThat(server.keys).isEmpty();
  }

  @Test
  void invalidMasterKeyJsonIsAUsageErrorNamingTheOption() {
    server.seed("acme", "Acme Corp", TenantStatus.TENANT_STATUS_POOLED);
    for (String bad : List.of("{\"keyId\":", "[\"keyId\"]", "\"keyId\"", "keyId=1", "{\"a\":1} trailing", "")) {
      CliRun run = silo("keys", "create", "acme", "--provider", "kmip", "--master-key", bad);
      assertThat(run.exitCode()).as(bad).isEqualTo(2);
      assertThat(run.err()).as(bad).startsWith("silo: Invalid value for option '--master-key'")
          .contains("Try 'silo keys create --help'").doesNotContain("\tat ");
      assertThat(run.out()).as(bad).isEmpty();
    }
    CliRun rotate = silo("keys", "rotate", "acme", "--provider", "kmip", "--master-key", "{not json}");
    assertThat(rotate.exitCode()).isEqualTo(2);
    assertThat(rotate.err()).startsWith("silo: Invalid value for option '--master-key'");
    assertThat(server.keyRequests).as("no call was made").isEmpty();
    assertThat(server.authorizationHeaders).isEmpty();
  }

  // --- list ---

  @Test
  void listPrintsAlignedColumnsWithTruncatedMasterKey() {
    TenantKey key = server.seedKey("acme", "aws", AWS_KEY);
    CliRun run = silo("keys", "list");
    assertThat(run.exitCode()).isZero();
    String[] lines = run.out().split("\n");
    assertThat(lines).hasSize(2);
    assertThat(lines[0]).matches("TENANT +KEY ID +ORIGIN +PROVIDER +MASTER KEY +CREATED +UPDATED");
    String cell = AWS_KEY.substring(0, KeyTable.MAX_DESCRIPTOR - 3) + "...";
    String created = Instant.ofEpochSecond(key.getCreateTime().getSeconds()).toString();
    assertThat(lines[1]).startsWith("acme").contains(key.getKeyId(), " aws ", cell, created).doesNotContain(AWS_KEY);
    assertThat(lines[1].indexOf(key.getKeyId())).isEqualTo(lines[0].indexOf("KEY ID"));
    assertThat(lines[1].indexOf(cell)).isEqualTo(lines[0].indexOf("MASTER KEY"));
    assertThat(lines[1].indexOf(created)).isEqualTo(lines[0].indexOf("CREATED"));
  }

  @Test
  void listShowsWhichKeysSiloCreatedAndWhichItAdopted() {
    server.seedKey("acme", "local", "");
    TenantKey lab = server.seedKey("lab", "local", "");
    server.keys.put("lab", lab.toBuilder().setOrigin(KeyOrigin.KEY_ORIGIN_ADOPTED).clearKeyAltNames()
        .addKeyAltNames("tenant-123").build());
    TenantKey foreign = server.seedKey("other", "local", "");
    server.keys.put("other", foreign.toBuilder().setOrigin(KeyOrigin.KEY_ORIGIN_UNMANAGED).build());
    String[] lines = silo("keys", "list").out().split("\n");
    int origin = lines[0].indexOf("ORIGIN");
    assertThat(lines).hasSize(4);
    assertThat(lines[1]).startsWith("acme");
    assertThat(lines[1].substring(origin)).startsWith("CREATED ");
    assertThat(lines[2]).startsWith("lab");
    assertThat(lines[2].substring(origin)).startsWith("ADOPTED ");
    assertThat(lines[3].substring(origin)).startsWith("UNMANAGED ");
  }

  @Test
  void listJsonKeepsTheWholeDescriptorAndTheNextPageToken() throws Exception {
    server.seedKey("acme", "aws", AWS_KEY);
    server.seedKey("globex", "local", "");
    server.seedKey("initech", "kmip", "{\"keyId\":\"7\"}");
    CliRun run = silo("keys", "list", "--page-size", "2", "-o", "json");
    assertThat(run.exitCode()).isZero();
    ListTenantKeysResponse.Builder parsed = ListTenantKeysResponse.newBuilder();
    JsonFormat.parser().merge(run.out(), parsed);
    assertThat(parsed.getKeysList()).containsExactly(server.keys.get("acme"), server.keys.get("globex"));
    assertThat(parsed.getKeys(0).getMasterKey().getDescriptorJson()).isEqualTo(AWS_KEY);
    assertThat(parsed.getNextPageToken()).isEqualTo("koff-2");
  }

  @Test
  void listWithoutAllTellsHowToContinueAndPassesTheTenantFilter() {
    server.seedKey("acme", "local", "");
    server.seedKey("globex", "local", "");
    CliRun page = silo("keys", "list", "--page-size", "1");
    assertThat(page.out()).contains("acme").doesNotContain("globex").endsWith("More keys: --page-token koff-1 (or use --all)\n");

    CliRun one = silo("keys", "list", "--tenant", "globex");
    assertThat(one.exitCode()).isZero();
    assertThat(one.out()).contains("globex").doesNotContain("acme").doesNotContain("More keys");
    assertThat(server.keyRequests.get(1)).isEqualTo(ListTenantKeysRequest.newBuilder().setTenant("globex").build());
  }

  @Test
  void listAllFollowsNextPageTokenAcrossThreePages() throws Exception {
    for (int i = 1; i <= 5; i++) {
      server.seedKey("t" + i, "local", "");
    }
    CliRun run = silo("keys", "list", "--all", "--page-size", "2");
    assertThat(run.exitCode()).isZero();
    assertThat(server.keyRequests).extracting(r -> ((ListTenantKeysRequest) r).getPageToken())
        .containsExactly("", "koff-2", "koff-4");
    assertThat(run.out().lines().toList()).hasSize(6).first().asString().startsWith("TENANT");
    assertThat(run.out()).contains("t1", "t2", "t3", "t4", "t5").doesNotContain("More keys");

    CliRun json = silo("keys", "list", "--all", "--page-size", "2", "-o", "json");
    ListTenantKeysResponse.Builder parsed = ListTenantKeysResponse.newBuilder();
    JsonFormat.parser().merge(json.out(), parsed);
    assertThat(parsed.getKeysList()).containsExactlyElementsOf(server.keys.values());
    assertThat(parsed.getNextPageToken()).isEmpty();
  }

  // --- rotate ---

  @Test
  void rotatePrintsFromAndToProviderAndTheAuditId() {
    TenantKey before = server.seedKey("acme", "local", "");
    CliRun run = silo("keys", "rotate", "acme", "--provider", "kmip", "--master-key", "{\"keyId\":\"7\"}",
        "--idempotency-key", "rot-1");
    assertThat(run.exitCode()).isZero();
    assertThat(run.err()).isEmpty();
    assertThat(run.out()).startsWith("Rotated key " + before.getKeyId() + " for tenant acme: provider local -> kmip (audit id 100)\n");
    assertThat(run.out().lines().toList()).hasSize(3);
    assertThat(run.out()).contains("{\"keyId\":\"7\"}");
    assertThat(server.keys.get("acme").getMasterKey())
        .isEqualTo(MasterKey.newBuilder().setProvider("kmip").setDescriptorJson("{\"keyId\":\"7\"}").build());
    assertThat(server.keyRequests).containsExactly(RotateTenantKeyRequest.newBuilder()
        .setTenant("acme")
        .setNewMasterKey(MasterKey.newBuilder().setProvider("kmip").setDescriptorJson("{\"keyId\":\"7\"}"))
        .setIdempotencyKey("rot-1")
        .build());
  }

  @Test
  void rotateJsonIsTheResponseWithThePreviousMasterKey() throws Exception {
    server.seedKey("acme", "local", "");
    CliRun run = silo("keys", "rotate", "acme", "--provider", "aws", "--master-key", AWS_KEY, "-o", "json");
    assertThat(run.exitCode()).isZero();
    RotateTenantKeyResponse.Builder parsed = RotateTenantKeyResponse.newBuilder();
    JsonFormat.parser().merge(run.out(), parsed);
    assertThat(parsed.getPreviousMasterKey().getProvider()).isEqualTo("local");
    assertThat(parsed.getKey()).isEqualTo(server.keys.get("acme"));
    assertThat(parsed.getAuditId()).isEqualTo(100);
  }

  @Test
  void rotateMasterKeyWithoutProviderIsAUsageErrorAndNothingIsSent() {
    TenantKey before = server.seedKey("acme", "local", "");
    CliRun run = silo("keys", "rotate", "acme", "--master-key", "{\"keyId\":\"7\"}");
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.out()).isEmpty();
    assertThat(run.err()).startsWith("silo: a master key needs a provider: --master-key was given without --provider\n")
        .contains("Try 'silo keys rotate --help'");
    assertThat(server.keyRequests).isEmpty();
    assertThat(server.authorizationHeaders).as("no call at all").isEmpty();
    assertThat(server.keys.get("acme")).isEqualTo(before);
  }

  @Test
  void rotateWithoutProviderIsAUsageError() {
    CliRun run = silo("keys", "rotate", "acme");
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err()).startsWith("silo: Missing required option: '--provider=PROVIDER'");
    assertThat(server.keyRequests).isEmpty();
  }

  @Test
  void rotateUnknownTenantExitsOneWithNotFound() {
    CliRun run = silo("keys", "rotate", "nope", "--provider", "local");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.out()).isEmpty();
    assertThat(run.err()).isEqualTo("silo: NOT_FOUND: no key for tenant 'nope'\n");
  }

  // --- shred ---

  @Test
  void shredPrintsKeyIdAuditIdAndWhenItTakesEffect() {
    TenantKey key = server.seedKey("acme", "local", "");
    CliRun run = silo("keys", "shred", "acme", "--confirm", "acme");
    assertThat(run.exitCode()).isZero();
    assertThat(run.err()).isEmpty();
    assertThat(run.out()).isEqualTo("Shredded key " + key.getKeyId() + " of tenant acme (audit id 100): "
        + "ciphertext under this key stops decrypting within " + FakeSiloServer.KEY_EXPIRATION_SECONDS + " s\n");
    assertThat(server.keys).doesNotContainKey("acme");
    assertThat(server.keyRequests).containsExactly(ShredTenantKeyRequest.newBuilder().setTenant("acme").setConfirm("acme").build());
  }

  @Test
  void shredJsonIsTheResponse() throws Exception {
    TenantKey key = server.seedKey("acme", "local", "");
    CliRun run = silo("keys", "shred", "acme", "--confirm", "acme", "-o", "json");
    assertThat(run.exitCode()).isZero();
    ShredTenantKeyResponse.Builder parsed = ShredTenantKeyResponse.newBuilder();
    JsonFormat.parser().merge(run.out(), parsed);
    assertThat(parsed.build()).isEqualTo(ShredTenantKeyResponse.newBuilder()
        .setKeyId(key.getKeyId()).setAuditId(100).setEffectiveWithinSeconds(FakeSiloServer.KEY_EXPIRATION_SECONDS).build());
  }

  @Test
  void shredWithWrongConfirmExitsOneWithFailedPreconditionAndKeepsTheKey() {
    TenantKey key = server.seedKey("acme", "local", "");
    CliRun run = silo("keys", "shred", "acme", "--confirm", "acme-typo");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.out()).isEmpty();
    assertThat(run.err()).isEqualTo("silo: FAILED_PRECONDITION: confirm must equal the tenant slug 'acme'\n");
    assertThat(server.keys.get("acme")).isEqualTo(key);
  }

  @Test
  void shredWithoutConfirmIsAUsageErrorAndNothingIsSent() {
    server.seedKey("acme", "local", "");
    CliRun run = silo("keys", "shred", "acme");
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err()).startsWith("silo: Missing required option: '--confirm=TENANT'");
    assertThat(server.keyRequests).isEmpty();
    assertThat(server.keys).containsKey("acme");
  }

  @Test
  void shredUnknownTenantExitsOneWithNotFound() {
    CliRun run = silo("keys", "shred", "nope", "--confirm", "nope");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.err()).isEqualTo("silo: NOT_FOUND: no key for tenant 'nope'\n");
    assertThat(run.err()).doesNotContain("\tat ", "Exception");
  }

  @Test
  void keysAloneIsAUsageError() {
    CliRun run = silo("keys");
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err()).startsWith("silo: Missing command: choose one of [create, list, rotate, shred, retire-cmk]");
  }

  // --- AWS: tenant CMKs and retiring master keys ---

  @Test
  void rotateNewCmkSendsTheFlagAndSaysWhetherTheTenantsCmkWasCreatedOrReused() {
    server.seedKey("acme", "local", "");
    CliRun first = silo("keys", "rotate", "acme", "--provider", "aws:eu", "--new-cmk", "--master-key",
        "{\"region\":\"eu-central-1\"}");
    assertThat(first.exitCode()).as(first.err()).isZero();
    String arn = "arn:aws:kms:eu-central-1:123456789012:key/cmk-acme";
    assertThat(first.out()).contains("provider local -> aws:eu",
        "Created the tenant's CMK " + arn + " (alias/silo/tenant-acme)");
    assertThat(((RotateTenantKeyRequest) server.keyRequests.get(0)).getNewCmk()).isTrue();

    CliRun again = silo("keys", "rotate", "acme", "--provider", "aws:eu", "--new-cmk", "--master-key",
        "{\"region\":\"eu-central-1\"}");
    assertThat(again.out()).contains("Reused the tenant's CMK " + arn);
  }

  @Test
  void rotateRetireOldCmkRetiresThePreviousAwsKeyAfterTheRotation() {
    server.seedKey("acme", "aws", AWS_KEY);
    CliRun run = silo("keys", "rotate", "acme", "--provider", "aws", "--new-cmk", "--retire-old-cmk",
        "--pending-window-days", "7");
    assertThat(run.exitCode()).as(run.err()).isZero();
    String old = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    assertThat(server.keyRequests).hasSize(2);
    assertThat(server.keyRequests.get(1)).isEqualTo(RetireMasterKeyRequest.newBuilder()
        .setMasterKey(MasterKey.newBuilder().setProvider("aws").setDescriptorJson(AWS_KEY))
        .setPendingWindowDays(7).setConfirm(old).build());
    assertThat(run.out()).contains("Scheduled the deletion of AWS KMS key " + old + " on 2026-11-08T00:00:00Z");
  }

  @Test
  void rotateRetireOldCmkReportsARefusalAfterTheRotationWithExitOne() {
    server.seedKey("acme", "aws", AWS_KEY);
    server.retireRefusal = "AWS KMS key arn:... still wraps 1 data key(s) (tenant-globex); rotate them first";
    CliRun run = silo("keys", "rotate", "acme", "--provider", "aws", "--new-cmk", "--retire-old-cmk");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.out()).startsWith("Rotated key ");
    assertThat(run.err()).isEqualTo("silo: FAILED_PRECONDITION: " + server.retireRefusal + "\n");
    assertThat(((RetireMasterKeyRequest) server.keyRequests.get(1)).getPendingWindowDays()).isEqualTo(30);
  }

  @Test
  void rotateRetireOldCmkFromALocalKeyHasNothingToRetire() {
    server.seedKey("acme", "local", "");
    CliRun run = silo("keys", "rotate", "acme", "--provider", "aws", "--new-cmk", "--retire-old-cmk");
    assertThat(run.exitCode()).isZero();
    assertThat(run.out()).contains("Nothing to retire: the previous master key was under provider local");
    assertThat(server.keyRequests).hasSize(1);
  }

  @Test
  void aPendingWindowOutsideSevenToThirtyDaysIsAUsageErrorAndNothingIsSent() {
    server.seedKey("acme", "aws", AWS_KEY);
    for (String days : List.of("6", "31")) {
      CliRun rotate = silo("keys", "rotate", "acme", "--provider", "aws", "--new-cmk", "--retire-old-cmk",
          "--pending-window-days", days);
      assertThat(rotate.exitCode()).isEqualTo(2);
      assertThat(rotate.err()).startsWith("silo: Invalid value for option '--pending-window-days': " + days
          + " is outside 7-30");
      CliRun retire = silo("keys", "retire-cmk", "--provider", "aws", "--master-key", AWS_KEY, "--confirm", "x",
          "--pending-window-days", days);
      assertThat(retire.exitCode()).isEqualTo(2);
    }
    assertThat(server.keyRequests).isEmpty();
  }

  @Test
  void retireCmkSendsTheKeyWindowAndConfirmationAndPrintsTheDeletionDate() throws Exception {
    String arn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    CliRun run = silo("keys", "retire-cmk", "--provider", "aws", "--master-key", AWS_KEY, "--confirm", arn);
    assertThat(run.exitCode()).as(run.err()).isZero();
    assertThat(run.out()).isEqualTo("Scheduled the deletion of AWS KMS key " + arn + " on 2026-12-01T00:00:00Z "
        + "(audit id 100; cancel it in AWS KMS before then to keep the key)\n");
    assertThat(server.keyRequests).containsExactly(RetireMasterKeyRequest.newBuilder()
        .setMasterKey(MasterKey.newBuilder().setProvider("aws").setDescriptorJson(AWS_KEY))
        .setPendingWindowDays(30).setConfirm(arn).build());

    CliRun json = silo("keys", "retire-cmk", "--provider", "aws", "--master-key", AWS_KEY, "--confirm", arn,
        "-o", "json");
    RetireMasterKeyResponse.Builder parsed = RetireMasterKeyResponse.newBuilder();
    JsonFormat.parser().merge(json.out(), parsed);
    assertThat(parsed.getAlreadyScheduled()).isTrue();
    assertThat(parsed.getKeyArn()).isEqualTo(arn);
  }

  @Test
  void retireCmkWithoutAKeyInTheMasterKeyIsAUsageError() {
    CliRun run = silo("keys", "retire-cmk", "--provider", "aws", "--master-key", "{\"region\":\"eu-west-1\"}",
        "--confirm", "x");
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err()).startsWith("silo: --master-key must name the key to retire");
    assertThat(server.keyRequests).isEmpty();
  }
}
