package io.silo.jobs;

import io.silo.SiloException;
import io.silo.store.Tables;
import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.RowSet;
import io.vertx.sqlclient.SqlConnection;
import io.vertx.sqlclient.Tuple;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;

/**
 * Migration jobs in PostgreSQL: creation (one active run per tenant), leases with fencing tokens, checkpoints,
 * failed items, verifications and the audit of destructive operations.
 */
public final class MigrationStore {

  /** The lease was lost (expired and taken over, or the job was stopped by an operator); the runner must stop. */
  public static final class LeaseLostException extends RuntimeException {
    public LeaseLostException(UUID id) {
      super("lease on migration " + id + " was lost; another runner or an operator owns it now");
    }
  }

  /** One failed item, as it appears in the completion report. */
  public record Failure(String phase, String sourceId, String itemKey, String versionId, String errorCode,
                        Integer httpStatus, String message, long seq, OffsetDateTime time) {
  }

  /** A recorded verification result. */
  public record Verification(long id, String tenant, UUID migrationId, String source, String target, long checked,
                             long findings, boolean clean, OffsetDateTime time, JsonObject definition,
                             List<PhaseName> phases) {
  }

  /** First key of Silo's advisory locks, so they cannot collide with the application's own. */
  private static final int TENANT_LOCK_CLASS = 0x51_10;
  private final Pool pool;
  private final String schema;
  private final String table;
  private final String cols;

  public MigrationStore(Pool pool, Tables tables) {
    this.pool = pool;
    this.schema = tables.siloSchema();
    this.table = schema + ".migrations";
    this.cols = MigrationRecord.columns(schema);
  }

  /** Result of asking for a tenant's migration: the job and whether this call created it. */
  public record Started(MigrationRecord migration, boolean created) {
  }

  /**
   * Creates a PLANNED job (waiting for a runner) for the tenant unless one is active; the partial unique index settles races between
   * callers and instances, and the loser reads the winner's job.
   */
  public Future<Started> startOrGetActive(String tenant, JsonObject definition, String idempotencyKey, String caller) {
    String insert = "INSERT INTO " + table + " (id, tenant_slug, state, phase, definition, idempotency_key, created_by)"
        + " VALUES ($1, $2, 'PLANNED', 'KEYS', $3, $4, $5) ON CONFLICT (tenant_slug)"
        + " WHERE state IN ('PLANNED', 'RUNNING', 'PAUSED') DO NOTHING RETURNING " + cols;
    return pool.preparedQuery(insert)
        .execute(Tuple.of(UUID.randomUUID(), tenant, definition, emptyToNull(idempotencyKey), caller))
        .compose(rows -> {
          if (rows.size() == 1) {
            return Future.succeededFuture(new Started(MigrationRecord.from(rows.iterator().next()), true));
          }
          return active(tenant).compose(active -> active.isPresent()
              ? Future.succeededFuture(new Started(active.get(), false))
              : Future.failedFuture(new SiloException(SiloException.Kind.ABORTED,
                  "tenant '" + tenant + "' changed state concurrently; retry")));
        });
  }

  public Future<Optional<MigrationRecord>> active(String tenant) {
    return one("SELECT " + cols + " FROM " + table
        + " WHERE tenant_slug = $1 AND state IN ('PLANNED', 'RUNNING', 'PAUSED')", Tuple.of(tenant));
  }

  public Future<Optional<MigrationRecord>> get(UUID id) {
    return one("SELECT " + cols + " FROM " + table + " WHERE id = $1", Tuple.of(id));
  }

  /** The tenant's newest job of any state. */
  public Future<Optional<MigrationRecord>> latest(String tenant) {
    return one("SELECT " + cols + " FROM " + table
        + " WHERE tenant_slug = $1 ORDER BY created_at DESC, id DESC LIMIT 1", Tuple.of(tenant));
  }

