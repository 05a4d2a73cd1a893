package io.silo.jobs;

import com.mongodb.client.MongoClient;
import com.mongodb.client.vault.ClientEncryption;
import io.silo.SiloException;
import io.silo.keys.TenantKeys;
import io.silo.mongo.EncryptionPlan;
import io.silo.mongo.MigrationMongo;
import io.silo.mongo.TenantReconciler;
import io.silo.mongo.TenantVerifier;
import io.silo.store.TenantStore;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.WorkerExecutor;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.function.BooleanSupplier;
import java.util.function.LongConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The migration verbs behind the API: plan, start, pause, resume, cancel, verify, roll back and purge. Endpoints
 * validate requests and call these; everything here is checked again against the stores, so a call that cannot be
 * done fails before changing anything.
 */
public final class Migrations implements Collaborators.Verifier {

  private static final Logger LOG = LoggerFactory.getLogger(Migrations.class);
  /** Used for a plan's time estimate until this deployment has completed a migration to measure. */
  private static final double DEFAULT_DOCS_PER_SECOND = 2000;

  /** Per-tenant dry-run result. */
  public record TenantPlan(String tenant, long documents, EncryptionPlan plan, boolean keyExists, Duration estimate,
                           java.util.SortedSet<String> unplannedFields) {
  }

  /** Result of a rollback. */
  public record RolledBack(MigrationRecord migration, long documentsRemoved) {
  }

  /** Result of a purge. */
  public record Purged(long documentsDeleted, long documentsKept, long auditId) {
  }

  private final Vertx vertx;
  private final MigrationStore store;
  private final TenantStore tenants;
  private final TenantKeys keys;
  private final MigrationMongo mongo;
  private final MongoClient syncMongo;
  private final ClientEncryption encryption;
  private final WorkerExecutor blocking;
  private final ProgressBus bus;
  private final EncryptionPlan defaults;
  private MigrationEngine engine;

  public Migrations(Vertx vertx, MigrationStore store, TenantStore tenants, TenantKeys keys, MigrationMongo mongo,
                    MongoClient syncMongo, ClientEncryption encryption, WorkerExecutor blocking, ProgressBus bus,
                    EncryptionPlan defaults) {
    this.vertx = vertx;
    this.store = store;
    this.tenants = tenants;
    this.keys = keys;
    this.mongo = mongo;
    this.syncMongo = syncMongo;
    this.encryption = encryption;
    this.blocking = blocking;
    this.bus = bus;
    this.defaults = defaults;
  }

  /** The engine is built after this object (it uses it as its verifier); wire it before serving calls. */
  public void attach(MigrationEngine engine) {
    this.engine = engine;
  }

  public EncryptionPlan defaults() {
    return defaults;
  }

  public MigrationStore store() {
    return store;
  }

  public ProgressBus bus() {
    return bus;
  }

  /** Every registered tenant's slug, for "all tenants" requests. */
  public Future<List<String>> allTenants() {
    List<String> out = new ArrayList<>();
    return pageTenants("", out).map(x -> out);
  }

  private Future<Void> pageTenants(String after, List<String> out) {
    return tenants.listAfter(after, 500).compose(page -> {
      page.forEach(t -> out.add(t.slug()));
      return page.size() < 500 ? Future.succeededFuture() : pageTenants(page.get(page.size() - 1).slug(), out);
    });
  }

  /** Fails with NOT_FOUND naming {@code field} unless every tenant is registered; one query for the whole list. */
  public Future<Void> requireTenants(List<String> slugs, String field) {
    return tenants.existing(slugs).compose(found -> {
      for (int i = 0; i < slugs.size(); i++) {
        if (!found.contains(slugs.get(i))) {
          String name = slugs.size() == 1 && field.equals("tenant") ? field : field + "[" + i + "]";
          return Future.failedFuture(SiloException.notFound(name + ": tenant '" + slugs.get(i) + "' is not registered"));
        }
      }
      return Future.succeededFuture();
    });
  }

  /** Fails with FAILED_PRECONDITION naming the request field when the source collection does not exist. */
  public Future<Void> requireSource(EncryptionPlan plan, String field) {
    return vertx.executeBlocking(() -> {
      for (String name : syncMongo.getDatabase(plan.source().database()).listCollectionNames()) {
        if (name.equals(plan.source().collection())) {
          return null;
        }
      }
      throw SiloException.precondition(field + ": source collection " + plan.source() + " does not exist");
    }, false);
  }

