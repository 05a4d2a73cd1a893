package io.silo.jobs;

import io.silo.SiloException;
import io.silo.store.TenantStore;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The migration verbs behind the API: plan, start, pause, resume, cancel, verify, roll back and purge, each looping
 * over the server's phases. Endpoints validate requests and call these; everything here is checked again against the
 * stores, so a call that cannot be done fails before changing anything.
 */
public final class Migrations {

  private static final Logger LOG = LoggerFactory.getLogger(Migrations.class);
  /** Items per second used for a plan's time estimate until this deployment has timed a phase. */
  private static final double DEFAULT_ITEMS_PER_SECOND = 2000;

  /** Per-tenant dry-run result: one estimate per phase the definition runs, and the time they should take. */
  public record TenantPlan(String tenant, List<Phase.Estimate> estimates, Duration estimate) {
    /** The estimate of {@code phase}, if the definition runs it. */
    public Optional<Phase.Estimate> of(PhaseName phase) {
      return estimates.stream().filter(e -> e.phase() == phase).findFirst();
    }
  }

  /** Result of a rollback: what each phase removed. */
  public record RolledBack(MigrationRecord migration, Map<PhaseName, Phase.Removed> removed) {
    public long removed(PhaseName phase) {
      Phase.Removed r = removed.get(phase);
      return r == null ? 0 : r.removed();
    }
  }

  /** Result of a purge: what each phase deleted and kept, and the first audit row. */
  public record Purged(Map<PhaseName, Phase.Removed> byPhase, long auditId) {
    public Phase.Removed of(PhaseName phase) {
      return byPhase.getOrDefault(phase, new Phase.Removed(0, 0));
    }
  }

  /** Result of a caller's verification over the selected phases. */
  public record Verification(long checked, long findings, long unfit, List<PhaseName> phases) {
    public boolean clean() {
      return findings == 0;
    }
  }

  private final Vertx vertx;
  private final MigrationStore store;
  private final TenantStore tenants;
  private final ProgressBus bus;
  private final Phases phases;
  private final JobDefinition defaults;
  private final Runnable wakeEngine;

  /**
   * @param wakeEngine tells the engine to look for work now (after a start or resume) instead of at its next poll
   */
  public Migrations(Vertx vertx, MigrationStore store, TenantStore tenants, ProgressBus bus, Phases phases,
                    JobDefinition defaults, Runnable wakeEngine) {
    this.vertx = vertx;
    this.store = store;
    this.tenants = tenants;
    this.bus = bus;
    this.phases = phases;
    this.defaults = defaults;
    this.wakeEngine = wakeEngine;
  }

  /** The deployment's default definition (from configuration). */
  public JobDefinition defaults() {
    return defaults;
  }

  public Phases phases() {
    return phases;
  }

  public MigrationStore store() {
    return store;
  }

  public ProgressBus bus() {
    return bus;
  }

  /** Parses a stored definition with this server's phases. */
  public JobDefinition definitionOf(MigrationRecord migration) {
    return phases.parse(migration.definition());
  }

  /** Every registered tenant not yet isolated, for "all tenants" requests (an isolated tenant has nothing to move). */
  public Future<List<String>> allTenants() {
    List<String> out = new ArrayList<>();
    return pageTenants("", out).map(x -> out);
  }