  /** A page of jobs, newest first; {@code after} is the (created_at, id) of the previous page's last row. */
  public Future<List<MigrationRecord>> list(String tenant, List<String> states, OffsetDateTime afterTime, UUID afterId,
                                            int limit) {
    StringBuilder sql = new StringBuilder("SELECT " + cols + " FROM " + table + " WHERE true");
    Tuple args = Tuple.tuple();
    if (tenant != null && !tenant.isEmpty()) {
      args.addValue(tenant);
      sql.append(" AND tenant_slug = $").append(args.size());
    }
    if (states != null && !states.isEmpty()) {
      args.addValue(states.toArray(new String[0]));
      sql.append(" AND state = ANY($").append(args.size()).append(")");
    }
    if (afterTime != null) {
      args.addValue(afterTime).addValue(afterId);
      sql.append(" AND (created_at, id) < ($").append(args.size() - 1).append(", $").append(args.size()).append(")");
    }
    args.addValue(limit);
    sql.append(" ORDER BY created_at DESC, id DESC LIMIT $").append(args.size());
    return pool.preparedQuery(sql.toString()).execute(args).map(MigrationStore::all);
  }

  /** Every job that is not final, for watchers that join late. */
  public Future<List<MigrationRecord>> activeJobs(String tenantOrNull) {
    return list(tenantOrNull, List.copyOf(MigrationRecord.ACTIVE), null, null, 10_000);
  }

  /**
   * Claims one PLANNED job, or a RUNNING one whose lease expired (its runner died), and marks it RUNNING. SKIP LOCKED lets several instances poll at once
   * without waiting on each other's candidate rows; the new token comes from a sequence, so it outranks every
   * token handed out before.
   */
  public Future<Optional<MigrationRecord>> claim(String owner, int leaseSeconds) {
    return claim(owner, leaseSeconds, java.util.Set.of());
  }

  /**
   * Like {@link #claim(String, int)}, skipping the jobs in {@code runningHere}: a runner of this instance that fell
   * behind its heartbeat (a long GC pause, a starved CPU) keeps its job and renews its lease, instead of this instance
   * starting a second runner that fences the first one out and redoes its work.
   */
  public Future<Optional<MigrationRecord>> claim(String owner, int leaseSeconds, java.util.Set<UUID> runningHere) {
    String sql = "UPDATE " + table + " SET state = 'RUNNING', lease_owner = $1,"
        + " lease_token = nextval('" + schema + ".lease_tokens'),"
        + " lease_expires_at = now() + make_interval(secs => $2), updated_at = now()"
        + " WHERE id = (SELECT id FROM " + table + " WHERE state IN ('PLANNED', 'RUNNING')"
        + " AND (lease_expires_at IS NULL OR lease_expires_at < now()) AND NOT (id = ANY($3))"
        + " ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING " + cols;
    return one(sql, Tuple.of(owner, (double) leaseSeconds, runningHere.toArray(new UUID[0])));
  }

  /** What a heartbeat learned: whether the lease is still held, and a pause or cancel asked meanwhile (or null). */
  public record Lease(boolean held, String requested) {
  }

  /**
   * Extends the lease and reports any requested pause or cancel, so a phase without checkpoints (VERIFY) still
   * learns of it within a heartbeat.
   */
  public Future<Lease> heartbeat(UUID id, long token, int leaseSeconds) {
    return pool.preparedQuery("UPDATE " + table + " SET lease_expires_at = now() + make_interval(secs => $3)"
            + " WHERE id = $1 AND lease_token = $2 AND state = 'RUNNING' RETURNING requested")
        .execute(Tuple.of(id, token, (double) leaseSeconds))
        .map(rows -> rows.size() == 1 ? new Lease(true, rows.iterator().next().getString(0)) : new Lease(false, null));
  }

  /**
   * Moves the job to {@code phase} (fenced). A work phase gets its progress row (kept as it is when the phase is
   * re-entered on resume), and the phase before it is marked ended.
   */
  public Future<MigrationRecord> enterPhase(UUID id, long token, PhaseName phase, int ordinal, String target) {
    return pool.withTransaction(conn -> conn.preparedQuery("UPDATE " + schema + ".migration_phases SET ended_at = now()"
            + " WHERE migration_id = $1 AND phase <> $2 AND ended_at IS NULL").execute(Tuple.of(id, phase.name()))
        .compose(v -> phase == PhaseName.VERIFY || phase == PhaseName.DONE ? Future.succeededFuture()
            : conn.preparedQuery("INSERT INTO " + schema + ".migration_phases (migration_id, phase, ordinal, target)"
                + " VALUES ($1, $2, $3, $4) ON CONFLICT (migration_id, phase) DO UPDATE SET ended_at = NULL")
            .execute(Tuple.of(id, phase.name(), ordinal, target)).mapEmpty())
        .compose(v -> fenced(conn, id, "UPDATE " + table + " SET phase = $3, updated_at = now()"
            + " WHERE id = $1 AND lease_token = $2 AND state = 'RUNNING' RETURNING " + cols,
            Tuple.of(id, token, phase.name()))));
  }