  /** Dry run: counts, fields and key state per tenant; changes nothing. */
  public Future<List<TenantPlan>> plan(List<String> slugs, EncryptionPlan plan) {
    return estimateRate().compose(rate -> {
      List<Future<TenantPlan>> plans = new ArrayList<>();
      for (String slug : slugs) {
        plans.add(mongo.countSource(plan, slug).compose(count -> keys.find(slug)
            .compose(key -> mongo.unplannedFieldNames(plan, slug, 200).map(unplanned ->
                new TenantPlan(slug, count, plan, key.isPresent(),
                    Duration.ofMillis((long) Math.ceil(count / rate * 1000)), unplanned)))));
      }
      return Future.all(plans).map(all -> {
        List<TenantPlan> out = new ArrayList<>();
        for (int i = 0; i < plans.size(); i++) {
          out.add(all.resultAt(i));
        }
        return out;
      });
    });
  }

  /**
   * MONGO-phase docs/s of this deployment's most recent completed migrations (up to 10, weighted by size), or a
   * conservative default. Only the copy phase is timed; waiting and verification are not part of the rate.
   */
  private Future<Double> estimateRate() {
    return store.list(null, List.of("COMPLETED"), null, null, 10).map(rows -> {
      double docs = 0;
      double seconds = 0;
      for (MigrationRecord m : rows) {
        if (m.mongoStartedAt() != null && m.mongoEndedAt() != null && m.done() > 0) {
          docs += m.done();
          seconds += Math.max(0.001, Duration.between(m.mongoStartedAt(), m.mongoEndedAt()).toMillis() / 1000.0);
        }
      }
      return docs == 0 ? DEFAULT_DOCS_PER_SECOND : docs / seconds;
    });
  }

  /** Starts (or returns the active) migration of each tenant, in order. */
  public Future<List<MigrationStore.Started>> start(List<String> slugs, EncryptionPlan plan, String idempotencyKey,
                                                    String caller) {
    List<MigrationStore.Started> out = new ArrayList<>();
    // One tenant after the other, but iteratively: a compose chain per tenant overflowed the stack for long lists.
    Future<Void> chain = Sequentially.forEach(slugs, slug ->
        store.startOrGetActive(slug, Definitions.toJson(plan), idempotencyKey, caller).map(started -> {
          out.add(started);
          if (started.created()) {
            LOG.info("migration {} tenant={} started by {}", started.migration().id(), slug, caller);
            bus.publish(started.migration());
          }
          return null;
        }));
    return chain.map(v -> {
      engine.wake();
      return out;
    });
  }

  public Future<MigrationRecord> get(UUID id) {
    return store.get(id).compose(m -> m.isPresent() ? Future.succeededFuture(m.get())
        : Future.failedFuture(SiloException.notFound("migration_id: no migration " + id)));
  }

  /** Pause or cancel; when this instance runs the job, waits (bounded) until the runner has applied it. */
  public Future<MigrationRecord> request(UUID id, String what) {
    return store.request(id, what).compose(record -> {
      bus.publish(record);
      if (record.requested() == null) {
        return Future.succeededFuture(record);
      }
      return awaitSettled(id, System.currentTimeMillis() + 15_000);
    });
  }

  private Future<MigrationRecord> awaitSettled(UUID id, long deadline) {
    return store.get(id).compose(current -> {
      MigrationRecord m = current.orElseThrow();
      if (m.requested() == null || System.currentTimeMillis() > deadline) {
        return Future.succeededFuture(m);
      }
      return vertx.timer(100).compose(t -> awaitSettled(id, deadline));
    });
  }

  public Future<MigrationRecord> resume(UUID id) {
    return store.resume(id).map(record -> {
      bus.publish(record);
      engine.wake();
      return record;
    });
  }

