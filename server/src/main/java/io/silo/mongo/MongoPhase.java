package io.silo.mongo;

import com.mongodb.client.MongoClient;
import com.mongodb.client.vault.ClientEncryption;
import io.silo.SiloException;
import io.silo.jobs.Finding;
import io.silo.jobs.JobDefinition;
import io.silo.jobs.Phase;
import io.silo.jobs.PhaseName;
import io.silo.jobs.PhaseSpec;
import io.silo.jobs.RunContext;
import io.silo.jobs.TenantKey;
import io.silo.jobs.TenantScope;
import io.silo.keys.TenantKeys;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.WorkerExecutor;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.SortedSet;
import java.util.concurrent.CancellationException;
import java.util.function.Function;
import org.bson.BsonValue;

/**
 * The MONGO phase: copies a tenant's plaintext documents into the CSFLE-encrypted target under the tenant's key,
 * re-syncs a target that already holds the tenant, and verifies, rolls back and purges per document.
 */
public final class MongoPhase implements Phase {

  /** Unplanned top-level fields sampled per tenant by a plan. */
  private static final int PLAN_SAMPLE = 200;

  /**
   * A tenant's Mongo plan: documents, the plan itself, the unplanned fields a sample of documents has, and the
   * encryption path the run would take (see {@link JavaEncryption#describe}).
   */
  public record Plan(long documents, EncryptionPlan plan, SortedSet<String> unplannedFields, String encryptionPath) {
  }

  private final Vertx vertx;
  private final MigrationMongo mongo;
  private final MongoClient syncMongo;
  private final ClientEncryption encryption;
  private final WorkerExecutor blocking;
  private final Function<String, Future<String>> keyProvider;

  /**
   * @param keyProvider the KMS provider of a tenant's data key, or of the key the run would create: it decides the
   *                    encryption path a plan names
   */
  public MongoPhase(Vertx vertx, MigrationMongo mongo, MongoClient syncMongo, ClientEncryption encryption,
                    WorkerExecutor blocking, Function<String, Future<String>> keyProvider) {
    this.vertx = vertx;
    this.mongo = mongo;
    this.syncMongo = syncMongo;
    this.encryption = encryption;
    this.blocking = blocking;
    this.keyProvider = keyProvider;
  }

  @Override
  public PhaseName name() {
    return PhaseName.MONGO;
  }

  @Override
  public PhaseSpec parse(JsonObject json) {
    return MongoSpec.fromJson(json);
  }

  private static EncryptionPlan planOf(JobDefinition definition) {
    return definition.part(PhaseName.MONGO, MongoSpec.class).plan();
  }

  /** The source collection must exist: a misspelt namespace would otherwise "migrate" nothing, cleanly. */
  @Override
  public Future<Void> check(JobDefinition definition, String fieldPrefix) {
    EncryptionPlan plan = planOf(definition);
    return vertx.executeBlocking(() -> {
      for (String name : syncMongo.getDatabase(plan.source().database()).listCollectionNames()) {
        if (name.equals(plan.source().collection())) {
          return null;
        }
      }
      throw SiloException.precondition(fieldPrefix + "source_namespace: source collection " + plan.source()
          + " does not exist");
    }, false);
  }

  @Override
  public Future<Estimate> plan(String tenant, JobDefinition definition) {
    EncryptionPlan plan = planOf(definition);
    return mongo.countSource(plan, tenant).compose(count -> mongo.unplannedFieldNames(plan, tenant, PLAN_SAMPLE)
        .compose(unplanned -> keyProvider.apply(tenant).map(provider -> {
          String path = mongo.encryptionPaths().describe(provider);
          return new Estimate(PhaseName.MONGO, count, 0, plan.target().toString(), List.of("encryption: " + path),
              new Plan(count, plan, unplanned, path));
        })));
  }

  @Override
  public Future<Outcome> run(RunContext run) {
    EncryptionPlan plan = run.spec(MongoSpec.class).plan();
    TenantKey key = run.key();
    Future<Boolean> mayOverlap = run.targetMayHoldTenant(plan.target().toString());
    // Status names the path this run's values take (from the bound key's provider), before the first batch.
    return run.detail("values encrypted by " + mongo.encryptionPaths().describe(key.provider()))
        .compose(v -> mongo.prepareTarget(plan))
        .compose(v -> mayOverlap)
        .compose(overlap -> {
          // The copy does not wait for the tenant's count (on a collection without a tenant index, a scan as long as
          // the copy's own): status shows done/? until the count is recorded, and the phase ends only after that.
          Future<Void> counted = countInBackground(run, plan);
          BsonValue after = run.checkpoint() == null ? null : SourceIds.decode(run.checkpoint());
          MongoCopyPipeline pipeline = mongo.pipeline(plan, run.context(), key.kmsPermit(), key.onThrottled(),
              key.onSuccess());
          return pipeline.run(run.tenant(), TenantKeys.uuidBinary(key.keyId()), after, overlap,
                  batch -> run.commit(toBatch(batch)))
              .compose(outcome -> {
                if (outcome != MongoCopyPipeline.Outcome.SOURCE_EXHAUSTED) {
                  // A pause is not held up by the count; one that did not land by then is taken again on resume.
                  return Future.succeededFuture(Outcome.STOPPED);
                }
                return counted.compose(v -> overlap ? resync(run, plan) : Future.succeededFuture(Outcome.COMPLETE));
              });
        });
  }