  /** Binds the job to the data key it writes with (fenced); a job keeps the key it was first bound to. */
  public Future<MigrationRecord> bindKey(UUID id, long token, UUID keyId) {
    return fenced(id, "UPDATE " + table + " SET key_id = COALESCE(key_id, $3), updated_at = now()"
        + " WHERE id = $1 AND lease_token = $2 AND state = 'RUNNING' RETURNING " + cols, Tuple.of(id, token, keyId));
  }

  /** Records a phase's total as counted at its start (fenced). */
  public Future<MigrationRecord> phaseTotal(UUID id, long token, PhaseName phase, long items, long bytes) {
    return updatePhase(id, token, phase, "total = $3, total_bytes = $4", Tuple.of(id, phase.name(), items, bytes));
  }

  /**
   * Updates one phase's row ({@code set} uses $3 on, after $1 = migration id and $2 = phase) and returns the job, in
   * one transaction fenced by the lease token: a runner that lost its lease changes nothing.
   */
  private Future<MigrationRecord> updatePhase(UUID id, long token, PhaseName phase, String set, Tuple params) {
    return pool.withTransaction(conn -> conn.preparedQuery("UPDATE " + schema + ".migration_phases SET " + set
            + " WHERE migration_id = $1 AND phase = $2").execute(params)
        .compose(v -> fenced(conn, id, "UPDATE " + table + " SET updated_at = now() WHERE id = $1"
            + " AND lease_token = $2 AND state = 'RUNNING' RETURNING " + cols, Tuple.of(id, token))));
  }

  /**
   * Records one batch of a phase: its failed items, the phase's counters and checkpoint, and whatever the phase
   * tracks itself ({@code also}), in one transaction fenced by the lease token. The failed count is recomputed from
   * the failure rows, so a replayed batch cannot count twice.
   */
  public Future<MigrationRecord> checkpoint(UUID id, long token, PhaseName phase, RunContext.Batch batch,
                                            java.util.function.Function<SqlConnection, Future<Void>> also) {
    return pool.withTransaction(conn -> insertFailures(conn, id, phase.name(), batch.failures())
        .compose(v -> conn.preparedQuery("UPDATE " + schema + ".migration_phases SET checkpoint = $3,"
                + " done = done + $4, bytes = bytes + $5, failed = (SELECT count(*) FROM " + schema
                + ".migration_failures WHERE migration_id = $1 AND phase = $2) WHERE migration_id = $1 AND phase = $2")
            .execute(Tuple.of(id, phase.name(), batch.cursor(), batch.done(), batch.bytes())))
        .compose(v -> also == null ? Future.succeededFuture() : also.apply(conn))
        .compose(v -> fenced(conn, id, "UPDATE " + table + " SET"
                + " plaintext_fields = (SELECT coalesce(jsonb_agg(DISTINCT f ORDER BY f), '[]'::jsonb) FROM"
                + " jsonb_array_elements_text(plaintext_fields || $3::jsonb) AS f),"
                + " updated_at = now() WHERE id = $1 AND lease_token = $2 AND state = 'RUNNING'"
                + " RETURNING " + cols,
            Tuple.of(id, token, new io.vertx.core.json.JsonArray(new ArrayList<>(batch.plaintextFields()))))));
  }