  private Future<Void> pageTenants(String after, List<String> out) {
    return tenants.listAfter(after, 500).compose(page -> {
      page.stream().filter(t -> !"ISOLATED".equals(t.status())).forEach(t -> out.add(t.slug()));
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

  /** Checks the definition against the live systems (each phase's preconditions); changes nothing. */
  public Future<Void> check(JobDefinition definition, String fieldPrefix) {
    return Sequentially.forEach(phases.applicable(definition), p -> p.check(definition, fieldPrefix));
  }

  /** Dry run: each phase's counts and target per tenant; changes nothing. */
  public Future<List<TenantPlan>> plan(List<String> slugs, JobDefinition definition) {
    List<Phase> applicable = phases.applicable(definition);
    return phaseRates().compose(rates -> {
      List<TenantPlan> out = new ArrayList<>();
      return Sequentially.forEach(slugs, slug -> {
        List<Phase.Estimate> estimates = new ArrayList<>();
        return Sequentially.forEach(applicable, p -> p.plan(slug, definition).map(estimates::add)).map(v -> {
          double seconds = 0;
          for (Phase.Estimate e : estimates) {
            seconds += e.items() / rates.getOrDefault(e.phase(), DEFAULT_ITEMS_PER_SECOND);
          }
          out.add(new TenantPlan(slug, List.copyOf(estimates), Duration.ofMillis((long) Math.ceil(seconds * 1000))));
          return null;
        });
      }).map(v -> out);
    });
  }

  /**
   * Items per second of each phase over this deployment's recent completed migrations, weighted by size. Only a
   * phase's own time counts: waiting and verification are not part of its rate.
   */
  private Future<Map<PhaseName, Double>> phaseRates() {
    return store.list(null, List.of("COMPLETED"), null, null, 10).map(rows -> {
      Map<PhaseName, double[]> sums = new EnumMap<>(PhaseName.class);
      for (MigrationRecord m : rows) {
        for (PhaseProgress p : m.phases()) {
          if (p.startedAt() != null && p.endedAt() != null && p.done() > 0) {
            double[] s = sums.computeIfAbsent(p.phase(), k -> new double[2]);
            s[0] += p.done();
            s[1] += Math.max(0.001, Duration.between(p.startedAt(), p.endedAt()).toMillis() / 1000.0);
          }
        }
      }
      Map<PhaseName, Double> rates = new EnumMap<>(PhaseName.class);
      sums.forEach((phase, s) -> rates.put(phase, s[0] / s[1]));
      return rates;
    });
  }

  /** Starts (or returns the active) migration of each tenant, in order. */
  public Future<List<MigrationStore.Started>> start(List<String> slugs, JobDefinition definition,
                                                    String idempotencyKey, String caller) {
    List<MigrationStore.Started> out = new ArrayList<>();
    // One tenant after the other, but iteratively: a compose chain per tenant overflowed the stack for long lists.
    Future<Void> chain = Sequentially.forEach(slugs, slug ->
        store.startOrGetActive(slug, definition.toJson(), idempotencyKey, caller).map(started -> {
          out.add(started);
          if (started.created()) {
            LOG.info("migration {} tenant={} started by {}", started.migration().id(), slug, caller);
            bus.publish(started.migration());
          }
          return null;
        }));
    return chain.map(v -> {
      wakeEngine.run();
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
      wakeEngine.run();
      return record;
    });
  }

  /** When the tenant's source of {@code spec} was last purged, as text with its audit id. */
  private Future<Optional<String>> purgedAt(String tenant, PhaseSpec spec) {
    return spec == null ? Future.succeededFuture(Optional.empty()) : store.lastPurge(tenant, spec.source())
        .map(p -> p.map(purge -> purge.time() + " (audit #" + purge.auditId() + ")"));
  }

  /**
   * Removes the tenant's copies made by the migration, phase by phase in reverse order, and marks it ROLLED_BACK.
   * Refused while it runs, and refused once the source of any of its phases was ever purged: the target may then
   * hold the only copy. Even so, each phase deletes only copies whose source item still exists.
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
      JobDefinition definition = phases.parse(m.definition());
      List<Phase> reversed = new ArrayList<>(phases.applicable(definition));
      java.util.Collections.reverse(reversed);
      return store.withTenantLock(tenant, () -> store.get(m.id()).compose(current -> {
        MigrationRecord now = current.orElseThrow();
        if (now.state().equals("RUNNING") || now.state().equals("PLANNED")) {
          return Future.failedFuture(SiloException.precondition("migration " + m.id() + " is " + now.state()
              + "; pause or cancel it before rolling back"));
        }
        return refuseIfPurged(tenant, definition, reversed).compose(v -> store.markRolledBack(m.id()))
            // Marked first, so the job cannot be resumed and write again while its copies are being removed.
            .compose(rolled -> {
              Map<PhaseName, Phase.Removed> removed = new EnumMap<>(PhaseName.class);
              return Sequentially.forEach(reversed, phase -> {
                PhaseSpec spec = definition.part(phase.name()).orElse(null);
                if (spec == null) {
                  return Future.succeededFuture(); // a phase without data of its own (KEYS): nothing to remove
                }
                TenantScope scope = new TenantScope(tenant, m.id(), spec, m.keyId(), null,
                    TenantScope.FindingSink.NONE, () -> false);
                return audited(tenant, "ROLLBACK", phase, m.id(), null, spec.target(), caller,
                    () -> phase.rollback(scope)).map(r -> {
                      removed.put(phase.name(), r);
                      return null;
                    });
              }).map(v -> {
                bus.publish(rolled);
                LOG.warn("migration {} tenant={} rolled back by {}: {}", m.id(), tenant, caller, removed);
                return new RolledBack(rolled, removed);
              });
            });
      }));
    });
  }

  private Future<Void> refuseIfPurged(String tenant, JobDefinition definition, List<Phase> applicable) {
    return Sequentially.forEach(applicable, phase -> {
      PhaseSpec spec = definition.part(phase.name()).orElse(null);
      return purgedAt(tenant, spec).compose(purged -> purged.isEmpty() ? Future.succeededFuture()
          : Future.failedFuture(SiloException.precondition("the source of tenant '" + tenant + "' (" + spec.source()
              + ") was purged on " + purged.get() + "; the target holds the only copy of that data, so it cannot be"
              + " rolled back")));
    });
  }

  /** Runs a destructive step of one phase with its data-audit row: STARTED before, completed with the count after. */
  private Future<Phase.Removed> audited(String tenant, String action, Phase phase, UUID migrationId,
                                        Long verificationId, String namespace, String caller,
                                        java.util.function.Supplier<Future<Phase.Removed>> work) {
    return store.auditStarted(tenant, action, phase.name(), migrationId, verificationId, namespace, caller)
        .compose(auditId -> work.get()
            .recover(failure -> store.finishAudit(auditId, 0, MigrationRunner.safeMessage(failure))
                .transform(x -> Future.failedFuture(failure)))
            .compose(result -> store.finishAudit(auditId, result.removed(), null).map(result)));
  }

  /**
   * Verifies a tenant for a caller over the selected phases (all of the definition's when empty), streaming findings
   * to {@code sink}; records the result with the definition and phases it answered when {@code record} is set. Only
   * a clean recorded verification of every phase of a migration's own definition can allow its purge.
   */
  public Future<Verification> verifyAndRecord(String tenant, JobDefinition definition, List<PhaseName> selected,
                                              TenantScope.FindingSink sink, String caller, boolean record) {
    List<Phase> chosen = phases.applicable(definition).stream()
        .filter(p -> selected.isEmpty() || selected.contains(p.name())).toList();
    long[] totals = new long[3];
    Future<Void> verified = keyOf(tenant).compose(keyId -> Sequentially.forEach(chosen, phase -> {
      PhaseSpec spec = definition.part(phase.name()).orElse(null);
      long base = totals[0];
      return purgedAt(tenant, spec).compose(purged -> phase.verify(new TenantScope(tenant, null, spec, keyId,
          purged.orElse(null), new TenantScope.FindingSink() {
            @Override
            public void finding(Finding finding) {
              sink.finding(finding);
            }

            @Override
            public void checked(long soFar) {
              sink.checked(base + soFar);
            }
          }, () -> false))).map(r -> {
            totals[0] += r.checked();
            totals[1] += r.findings();
            totals[2] += r.unfit();
            return null;
          });
    }));
    List<PhaseName> names = chosen.stream().map(Phase::name).toList();
    Future<Verification> result = verified.map(v -> new Verification(totals[0], totals[1], totals[2], names));
    if (!record) {
      return result;
    }
    return result.compose(summary -> store.latest(tenant).compose(latest -> store.recordVerification(tenant,
            latest.map(MigrationRecord::id).orElse(null), definition.toJson(), names, describe(definition,
                PhaseSpec::source), describe(definition, PhaseSpec::target), summary.checked(), summary.findings(),
            caller))
        .map(id -> summary));
  }

  private static String describe(JobDefinition definition, Function<PhaseSpec, String> side) {
    return String.join(", ", definition.parts().values().stream().map(side).toList());
  }

  /** The tenant's current data key id as the KEYS phase sees it, or null when it has none. */
  private Future<UUID> keyOf(String tenant) {
    Optional<Phase> keys = phases.find(PhaseName.KEYS);
    if (keys.isEmpty()) {
      return Future.succeededFuture(null);
    }
    return keys.get().plan(tenant, defaults).map(e -> e.detail() instanceof UUID id ? id : null);
  }

  /**
   * Deletes the tenant's source items after a clean verification of every phase of its completed migration, with
   * exactly that migration's definition. Each phase compares every item with its copy and deletes it only while it is
   * still unchanged (compare and delete), so an item the application changed or added since is kept.
   */
  public Future<Purged> purge(String tenant, String confirm, String caller) {
    if (!tenant.equals(confirm)) {
      return Future.failedFuture(SiloException.precondition("confirm must equal the tenant slug '" + tenant
          + "' to purge its source data"));
    }
    return store.withTenantLock(tenant, () -> store.latest(tenant).compose(latest -> {
      if (latest.isEmpty() || !latest.get().state().equals("COMPLETED")) {
        return Future.failedFuture(SiloException.precondition("tenant '" + tenant + "' has no COMPLETED migration"
            + latest.map(m -> " (latest is " + m.state() + ")").orElse("") + "; migrate and verify first"));
      }
      MigrationRecord m = latest.get();
      JobDefinition definition = phases.parse(m.definition());
      List<Phase> applicable = phases.applicable(definition);
      return store.latestVerification(tenant).compose(v -> {
        // Only phases with data of their own (a part in the definition) can be verified: VerifyTenant refuses KEYS
        // in its phase selector, so requiring KEYS here made a verify naming every data phase (MONGO and S3)
        // count for nothing, and purge was refused after a clean verification of everything it deletes.
        List<PhaseName> needed = applicable.stream().map(Phase::name)
            .filter(name -> definition.part(name).isPresent()).toList();
        if (v.isEmpty() || !v.get().clean() || v.get().time().isBefore(m.createdAt())
            || !m.definition().equals(v.get().definition()) || !v.get().phases().containsAll(needed)) {
          String why = v.isEmpty() ? "" : !v.get().clean() ? " (the latest found " + v.get().findings()
              + " problem(s))" : !m.definition().equals(v.get().definition())
              ? " (the latest checked a different definition than the migration's)"
              : !v.get().phases().containsAll(needed) ? " (the latest checked " + v.get().phases() + ", the migration"
              + " ran " + needed + ")" : " (the latest is older)";
          return Future.failedFuture(SiloException.precondition("tenant '" + tenant + "' has no clean verification of "
              + "its latest migration" + why + "; run `silo verify " + tenant + "` first"));
        }
        return keyOf(tenant).compose(keyId -> {
          if (m.keyId() != null && !m.keyId().equals(keyId)) {
            return Future.failedFuture(SiloException.precondition("tenant '" + tenant + "': the data key "
                + m.keyId() + " its migration wrote with is " + (keyId == null ? "gone" : "no longer current (now "
                + keyId + ")") + "; nothing was purged"));
          }
          long verificationId = v.get().id();
          Map<PhaseName, Phase.Removed> byPhase = new EnumMap<>(PhaseName.class);
          long[] firstAudit = {0};
          return Sequentially.forEach(applicable, phase -> {
            PhaseSpec spec = definition.part(phase.name()).orElse(null);
            if (spec == null) {
              return Future.succeededFuture();
            }
            TenantScope scope = new TenantScope(tenant, m.id(), spec, m.keyId(), null, TenantScope.FindingSink.NONE,
                () -> false);
            return audited(tenant, "PURGE_SOURCE", phase, m.id(), verificationId, spec.source(), caller,
                () -> phase.purge(scope)).map(r -> {
                  byPhase.put(phase.name(), r);
                  return null;
                });
          }).compose(x -> store.lastPurge(tenant, definition.parts().values().iterator().next().source())
              .map(p -> {
                firstAudit[0] = p.map(MigrationStore.PurgeRecord::auditId).orElse(0L);
                LOG.warn("source of tenant={} purged by {}: {}", tenant, caller, byPhase);
                return new Purged(byPhase, firstAudit[0]);
              }));
        });
      });
    }));
  }
}
