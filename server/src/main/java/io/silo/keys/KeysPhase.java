package io.silo.keys;

import io.silo.jobs.JobDefinition;
import io.silo.jobs.Phase;
import io.silo.jobs.PhaseName;
import io.silo.jobs.PhaseSpec;
import io.silo.jobs.RunContext;
import io.silo.jobs.TenantKey;
import io.silo.jobs.TenantScope;
import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;
import java.util.List;

/**
 * The KEYS phase: makes sure the tenant's data key exists and binds the run to it, with the KMS budget of its master
 * key. It runs on every claim, so a resumed run re-checks that the key is still the one it started with. It copies
 * nothing, so verify, rollback and purge have nothing to do.
 */
public final class KeysPhase implements Phase {

  private final TenantKeys keys;

  public KeysPhase(TenantKeys keys) {
    this.keys = keys;
  }

  @Override
  public PhaseName name() {
    return PhaseName.KEYS;
  }

  @Override
  public boolean appliesTo(JobDefinition definition) {
    return true;
  }

  @Override
  public boolean rerunsOnResume() {
    return true;
  }

  @Override
  public PhaseSpec parse(JsonObject json) {
    throw new IllegalArgumentException("the KEYS phase takes no definition");
  }

  /** The estimate's detail is the tenant's current key id, or null when the run would create one. */
  @Override
  public Future<Estimate> plan(String tenant, JobDefinition definition) {
    return keys.find(tenant).map(found -> new Estimate(PhaseName.KEYS, found.isPresent() ? 0 : 1, 0,
        TenantKeys.altName(tenant), found.isPresent() ? List.of() : List.of("a data key will be created"),
        found.map(TenantKeys.KeyInfo::keyId).orElse(null)));
  }

  @Override
  public Future<Outcome> run(RunContext run) {
    return keys.ensure(run.tenant(), "migration " + run.migrationId()).compose(key -> {
      KmsBudget budget = keys.budgetFor(key);
      return run.bindKey(new TenantKey(key.keyId(), key.provider(), budget::acquire, budget::onThrottled,
          budget::onSuccess));
    }).map(Outcome.COMPLETE);
  }

  @Override
  public Future<Verified> verify(TenantScope scope) {
    return Future.succeededFuture(new Verified(0, 0, 0));
  }

  @Override
  public Future<Removed> rollback(TenantScope scope) {
    return Future.succeededFuture(new Removed(0, 0));
  }

  @Override
  public Future<Removed> purge(TenantScope scope) {
    return Future.succeededFuture(new Removed(0, 0));
  }
}
