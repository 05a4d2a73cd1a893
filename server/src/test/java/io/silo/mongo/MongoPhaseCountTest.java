package io.silo.mongo;

import static org.assertj.core.api.Assertions.assertThat;

import com.mongodb.ClientEncryptionSettings;
import com.mongodb.client.MongoClient;
import com.mongodb.client.model.vault.DataKeyOptions;
import com.mongodb.client.vault.ClientEncryption;
import com.mongodb.client.vault.ClientEncryptions;
import io.silo.dev.mongo.DevMongoServer;
import io.silo.jobs.BasicRunContext;
import io.silo.jobs.MigrationFixture;
import io.silo.jobs.Phase;
import io.silo.jobs.PhaseName;
import io.silo.jobs.TenantKey;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.sqlclient.SqlConnection;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * The MONGO phase starts copying without waiting for the tenant's count: with the recording of the total held back,
 * every batch is still copied and committed; the phase completes only once the total (the right count) is recorded.
 */
class MongoPhaseCountTest {

  private static final String TENANT = "count-co";
  private static final int DOCUMENTS = 1_000;

  /** The runner's side, recording what the phase did; {@link #total} answers only when the test releases it. */
  private static final class Recording extends BasicRunContext {
    final List<Batch> commits = new CopyOnWriteArrayList<>();
    final CompletableFuture<Long> totalAsked = new CompletableFuture<>();
    final Promise<Void> totalRecorded = Promise.promise();
    volatile String detail;

    Recording(EncryptionPlan plan, Context context, UUID keyId) {
      super(UUID.randomUUID(), TENANT, PhaseName.MONGO, new MongoSpec(plan), context, null);
      this.key = new TenantKey(keyId, "local", () -> Future.succeededFuture(), () -> { }, () -> { });
    }

    long done() {
      return commits.stream().mapToLong(Batch::done).sum();
    }

    @Override
    public Future<Boolean> targetMayHoldTenant(String target) {
      return Future.succeededFuture(false);
    }

    @Override
    public Future<Void> total(long items, long bytes) {
      totalAsked.complete(items);
      return totalRecorded.future();
    }

    @Override
    public Future<Void> detail(String text) {
      detail = text;
      return Future.succeededFuture();
    }

    @Override
    public Future<Boolean> commit(Batch batch, Function<SqlConnection, Future<Void>> alsoInTransaction) {
      commits.add(batch);
      return Future.succeededFuture(true);
    }

    @Override
    public boolean stopRequested() {
      return false;
    }
  }

  @Test
  void everyBatchIsCommittedWhileTheTotalIsStillBeingRecordedAndThePhaseEndsOnceItIs() throws Exception {
    Vertx vertx = Vertx.vertx();
    byte[] master = new byte[CsfleCipher.KEY_LENGTH];
    new SecureRandom().nextBytes(master);
    CryptLibrary.ensureBundledLibrary();
    try (DevMongoServer dev = DevMongoServer.start(null, "127.0.0.1", 0);
         MongoClient sync = MongoClientFactory.sync(dev.connectionString())) {
      Supplier<ClientEncryption> newEncryption = () -> ClientEncryptions.create(ClientEncryptionSettings.builder()
          .keyVaultMongoClientSettings(MongoClientFactory.settings(dev.connectionString()))
          .keyVaultNamespace("encryption.__keyVault").kmsProviders(Map.of("local", Map.of("key", master))).build());
      try (ClientEncryption encryption = newEncryption.get();
           MigrationMongo mongo = new MigrationMongo(vertx, dev.connectionString(), newEncryption, 2, 4, null)) {
        UUID keyId = encryption.createDataKey("local", new DataKeyOptions()).asUuid();
        MigrationFixture.seed(sync, "legacy.patients", DOCUMENTS, TENANT);
        EncryptionPlan plan = new EncryptionPlan(new EncryptionPlan.Namespace("legacy", "patients"),
            new EncryptionPlan.Namespace("medical", "patients"), "tenantId",
            List.of(FieldRule.parse("ssn:DETERMINISTIC:string")), 100);
        MongoPhase phase = new MongoPhase(vertx, mongo, sync, encryption,
            vertx.createSharedWorkerExecutor("count-test"), slug -> Future.succeededFuture("local"));
        Context context = vertx.getOrCreateContext();
        Recording run = new Recording(plan, context, keyId);
        CompletableFuture<Phase.Outcome> outcome = new CompletableFuture<>();
        context.runOnContext(v -> phase.run(run).onComplete(r -> {
          if (r.succeeded()) {
            outcome.complete(r.result());
          } else {
            outcome.completeExceptionally(r.cause());
          }
        }));

        assertThat(run.totalAsked.get(30, TimeUnit.SECONDS)).as("the count").isEqualTo(DOCUMENTS);
        MigrationFixture.awaitTrue(Duration.ofSeconds(60), "every batch committed", () -> run.done() == DOCUMENTS);
        assertThat(run.commits).hasSize(DOCUMENTS / 100);
        Thread.sleep(200);
        assertThat(outcome).as("the phase waits for its total").isNotDone();

        context.runOnContext(v -> run.totalRecorded.complete());
        assertThat(outcome.get(30, TimeUnit.SECONDS)).isEqualTo(Phase.Outcome.COMPLETE);
        assertThat(MigrationFixture.count(sync, "medical.patients", TENANT)).isEqualTo(DOCUMENTS);
        assertThat(run.detail).isEqualTo("values encrypted by libmongocrypt (migration.encryptionPath=libmongocrypt)");
      }
    } finally {
      vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }
}
