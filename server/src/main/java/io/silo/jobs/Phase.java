package io.silo.jobs;

import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;
import java.util.List;

/**
 * One step of a tenant's migration, implemented by a capability ({@code keys}, {@code mongo}, {@code s3}) and driven
 * by the job runner like a Temporal activity: it plans, runs from a checkpoint, verifies, rolls back and purges its
 * own data. Everything it does must be idempotent: a run may be replayed from any checkpoint, and a rollback or purge
 * may be repeated after a crash.
 */
public interface Phase {

  /** Which phase this is; also its key in a definition. */
  PhaseName name();

  /** Parses this phase's part of a stored definition. */
  PhaseSpec parse(JsonObject json);

  /** Whether a job with {@code definition} runs this phase. */
  default boolean appliesTo(JobDefinition definition) {
    return definition.has(name());
  }

  /**
   * Whether a resumed job runs this phase again although it finished before (KEYS: a resumed run re-checks the key
   * it is bound to and takes up its KMS budget again).
   */
  default boolean rerunsOnResume() {
    return false;
  }

  /**
   * Checks a definition against the live systems before a job is created (the source exists, the tracking table
   * exists); fails with FAILED_PRECONDITION naming the request field, changing nothing.
   */
  default Future<Void> check(JobDefinition definition, String fieldPrefix) {
    return Future.succeededFuture();
  }

  /** Dry run for one tenant: counts, bytes and target; changes nothing. */
  Future<Estimate> plan(String tenant, JobDefinition definition);

  /** Runs from {@code run.checkpoint()} until the work is done or a stop is requested. */
  Future<Outcome> run(RunContext run);

  /** Checks the tenant's target against its source, reporting each finding to {@code scope.sink()}. */
  Future<Verified> verify(TenantScope scope);

  /** Removes what this phase copied for the tenant; never an item whose source is gone (it is the only copy). */
  Future<Removed> rollback(TenantScope scope);

  /**
   * Deletes the tenant's source items that still equal their verified copies (compare and delete); an item that
   * changed since is kept and counted. Only called after a clean verification of exactly the job's definition.
   */
  Future<Removed> purge(TenantScope scope);

  /** How a run ended: the phase's work is done, or it stopped early for a pause, cancel, shutdown or lost lease. */
  enum Outcome { COMPLETE, STOPPED }

  /** A phase's dry run; {@code detail} is the capability's own plan for callers that know it (the API's protos). */
  record Estimate(PhaseName phase, long items, long bytes, String target, List<String> notes, Object detail) {
  }

  /** Result of verifying: {@code unfit} findings are items the copy already reported as failed items. */
  record Verified(long checked, long findings, long unfit) {
    public long problems() {
      return findings - unfit;
    }
  }

  /** Items removed by a rollback or purge, and items kept (changed since, or the only copy). */
  record Removed(long removed, long kept) {
  }
}
