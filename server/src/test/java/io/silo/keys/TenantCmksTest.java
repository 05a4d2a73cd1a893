package io.silo.keys;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.silo.SiloException;
import io.silo.TestPostgres;
import io.silo.TestServer;
import io.silo.config.SiloConfig;
import io.silo.store.Database;
import io.silo.store.KeyAuditStore;
import io.silo.store.TenantCmkStore;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.WorkerExecutor;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.services.kms.model.KmsInternalException;

/**
 * Per-tenant CMKs against the KMS stub and a real PostgreSQL: one key per tenant whatever fails between CreateKey and
 * CreateAlias, whichever Silo instance calls, and however many call at once; keys under the alias that Silo did not
 * make are adopted (or refused when tagged for another tenant); a retired key is replaced and its alias re-pointed.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TenantCmksTest {

  private static final KmsRetry.Policy QUICK = new KmsRetry.Policy(Duration.ofMillis(10), Duration.ofMillis(50),
      Duration.ofSeconds(10), 2);

  @TempDir
  static Path dir;

  private Vertx vertx;
  private AwsKmsStub stub;
  private Database database;
  private KmsProviders providers;
  private WorkerExecutor workers;
  private final List<AwsKms> clients = new ArrayList<>();
  private AwsLocation useast;

  @BeforeAll
  void start() throws Exception {
    vertx = Vertx.vertx();
    stub = new AwsKmsStub(vertx).start();
    Path ca = stub.writeCaPem(dir.resolve("kms-pki"));
    Map<String, Object> settings = new HashMap<>(TestPostgres.freshDatabase());
    settings.putAll(KmsTestSupport.awsSettings(stub, ca));
    settings.put("kms.local.keyBase64", TestServer.LOCAL_KEY_BASE64);
    SiloConfig config = SiloConfig.of(settings);
    database = Database.open(vertx, config).await(60, TimeUnit.SECONDS);
    providers = KmsProviders.from(config);
    workers = vertx.createSharedWorkerExecutor("cmk-test", 4);
    useast = new AwsLocation("aws", "us-east-1", Optional.of(AwsEndpoint.parse(stub.endpoint())));
  }

  @AfterAll
  void stop() throws Exception {
    clients.forEach(AwsKms::close);
    if (database != null) database.close();
    if (stub != null) stub.close();
    vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  /** A TenantCmks as one Silo instance holds it; a second call gives another instance over the same database. */
  private TenantCmks instance() {
    AwsKms kms = new AwsKms(vertx, workers, providers, KmsBudgets.uniform(vertx, null, 1000), QUICK);
    clients.add(kms);
    KeyAuditStore audit = new KeyAuditStore(database.pool(), database.tables());
    return new TenantCmks(kms, new TenantCmkStore(database.pool(), database.tables()), audit);
  }

  /** The future's result, or its failure itself (not wrapped), so tests can assert on the exception Silo made. */
  private <T> T await(Future<T> future) throws Exception {
    try {
      return future.toCompletionStage().toCompletableFuture().get(120, TimeUnit.SECONDS);
    } catch (java.util.concurrent.ExecutionException e) {
      throw e.getCause() instanceof Exception cause ? cause : e;
    }
  }

  private long audited(String tenant, String action) throws Exception {
    return await(database.pool().preparedQuery("SELECT count(*) FROM silo.key_audit WHERE tenant_slug = $1 "
        + "AND action = $2 AND outcome = 'OK'").execute(io.vertx.sqlclient.Tuple.of(tenant, action))
        .map(rows -> rows.iterator().next().getLong(0)));
  }

  @Test
  void anSseKmsBucketsTenantKeyIsCreatedOnlyWhenAllowedAndEveryKeyIsPreflighted() throws Exception {
    TenantCmks cmks = instance();
    AwsKms kms = clients.get(clients.size() - 1);
    TenantKeys.Aws aws = new TenantKeys.Aws(new AwsKmsPreflight(kms), cmks, kms);

    SiloException missing = (SiloException) catchThrowable(() -> await(aws.bucketKey("sse-co", 7, "tenant",
        "us-east-1", false)));
    assertThat(missing.kind()).isEqualTo(SiloException.Kind.FAILED_PRECONDITION);
    assertThat(missing.getMessage()).contains("tenant 'sse-co' has no CMK", TenantCmks.alias("sse-co"));
    assertThat(stub.keysTagged(TenantCmks.TENANT_TAG, "sse-co")).as("looking up creates nothing").isEmpty();

    String arn = await(aws.bucketKey("sse-co", 7, "tenant", "us-east-1", true));
    assertThat(stub.keysTagged(TenantCmks.TENANT_TAG, "sse-co")).containsExactly(arn);
    assertThat(await(aws.bucketKey("sse-co", 7, "tenant", "us-east-1", false))).isEqualTo(arn);

    String disabled = stub.putKey("us-east-1", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "Disabled");
    SiloException refused = (SiloException) catchThrowable(() -> await(aws.bucketKey("sse-co", 7, disabled,
        "us-east-1", true)));
    assertThat(refused.kind()).isEqualTo(SiloException.Kind.FAILED_PRECONDITION);
    assertThat(refused.getMessage()).contains(disabled);
  }

  @Test
  void aCrashBetweenCreateKeyAndCreateAliasLeavesOneKeyThatTheRestartedSiloAdopts() throws Exception {
    TenantCmks crashing = instance();
    crashing.interruptAfterCreateKey((tenant, arn) -> Future.failedFuture(new IllegalStateException("crash")));
    assertThat(catchThrowable(() -> await(crashing.ensure("crash-co", 1, useast, "test"))))
        .hasMessage("crash");
    List<String> made = stub.keysTagged(TenantCmks.TENANT_TAG, "crash-co");
    assertThat(made).hasSize(1);
    assertThat(stub.aliasTarget("us-east-1", TenantCmks.alias("crash-co"))).isNull();

    long creates = stub.requests("TrentService.CreateKey");
    TenantCmks.Cmk cmk = await(instance().ensure("crash-co", 1, useast, "test"));
    assertThat(cmk.arn()).isEqualTo(made.get(0));
    assertThat(cmk.outcome()).isEqualTo(TenantCmks.Outcome.CREATED);
    assertThat(stub.requests("TrentService.CreateKey")).as("no second CreateKey").isEqualTo(creates);
    assertThat(stub.aliasTarget("us-east-1", TenantCmks.alias("crash-co"))).isEqualTo(cmk.arn());
    assertThat(stub.keysTagged(TenantCmks.TENANT_TAG, "crash-co")).containsExactly(cmk.arn());
    assertThat(audited("crash-co", "CMK_CREATE")).isEqualTo(1);
  }

  @Test
  void aCreateAliasTheKmsFailedIsFinishedByTheNextCallWithTheSameKey() throws Exception {
    TenantCmks cmks = instance();
    stub.failNextCreateAlias(1);
    assertThat(catchThrowable(() -> await(cmks.ensure("alias-fail-co", 2, useast, "test"))))
        .isInstanceOf(KmsInternalException.class);
    TenantCmks.Cmk cmk = await(cmks.ensure("alias-fail-co", 2, useast, "test"));
    assertThat(stub.keysTagged(TenantCmks.TENANT_TAG, "alias-fail-co")).containsExactly(cmk.arn());
    assertThat(stub.aliasTarget("us-east-1", TenantCmks.alias("alias-fail-co"))).isEqualTo(cmk.arn());
  }

  @Test
  void aCreateKeyWhoseAnswerWasLostIsFoundByItsProvisioningTagAmongPagesOfKeysNotCreatedAgain() throws Exception {
    // More keys than one ListKeys page.
    for (int i = 0; i < 1010; i++) {
      stub.putKey("us-east-1", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "Enabled");
    }
    TenantCmks cmks = instance();
    // The stub lists a new key at once; AWS takes a while, which the default wait allows for.
    cmks.listSettleSeconds(0.2);
    long creates = stub.requests("TrentService.CreateKey");
    long listKeys = stub.requests("TrentService.ListKeys");
    stub.loseNextCreateKeyAnswers(1);

    TenantCmks.Cmk cmk = await(cmks.ensure("lost-co", 3, useast, "test"));

    assertThat(stub.keysTagged(TenantCmks.TENANT_TAG, "lost-co")).containsExactly(cmk.arn());
    assertThat(stub.requests("TrentService.CreateKey") - creates).as("only the CreateKey whose answer was lost")
        .isEqualTo(1);
    assertThat(stub.requests("TrentService.ListKeys") - listKeys).as("ListKeys pages").isEqualTo(2);
    assertThat(stub.aliasTarget("us-east-1", TenantCmks.alias("lost-co"))).isEqualTo(cmk.arn());
  }

  @Test
  void aCallAfterAnInstanceDiedAwaitingALostCreateKeyWaitsUntilAwsListsTheKeyThenAdoptsIt() throws Exception {
    // What an instance leaves when it dies waiting after a CreateKey whose answer was lost: a CREATING record with
    // the time the CreateKey left and no ARN, and in AWS a key tagged with the record's provisioning id.
    UUID provisioning = UUID.randomUUID();
    await(database.pool().preparedQuery("INSERT INTO silo.tenant_cmks (provider, region, tenant_slug, alias, "
        + "provisioning_id, state, create_sent_at) VALUES ('aws', 'us-east-1', 'settle-co', $1, $2, 'CREATING', now())")
        .execute(io.vertx.sqlclient.Tuple.of(TenantCmks.alias("settle-co"), provisioning)));
    String made = stub.putKey("us-east-1", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "Enabled");
    stub.tag(made, TenantCmks.TENANT_TAG, "settle-co");
    stub.tag(made, TenantCmks.PROVISIONING_TAG, provisioning.toString());
    long creates = stub.requests("TrentService.CreateKey");

    Throwable tooSoon = catchThrowable(() -> await(instance().ensure("settle-co", 8, useast, "test")));
    assertThat(tooSoon).isInstanceOf(SiloException.class).hasMessageContaining("lists new keys with a delay");
    assertThat(((SiloException) tooSoon).kind()).isEqualTo(SiloException.Kind.UNAVAILABLE);

    TenantCmks later = instance();
    later.listSettleSeconds(0);
    TenantCmks.Cmk cmk = await(later.ensure("settle-co", 8, useast, "test"));
    assertThat(cmk.arn()).isEqualTo(made);
    assertThat(cmk.outcome()).isEqualTo(TenantCmks.Outcome.CREATED);
    assertThat(stub.requests("TrentService.CreateKey")).as("no CreateKey").isEqualTo(creates);
  }

  @Test
  void concurrentCallsFromTwoSiloInstancesLeaveOneKey() throws Exception {
    List<Future<TenantCmks.Cmk>> calls = new ArrayList<>();
    TenantCmks a = instance();
    TenantCmks b = instance();
    for (int i = 0; i < 4; i++) {
      calls.add(a.ensure("race-co", 4, useast, "a"));
      calls.add(b.ensure("race-co", 4, useast, "b"));
    }
    await(Future.join(calls).otherwiseEmpty());
    List<String> arns = new ArrayList<>();
    for (Future<TenantCmks.Cmk> call : calls) {
      if (call.succeeded()) {
        arns.add(call.result().arn());
      } else {
        // The instance that lost the claim says so instead of making a second key.
        assertThat(call.cause()).isInstanceOf(SiloException.class);
        assertThat(((SiloException) call.cause()).kind()).isEqualTo(SiloException.Kind.ABORTED);
      }
    }
    assertThat(arns).isNotEmpty();
    assertThat(arns).containsOnly(arns.get(0));
    assertThat(stub.keysTagged(TenantCmks.TENANT_TAG, "race-co")).containsExactly(arns.get(0));
    assertThat(await(a.ensure("race-co", 4, useast, "a")).arn()).isEqualTo(arns.get(0));
  }

  @Test
  void aKeySiloDidNotMakeUnderTheAliasIsAdoptedAndTaggedButNotOneTaggedForAnotherTenant() throws Exception {
    String theirs = stub.putKey("us-east-1", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "Enabled");
    stub.putAlias("us-east-1", TenantCmks.alias("adopt-co"), theirs);
    TenantCmks cmks = instance();
    TenantCmks.Cmk adopted = await(cmks.ensure("adopt-co", 5, useast, "test"));
    assertThat(adopted.arn()).isEqualTo(theirs);
    assertThat(adopted.outcome()).isEqualTo(TenantCmks.Outcome.ADOPTED);
    assertThat(stub.tags(theirs)).containsEntry(TenantCmks.TENANT_TAG, "adopt-co").containsEntry("CostCentre", "adopt-co");
    assertThat(await(cmks.ensure("adopt-co", 5, useast, "test")).outcome()).isEqualTo(TenantCmks.Outcome.EXISTING);
    assertThat(audited("adopt-co", "CMK_ADOPT")).isEqualTo(1);

    stub.putAlias("us-east-1", TenantCmks.alias("wrong-co"), theirs);
    Throwable refused = catchThrowable(() -> await(cmks.ensure("wrong-co", 6, useast, "test")));
    assertThat(refused).isInstanceOf(SiloException.class).hasMessageContaining("tagged silo:tenant=adopt-co");
    assertThat(((SiloException) refused).kind()).isEqualTo(SiloException.Kind.FAILED_PRECONDITION);
  }

  @Test
  void aRetiredCmkIsReplacedByANewKeyAndTheAliasIsRepointed() throws Exception {
    TenantCmks cmks = instance();
    TenantCmks.Cmk first = await(cmks.ensure("retire-co", 7, useast, "test"));
    TenantCmks.Retired retired = await(cmks.retire(useast, first.alias(), 7, arn -> Future.succeededFuture(List.of()),
        "test"));
    assertThat(retired.arn()).isEqualTo(first.arn());
    assertThat(stub.state(first.arn())).isEqualTo("PendingDeletion");

    long updates = stub.requests("TrentService.UpdateAlias");
    TenantCmks.Cmk second = await(cmks.ensure("retire-co", 7, useast, "test"));
    assertThat(second.arn()).isNotEqualTo(first.arn());
    assertThat(second.outcome()).isEqualTo(TenantCmks.Outcome.CREATED);
    assertThat(stub.requests("TrentService.UpdateAlias") - updates).isEqualTo(1);
    assertThat(stub.aliasTarget("us-east-1", TenantCmks.alias("retire-co"))).isEqualTo(second.arn());
  }
}