  /**
   * Removes the tenant's copied documents from the migration's target and marks it ROLLED_BACK. Refused while it
   * runs, and refused once the tenant's source was ever purged: the target may then hold the only copy. Even so, only
   * target documents whose source document still exists are deleted.
   */
  public Future<RolledBack> rollback(String tenant, UUID migrationId, String caller) {
    Future<Optional<MigrationRecord>> which = migrationId == null ? store.latest(tenant) : store.get(migrationId);
    return which.compose(found -> {
      if (found.isEmpty()) {
        return Future.failedFuture(migrationId == null
            ? SiloException.notFound("tenant: tenant '" + tenant + "' has no migration to roll back")
            : SiloException.notFound("migration_id: no migration " + migrationId));
      }
      MigrationRecord m = found.get();
      if (!m.tenant().equals(tenant)) {
        return Future.failedFuture(SiloException.invalid("migration_id", "migration " + m.id()
            + " belongs to tenant '" + m.tenant() + "', not '" + tenant + "'"));
      }
      EncryptionPlan plan = Definitions.fromJson(m.definition());
      return store.withTenantLock(tenant, () -> store.get(m.id()).compose(current -> {
        MigrationRecord now = current.orElseThrow();
        if (now.state().equals("RUNNING") || now.state().equals("PLANNED")) {
          return Future.failedFuture(SiloException.precondition("migration " + m.id() + " is " + now.state()
              + "; pause or cancel it before rolling back"));
        }
        return store.lastPurge(tenant, plan.source().toString()).compose(purge -> {
          if (purge.isPresent()) {
            return Future.failedFuture(SiloException.precondition("the source of tenant '" + tenant + "' ("
                + plan.source() + ") was purged on " + purge.get().time() + " (audit #" + purge.get().auditId()
                + "); the target holds the only copy of those documents, so it cannot be rolled back"));
          }
          // Marked first, so the job cannot be resumed and write again while its documents are being removed.
          return store.markRolledBack(m.id()).compose(rolled -> store.auditStarted(tenant, "ROLLBACK", m.id(), null,
                  plan.target().toString(), caller)
              .compose(auditId -> blocking.executeBlocking(() -> new TenantReconciler(syncMongo, encryption, plan)
                      .rollback(tenant, null), false)
                  .recover(failure -> store.finishAudit(auditId, 0, MigrationRunner.safeMessage(failure))
                      .transform(x -> Future.failedFuture(failure)))
                  .compose(result -> store.finishAudit(auditId, result.deleted(), null).map(x -> {
                    bus.publish(rolled);
                    LOG.warn("migration {} tenant={} rolled back by {}: {} target documents removed, {} kept (no"
                        + " source document)", m.id(), tenant, caller, result.deleted(), result.keptWithoutSource());
                    return new RolledBack(rolled, result.deleted());
                  }))));
        });
      }));
    });
  }

  /**
   * Verifies a tenant for a caller and records the result with the definition it answered; only a clean one with the
   * migration's own definition can allow a purge.
   */
  public Future<TenantVerifier.Summary> verifyAndRecord(String tenant, EncryptionPlan plan, TenantVerifier.Sink sink,
                                                        String caller) {
    return verifyAndRecord(tenant, plan, sink, caller, true);
  }

  /** Like {@link #verifyAndRecord(String, EncryptionPlan, TenantVerifier.Sink, String)}, recording only if asked to. */
  public Future<TenantVerifier.Summary> verifyAndRecord(String tenant, EncryptionPlan plan, TenantVerifier.Sink sink,
                                                        String caller, boolean record) {
    Future<TenantVerifier.Summary> verified = store.lastPurge(tenant, plan.source().toString())
        .compose(purge -> keys.find(tenant)
        .compose(key -> blocking.executeBlocking(() ->
            new TenantVerifier(syncMongo, encryption, mongo.cryptoPool(), plan).sourcePurged(purge.isPresent())
                .verify(tenant, key.map(TenantKeys.KeyInfo::keyId).orElse(null), sink), false)));
    if (!record) {
      return verified;
    }
    return verified
        .compose(summary -> store.latest(tenant).compose(latest -> store.recordVerification(tenant,
                latest.map(MigrationRecord::id).orElse(null), Definitions.toJson(plan), summary.checked(),
                summary.findings(), caller))
            .map(id -> summary));
  }

