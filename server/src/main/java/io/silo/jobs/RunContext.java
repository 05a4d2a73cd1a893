package io.silo.jobs;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.sqlclient.SqlConnection;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * What the runner gives a phase while it runs: the tenant, the definition, the key the run is bound to, this phase's
 * last checkpoint, fenced writes of progress, stop requests and the KMS budget. Every write goes through the job's
 * lease token, so a runner that lost its lease cannot move the job.
 */
public interface RunContext {

  UUID migrationId();

  String tenant();

  JobDefinition definition();

  /** This phase's part of the definition. */
  <T extends PhaseSpec> T spec(Class<T> type);

  /** The Vert.x context the run lives on; results of worker threads are handed back here. */
  Context context();

  /** The key the run is bound to; null until the KEYS phase bound it. */
  TenantKey key();

  /**
   * Binds the run to {@code key} (the KEYS phase). A run that started under another key fails instead: writing on
   * under a new key would leave the tenant's target under two keys.
   */
  Future<Void> bindKey(TenantKey key);

  /** The cursor of this phase's last committed batch, or null when it has not committed one. */
  String checkpoint();

  /**
   * Whether the target may already hold some of the tenant's items (a resumed phase, or an earlier migration of the
   * tenant into the same target), so the phase must compare instead of assuming an empty target.
   */
  Future<Boolean> targetMayHoldTenant(String target);

  /** When the tenant's source {@code source} was last purged (text with its audit id), if ever. */
  Future<Optional<String>> sourcePurgedAt(String source);

  /**
   * Records the phase's total (items, and bytes when known). A phase may call it while its batches commit (it counted
   * alongside the copy): writes of one run are applied in the order they were asked for, never interleaved.
   */
  Future<Void> total(long items, long bytes);

  /** Whether this phase's total was recorded (by this run or one before it); until then status shows done/?. */
  default boolean totalRecorded() {
    return false;
  }

  /** Writes one batch's progress and checkpoint; completes with whether to go on (false: a stop was requested). */
  default Future<Boolean> commit(Batch batch) {
    return commit(batch, null);
  }

  /**
   * Like {@link #commit(Batch)}, running {@code alsoInTransaction} in the same PostgreSQL transaction as the
   * checkpoint, so the phase's own tracking rows never disagree with it.
   */
  Future<Boolean> commit(Batch batch, Function<SqlConnection, Future<Void>> alsoInTransaction);

  /** Whether a pause, cancel or shutdown was asked for, or the lease was lost: stop after the current batch. */
  boolean stopRequested();

  /**
   * Records one line on how this phase runs (e.g. which encryption path its values take, and why), shown with the
   * phase's progress in status; a later call replaces it.
   */
  default Future<Void> detail(String text) {
    return Future.succeededFuture();
  }

  /** Adds an operator-facing notice to the job (what a re-sync changed, a purged source). */
  Future<Void> notice(String text);

  /** Runs {@code work} holding the tenant's data lock, which purge and rollback also take. */
  <T> Future<T> exclusive(Supplier<Future<T>> work);

  /**
   * One batch: the cursor after it, items done, bytes moved, items that failed (each listed once in the completion
   * report, keyed by item id), top-level fields the batch copied in plaintext, and how many of the done items were
   * already in the target (not written again).
   */
  record Batch(String cursor, long done, long bytes, List<ItemFailure> failures, List<String> plaintextFields,
               long alreadyPresent) {
    public Batch(String cursor, long done, long bytes, List<ItemFailure> failures) {
      this(cursor, done, bytes, failures, List.of(), 0);
    }

    public Batch(String cursor, long done, long bytes, List<ItemFailure> failures, List<String> plaintextFields) {
      this(cursor, done, bytes, failures, plaintextFields, 0);
    }
  }

  /** A failed item as the completion report lists it (S3 Batch Operations style). */
  record ItemFailure(String itemId, String itemKey, String versionId, String code, Integer httpStatus,
                     String message) {
  }
}