  /**
   * Counts the tenant's source documents and records the phase's total, unless an earlier run of the phase did.
   * The runner applies the total in order with the batches' checkpoints, so the two never overwrite each other.
   */
  private Future<Void> countInBackground(RunContext run, EncryptionPlan plan) {
    if (run.checkpoint() != null && run.totalRecorded()) {
      return Future.succeededFuture();
    }
    return mongo.countSource(plan, run.tenant()).compose(total -> run.total(total, 0));
  }

  private static RunContext.Batch toBatch(MongoCopyPipeline.BatchResult batch) {
    List<RunContext.ItemFailure> failures = new ArrayList<>();
    for (MongoCopyPipeline.ItemFailure f : batch.failures()) {
      failures.add(new RunContext.ItemFailure(SourceIds.display(f.id()), null, null, f.code(), null, f.message()));
    }
    return new RunContext.Batch(SourceIds.encode(batch.lastId()), batch.copied() + batch.alreadyPresent(),
        batch.bytes(), failures, List.copyOf(batch.plaintextFields()), batch.alreadyPresent());
  }

  /**
   * After copying into a target that may already hold the tenant (a re-run or a resumed run): re-encrypts what
   * changed in the source since, removes what was deleted there, and records what it did as the run's notice.
   */
  private Future<Outcome> resync(RunContext run, EncryptionPlan plan) {
    return run.exclusive(() -> run.sourcePurgedAt(plan.source().toString()).compose(purgedAt ->
            blocking.executeBlocking(() -> new TenantReconciler(syncMongo, encryption, plan)
                .resync(run.tenant(), run.key().keyId(), purgedAt.isPresent(), run::stopRequested), false)
                .compose(r -> {
                  String notice = notice(r, purgedAt.orElse(null));
                  return notice.isEmpty() ? Future.succeededFuture(Outcome.COMPLETE)
                      : run.notice(notice).map(Outcome.COMPLETE);
                })))
        .recover(failure -> failure instanceof CancellationException && run.stopRequested()
            ? Future.succeededFuture(Outcome.STOPPED) : Future.failedFuture(failure));
  }

  private static String notice(TenantReconciler.ResyncResult r, String purgedAt) {
    StringBuilder notice = new StringBuilder();
    if (r.inserted() + r.replaced() + r.deleted() > 0) {
      notice.append("re-sync: ").append(r.inserted()).append(" inserted, ").append(r.replaced())
          .append(" changed and re-encrypted, ").append(r.deleted()).append(" deleted from the target");
    }
    if (purgedAt != null) {
      notice.append(notice.length() > 0 ? "; " : "").append("the source was purged on ").append(purgedAt)
          .append(": ").append(r.keptWithoutSource()).append(" target document(s) without a source are the only"
              + " copies and were kept");
    }
    if (r.conflicts() > 0) {
      notice.append(notice.length() > 0 ? "; " : "").append(r.conflicts())
          .append(" _id(s) held by another tenant's document were left alone");
    }
    return notice.toString();
  }

  @Override
  public Future<Verified> verify(TenantScope scope) {
    EncryptionPlan plan = scope.spec(MongoSpec.class).plan();
    return blocking.executeBlocking(() -> {
      TenantVerifier.Summary summary = new TenantVerifier(syncMongo, encryption, mongo.cryptoPool(), plan)
          .sourcePurged(scope.sourcePurged())
          .verify(scope.tenant(), scope.keyId(), new TenantVerifier.Sink() {
            @Override
            public void finding(TenantVerifier.Finding f) {
              scope.sink().finding(new Finding(PhaseName.MONGO, f.kind().name(), f.sourceId(), f.field(),
                  f.message()));
            }

            @Override
            public void checked(long soFar) {
              scope.sink().checked(soFar);
            }
          });
      return new Verified(summary.checked(), summary.findings(), summary.unfit());
    }, false);
  }

  @Override
  public Future<Removed> rollback(TenantScope scope) {
    EncryptionPlan plan = scope.spec(MongoSpec.class).plan();
    return blocking.executeBlocking(() -> {
      TenantReconciler.RollbackResult r = new TenantReconciler(syncMongo, encryption, plan)
          .rollback(scope.tenant(), null);
      return new Removed(r.deleted(), r.keptWithoutSource());
    }, false);
  }

  @Override
  public Future<Removed> purge(TenantScope scope) {
    EncryptionPlan plan = scope.spec(MongoSpec.class).plan();
    return blocking.executeBlocking(() -> {
      TenantReconciler.PurgeResult r = new TenantReconciler(syncMongo, encryption, plan)
          .purge(scope.tenant(), scope.keyId(), null);
      return new Removed(r.deleted(), r.kept());
    }, false);
  }
}