  /** The VERIFY phase of a run: counts findings without streaming them. */
  @Override
  public Future<Collaborators.VerifyResult> verify(String tenant, UUID keyId, EncryptionPlan plan,
                                                   LongConsumer checked) {
    return store.lastPurge(tenant, plan.source().toString()).compose(purge -> blocking.executeBlocking(() -> {
      TenantVerifier.Summary summary = new TenantVerifier(syncMongo, encryption, mongo.cryptoPool(), plan)
          .sourcePurged(purge.isPresent())
          .verify(tenant, keyId, new TenantVerifier.Sink() {
            @Override
            public void finding(TenantVerifier.Finding finding) {
            }

            @Override
            public void checked(long soFar) {
              checked.accept(soFar);
            }
          });
      return new Collaborators.VerifyResult(summary.checked(), summary.findings(), summary.unfit());
    }, false));
  }

  @Override
  public Future<Collaborators.ResyncResult> resync(String tenant, UUID keyId, EncryptionPlan plan,
                                                   BooleanSupplier stop) {
    return store.withTenantLock(tenant, () -> store.lastPurge(tenant, plan.source().toString())
        .compose(purge -> blocking.executeBlocking(() -> {
          TenantReconciler.ResyncResult r = new TenantReconciler(syncMongo, encryption, plan)
              .resync(tenant, keyId, purge.isPresent(), stop);
          return new Collaborators.ResyncResult(r.inserted(), r.replaced(), r.deleted(), r.keptWithoutSource(),
              r.conflicts(), purge.map(p -> p.time() + " (audit #" + p.auditId() + ")").orElse(null));
        }, false)));
  }

  /**
   * Deletes the tenant's plaintext source documents after a clean verification of its completed migration, with
   * exactly that migration's definition. Each document is compared with its decrypted copy and deleted only while
   * still unchanged (compare and delete), so a document the application changed or added since is kept.
   */
  public Future<Purged> purge(String tenant, String confirm, String caller) {
    if (!tenant.equals(confirm)) {
      return Future.failedFuture(SiloException.precondition("confirm must equal the tenant slug '" + tenant
          + "' to purge its source documents"));
    }
    return store.withTenantLock(tenant, () -> store.latest(tenant).compose(latest -> {
      if (latest.isEmpty() || !latest.get().state().equals("COMPLETED")) {
        return Future.failedFuture(SiloException.precondition("tenant '" + tenant + "' has no COMPLETED migration"
            + latest.map(m -> " (latest is " + m.state() + ")").orElse("") + "; migrate and verify first"));
      }
      MigrationRecord m = latest.get();
      EncryptionPlan plan = Definitions.fromJson(m.definition());
      return store.latestVerification(tenant).compose(v -> {
        if (v.isEmpty() || !v.get().clean() || v.get().time().isBefore(m.createdAt())
            || !m.definition().equals(v.get().definition())) {
          String why = v.isEmpty() ? "" : !v.get().clean() ? " (the latest found " + v.get().findings()
              + " problem(s))" : !m.definition().equals(v.get().definition())
              ? " (the latest checked a different definition than the migration's)" : " (the latest is older)";
          return Future.failedFuture(SiloException.precondition("tenant '" + tenant + "' has no clean verification of "
              + "its latest migration" + why + "; run `silo verify " + tenant + "` first"));
        }
        return keys.find(tenant).compose(key -> {
          if (key.isEmpty() || !key.get().keyId().equals(m.keyId())) {
            return Future.failedFuture(SiloException.precondition("tenant '" + tenant + "': the data key "
                + m.keyId() + " its migration wrote with is " + key.map(k -> "no longer current (now "
                + k.keyId() + ")").orElse("gone") + "; nothing was purged"));
          }
          long verificationId = v.get().id();
          return store.auditStarted(tenant, "PURGE_SOURCE", m.id(), verificationId, plan.source().toString(), caller)
              .compose(auditId -> blocking.executeBlocking(() -> new TenantReconciler(syncMongo, encryption, plan)
                      .purge(tenant, m.keyId(), null), false)
                  .recover(failure -> store.finishAudit(auditId, 0, MigrationRunner.safeMessage(failure))
                      .transform(x -> Future.failedFuture(failure)))
                  .compose(result -> store.finishAudit(auditId, result.deleted(), null).map(x -> {
                    LOG.warn("source of tenant={} purged by {}: {} documents deleted, {} kept (changed since the"
                        + " copy or not in the target)", tenant, caller, result.deleted(), result.kept());
                    return new Purged(result.deleted(), result.kept(), auditId);
                  })));
        });
      });
    }));
  }
}