  private Future<Void> insertFailures(SqlConnection conn, UUID id, String phase, List<RunContext.ItemFailure> failures) {
    if (failures.isEmpty()) {
      return Future.succeededFuture();
    }
    List<Tuple> batch = new ArrayList<>();
    for (RunContext.ItemFailure f : failures) {
      batch.add(Tuple.of(id, phase, f.itemId(), f.itemKey(), f.versionId(), f.code())
          .addValue(f.httpStatus()).addValue(f.message()));
    }
    return conn.preparedQuery("INSERT INTO " + schema + ".migration_failures (migration_id, phase, source_id, item_key,"
            + " version_id, error_code, http_status, message) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            + " ON CONFLICT (migration_id, phase, source_id) DO NOTHING")
        .executeBatch(batch).mapEmpty();
  }

  /** Records the verification counts of the VERIFY phase (fenced). */
  public Future<MigrationRecord> verified(UUID id, long token, long checked, long findings) {
    return fenced(id, "UPDATE " + table + " SET verify_checked = $3, verify_findings = $4, updated_at = now()"
        + " WHERE id = $1 AND lease_token = $2 AND state = 'RUNNING' RETURNING " + cols,
        Tuple.of(id, token, checked, findings));
  }

  /**
   * Leaves RUNNING for {@code state} and gives up the lease (fenced). Used for COMPLETED, FAILED, and for applying
   * a requested PAUSE or CANCEL.
   */
  public Future<MigrationRecord> finishRun(UUID id, long token, String state, String phase, String lastError) {
    return fenced(id, "UPDATE " + table + " SET state = $3, phase = COALESCE($4, phase), last_error = $5,"
        + " requested = NULL, lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = now(),"
        + " retry_attempts = CASE WHEN $3 = 'FAILED' THEN retry_attempts ELSE 0 END,"
        + " completed_at = CASE WHEN $3 IN ('COMPLETED', 'VERIFY_FAILED', 'FAILED', 'CANCELLED') THEN now()"
        + " ELSE completed_at END"
        + " WHERE id = $1 AND lease_token = $2 AND state = 'RUNNING' RETURNING " + cols,
        Tuple.of(id, token, state, phase, lastError));
  }

  /**
   * After a transient fault: gives the lease up but keeps the job RUNNING and unclaimable for {@code delaySeconds}
   * (the lease expiry doubles as the earliest retry time), so any instance resumes it from its checkpoint then.
   */
  public Future<MigrationRecord> retryLater(UUID id, long token, double delaySeconds, String reason) {
    return fenced(id, "UPDATE " + table + " SET lease_owner = NULL, lease_token = NULL,"
        + " lease_expires_at = now() + make_interval(secs => $3), retry_attempts = retry_attempts + 1,"
        + " last_error = $4, updated_at = now() WHERE id = $1 AND lease_token = $2 AND state = 'RUNNING'"
        + " RETURNING " + cols, Tuple.of(id, token, delaySeconds, reason));
  }

  /** Clears the transient-fault streak once the run made progress again. */
  public Future<MigrationRecord> progressed(UUID id, long token) {
    return fenced(id, "UPDATE " + table + " SET retry_attempts = 0, last_error = NULL WHERE id = $1"
        + " AND lease_token = $2 AND state = 'RUNNING' RETURNING " + cols, Tuple.of(id, token));
  }

  /** Sets a phase's detail line (how it runs), shown with its progress (fenced). */
  public Future<MigrationRecord> phaseDetail(UUID id, long token, PhaseName phase, String detail) {
    return updatePhase(id, token, phase, "detail = $3", Tuple.of(id, phase.name(), detail));
  }

  /** Sets the run's notice: what an operator should know that is not an error (fenced). */
  public Future<MigrationRecord> notice(UUID id, long token, String notice) {
    return fenced(id, "UPDATE " + table + " SET notice = $3, updated_at = now() WHERE id = $1 AND lease_token = $2"
        + " AND state = 'RUNNING' RETURNING " + cols, Tuple.of(id, token, notice));
  }

  /** Gives up the lease without changing state, so another runner may claim the job at once (orderly shutdown). */
  public Future<Void> releaseLease(UUID id, long token) {
    return pool.preparedQuery("UPDATE " + table + " SET lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL"
        + " WHERE id = $1 AND lease_token = $2").execute(Tuple.of(id, token)).mapEmpty();
  }

  /**
   * Asks for a pause or cancel. A RUNNING job without a live lease has nobody to ask, so the change is applied at
   * once; a job with a live runner gets {@code requested} set and the runner applies it after its batch.
   */
  public Future<MigrationRecord> request(UUID id, String what) {
    String target = what.equals("PAUSE") ? "PAUSED" : "CANCELLED";
    String from = what.equals("PAUSE") ? "('RUNNING', 'PLANNED')" : "('RUNNING', 'PAUSED', 'PLANNED')";
    String sql = "UPDATE " + table + " SET"
        + " state = CASE WHEN state <> 'RUNNING' OR lease_expires_at IS NULL OR lease_expires_at < now() THEN $2"
        + "   ELSE state END,"
        + " requested = CASE WHEN state = 'RUNNING' AND lease_expires_at >= now() THEN $3 ELSE NULL END,"
        + " completed_at = CASE WHEN $2 = 'CANCELLED' AND (state <> 'RUNNING' OR lease_expires_at IS NULL"
        + "   OR lease_expires_at < now()) THEN now() ELSE completed_at END,"
        + " updated_at = now() WHERE id = $1 AND state IN " + from + " RETURNING " + cols;
    // A retry of a pause or cancel that was already applied answers with the job as it is: every verb is idempotent.
    return pool.preparedQuery(sql).execute(Tuple.of(id, target, what)).compose(rows -> rows.size() == 1
        ? Future.succeededFuture(MigrationRecord.from(rows.iterator().next()))
        : get(id).compose(current -> current.isPresent() && current.get().state().equals(target)
            ? Future.succeededFuture(current.get())
            : Future.failedFuture(current.isEmpty()
                ? SiloException.notFound("migration_id: no migration " + id)
                : SiloException.precondition("migration " + id + " is " + current.get().state() + "; "
                    + (what.equals("PAUSE") ? "only a PLANNED or RUNNING migration can be paused"
                    : "only a RUNNING, PAUSED or PLANNED migration can be cancelled")))));
  }

  /** PAUSED or FAILED back to PLANNED, to be claimed by a runner; the unique index refuses it if another run is active. */
  public Future<MigrationRecord> resume(UUID id) {
    String sql = "UPDATE " + table + " SET state = 'PLANNED', requested = NULL, last_error = NULL, completed_at = NULL,"
        + " lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = now()"
        + " WHERE id = $1 AND state IN ('PAUSED', 'FAILED') RETURNING " + cols;
    return pool.preparedQuery(sql).execute(Tuple.of(id))
        .recover(failure -> Future.failedFuture(isUniqueViolation(failure)
            ? SiloException.precondition("another migration of this tenant is active; finish or cancel it first")
            : failure))
        .compose(rows -> rows.size() == 1
            ? Future.succeededFuture(MigrationRecord.from(rows.iterator().next()))
            // A retried resume finds the job PLANNED or RUNNING already and answers with it.
            : get(id).compose(current -> current.isPresent()
                && (current.get().state().equals("RUNNING") || current.get().state().equals("PLANNED"))
                ? Future.succeededFuture(current.get())
                : Future.failedFuture(current.isEmpty()
                    ? SiloException.notFound("migration_id: no migration " + id)
                    : SiloException.precondition("migration " + id + " is " + current.get().state()
                        + "; only a PAUSED or FAILED migration can be resumed"))));
  }

  /** Marks a job ROLLED_BACK; any state but PLANNED and RUNNING (which a runner may hold) may be rolled back. */
  public Future<MigrationRecord> markRolledBack(UUID id) {
    return pool.preparedQuery("UPDATE " + table + " SET state = 'ROLLED_BACK', requested = NULL, updated_at = now(),"
            + " completed_at = now() WHERE id = $1 AND state NOT IN ('RUNNING', 'PLANNED') RETURNING "
            + cols)
        .execute(Tuple.of(id)).compose(rows -> rows.size() == 1
            ? Future.succeededFuture(MigrationRecord.from(rows.iterator().next()))
            : Future.failedFuture(SiloException.precondition("migration " + id
                + " was resumed concurrently; pause or cancel it before rolling back")));
  }

  /** One page of failed items in the order they were recorded. */
  public Future<List<Failure>> failures(UUID id, long afterSeq, int limit) {
    return pool.preparedQuery("SELECT phase, source_id, item_key, version_id, error_code, http_status, message, seq,"
            + " created_at FROM " + schema + ".migration_failures WHERE migration_id = $1 AND seq > $2"
            + " ORDER BY seq LIMIT $3")
        .execute(Tuple.of(id, afterSeq, limit))
        .map(rows -> {
          List<Failure> out = new ArrayList<>();
          for (Row r : rows) {
            out.add(new Failure(r.getString("phase"), r.getString("source_id"), r.getString("item_key"),
                r.getString("version_id"), r.getString("error_code"), r.getInteger("http_status"),
                r.getString("message"), r.getLong("seq"), r.getOffsetDateTime("created_at")));
          }
          return out;
        });
  }

  /**
   * Records a verification of {@code phases} with the definition it answered; only a clean one that checked every
   * phase of a migration's own definition can allow its purge.
   */
  public Future<Long> recordVerification(String tenant, UUID migrationId, JsonObject definition,
                                         List<PhaseName> phases, String source, String target, long checked,
                                         long findings, String caller) {
    return pool.preparedQuery("INSERT INTO " + schema + ".verifications (tenant_slug, migration_id, source_namespace,"
            + " target_namespace, checked, findings, clean, caller, definition, phases)"
            + " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id")
        .execute(Tuple.of(tenant, migrationId, source, target, checked, findings).addValue(findings == 0)
            .addValue(caller).addValue(definition)
            .addValue(phases.stream().map(PhaseName::name).toArray(String[]::new)))
        .map(rows -> rows.iterator().next().getLong(0));
  }

  /** The tenant's newest verification, if any. */
  public Future<Optional<Verification>> latestVerification(String tenant) {
    return pool.preparedQuery("SELECT id, tenant_slug, migration_id, source_namespace, target_namespace, checked,"
            + " findings, clean, created_at, definition, phases FROM " + schema + ".verifications WHERE tenant_slug = $1"
            + " ORDER BY id DESC LIMIT 1")
        .execute(Tuple.of(tenant))
        .map(rows -> {
          if (rows.size() == 0) {
            return Optional.empty();
          }
          Row r = rows.iterator().next();
          return Optional.of(new Verification(r.getLong("id"), r.getString("tenant_slug"), r.getUUID("migration_id"),
              r.getString("source_namespace"), r.getString("target_namespace"), r.getLong("checked"),
              r.getLong("findings"), r.getBoolean("clean"), r.getOffsetDateTime("created_at"),
              (JsonObject) r.getValue("definition"), phaseNames(r.getArrayOfStrings("phases"))));
        });
  }

  /** Writes an audit row for a rollback or purge; returns its id. */
  public Future<Long> audit(String tenant, String action, UUID migrationId, Long verificationId, String namespace,
                            long deleted, String caller, String error) {
    return pool.preparedQuery("INSERT INTO " + schema + ".data_audit (tenant_slug, action, migration_id,"
            + " verification_id, namespace, documents_deleted, caller, outcome, error)"
            + " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id")
        .execute(Tuple.of(tenant, action, migrationId, verificationId, namespace, deleted, caller)
            .addValue(error == null ? "OK" : "FAILED").addValue(error))
        .map(rows -> rows.iterator().next().getLong(0));
  }

  /** Writes the audit row of an operation before it deletes anything (outcome STARTED); returns its id. */
  public Future<Long> auditStarted(String tenant, String action, PhaseName phase, UUID migrationId,
                                   Long verificationId, String namespace, String caller) {
    return pool.preparedQuery("INSERT INTO " + schema + ".data_audit (tenant_slug, action, migration_id,"
            + " verification_id, namespace, caller, outcome, phase) VALUES ($1, $2, $3, $4, $5, $6, 'STARTED', $7)"
            + " RETURNING id")
        .execute(Tuple.of(tenant, action, migrationId, verificationId, namespace, caller, phase.name()))
        .map(rows -> rows.iterator().next().getLong(0));
  }

  /** Completes an audit row written with outcome STARTED. */
  public Future<Void> finishAudit(long auditId, long deleted, String error) {
    return pool.preparedQuery("UPDATE " + schema + ".data_audit SET documents_deleted = $2, outcome = $3, error = $4"
            + " WHERE id = $1").execute(Tuple.of(auditId, deleted, error == null ? "OK" : "FAILED", error)).mapEmpty();
  }

  /**
   * Runs {@code work} holding the tenant's data lock: a PostgreSQL session advisory lock, so purge, rollback and a
   * re-sync's deletions never interleave for one tenant, on this instance or another. Fails with
   * FAILED_PRECONDITION at once when someone else holds it.
   */
  public <T> Future<T> withTenantLock(String tenant, java.util.function.Supplier<Future<T>> work) {
    return pool.getConnection().compose(conn -> conn.preparedQuery("SELECT pg_try_advisory_lock($1, hashtext($2))")
        .execute(Tuple.of(TENANT_LOCK_CLASS, tenant))
        .compose(rows -> {
          if (!rows.iterator().next().getBoolean(0)) {
            // ABORTED: a concurrency conflict that a later retry resolves; a migration's re-sync requeues on it.
            return Future.<T>failedFuture(new SiloException(SiloException.Kind.ABORTED, "tenant '" + tenant
                + "' has a purge, rollback or re-sync in progress; try again when it has finished"));
          }
          return work.get().eventually(() -> conn.preparedQuery("SELECT pg_advisory_unlock($1, hashtext($2))")
              .execute(Tuple.of(TENANT_LOCK_CLASS, tenant)));
        })
        .eventually(conn::close));
  }

  /**
   * True when another migration of the tenant got as far as starting {@code phase} into the same target: only then
   * can the target already hold some of the tenant's items.
   */
  public Future<Boolean> copiedBefore(String tenant, PhaseName phase, String target, UUID exclude) {
    return pool.preparedQuery("SELECT 1 FROM " + table + " m JOIN " + schema + ".migration_phases p"
            + " ON p.migration_id = m.id WHERE m.tenant_slug = $1 AND m.id <> $2 AND p.phase = $3 AND p.target = $4"
            + " LIMIT 1")
        .execute(Tuple.of(tenant, exclude, phase.name(), target)).map(rows -> rows.size() > 0);
  }

  /** A purge that deleted source documents: when, which audit row, and from which namespace. */
  public record PurgeRecord(long auditId, String namespace, long deleted, OffsetDateTime time) {
  }

  /**
   * The tenant's most recent purge of {@code sourceNamespace}, whichever migration it followed and however it ended
   * (one that died midway may have deleted documents it could not count). Once one exists, the target may hold the
   * only copy of some documents.
   */
  public Future<Optional<PurgeRecord>> lastPurge(String tenant, String sourceNamespace) {
    return pool.preparedQuery("SELECT id, namespace, documents_deleted, created_at FROM " + schema + ".data_audit"
            + " WHERE tenant_slug = $1 AND action = 'PURGE_SOURCE' AND namespace = $2"
            + " ORDER BY id DESC LIMIT 1")
        .execute(Tuple.of(tenant, sourceNamespace))
        .map(rows -> rows.size() == 0 ? Optional.empty() : Optional.of(rows.iterator().next()).map(r ->
            new PurgeRecord(r.getLong("id"), r.getString("namespace"), r.getLong("documents_deleted"),
                r.getOffsetDateTime("created_at"))));
  }

  private Future<MigrationRecord> fenced(UUID id, String sql, Tuple args) {
    return fenced(pool, id, sql, args);
  }

  private Future<MigrationRecord> fenced(io.vertx.sqlclient.SqlClient client, UUID id, String sql, Tuple args) {
    return client.preparedQuery(sql).execute(args).compose(rows -> rows.size() == 1
        ? Future.succeededFuture(MigrationRecord.from(rows.iterator().next()))
        : Future.failedFuture(new LeaseLostException(id)));
  }

  private Future<Optional<MigrationRecord>> one(String sql, Tuple args) {
    return pool.preparedQuery(sql).execute(args).map(rows -> rows.size() == 0 ? Optional.empty()
        : Optional.of(MigrationRecord.from(rows.iterator().next())));
  }

  private static List<MigrationRecord> all(RowSet<Row> rows) {
    List<MigrationRecord> out = new ArrayList<>();
    rows.forEach(r -> out.add(MigrationRecord.from(r)));
    return out;
  }

  static boolean isUniqueViolation(Throwable failure) {
    return failure instanceof io.vertx.pgclient.PgException pg && "23505".equals(pg.getSqlState());
  }

  private static List<PhaseName> phaseNames(String[] names) {
    List<PhaseName> out = new ArrayList<>();
    if (names != null) {
      for (String n : names) {
        out.add(PhaseName.valueOf(n));
      }
    }
    return out;
  }

  private static String emptyToNull(String s) {
    return s == null || s.isEmpty() ? null : s;
  }
}
