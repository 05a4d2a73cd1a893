package io.silo.jobs;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.sqlclient.Row;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;

/** One migration job as stored in PostgreSQL: state, current phase, per-phase progress, lease and outcome. */
public record MigrationRecord(UUID id, String tenant, String state, String phase, String requested,
                              JsonObject definition, String idempotencyKey, UUID keyId, List<PhaseProgress> phases,
                              long verifyChecked, long verifyFindings, String lastError, String leaseOwner,
                              Long leaseToken, OffsetDateTime leaseExpiresAt, String createdBy,
                              OffsetDateTime createdAt, OffsetDateTime updatedAt, OffsetDateTime completedAt,
                              String notice, int retryAttempts, List<String> plaintextFields) {

  /** States from which a job never moves on its own; a watcher's stream ends on them. */
  public static final Set<String> FINAL = Set.of("COMPLETED", "VERIFY_FAILED", "FAILED", "CANCELLED",
      "ROLLED_BACK");
  /** States covered by the one-active-run-per-tenant index. */
  public static final Set<String> ACTIVE = Set.of("PLANNED", "RUNNING", "PAUSED");

  public boolean isFinal() {
    return FINAL.contains(state);
  }

  public boolean isActive() {
    return ACTIVE.contains(state);
  }

  /** The progress row of {@code name}, if that phase has started. */
  public Optional<PhaseProgress> progress(PhaseName name) {
    return phases.stream().filter(p -> p.phase() == name).findFirst();
  }

  /** Items of every phase, as counted at their starts. */
  public long total() {
    return phases.stream().mapToLong(PhaseProgress::total).sum();
  }

  /** Items done in every phase. */
  public long done() {
    return phases.stream().mapToLong(PhaseProgress::done).sum();
  }

  /** Failed items of every phase (each listed in the completion report). */
  public long failed() {
    return phases.stream().mapToLong(PhaseProgress::failed).sum();
  }

  /** Bytes moved by every phase. */
  public long bytes() {
    return phases.stream().mapToLong(PhaseProgress::bytes).sum();
  }

  /** Column list of {@link #from}; the phases come as one JSON array from {@code migration_phases}. */
  static String columns(String schema) {
    return "id, tenant_slug, state, phase, requested, definition, idempotency_key, key_id, verify_checked,"
        + " verify_findings, last_error, lease_owner, lease_token, lease_expires_at, created_by, created_at,"
        + " updated_at, completed_at, notice, retry_attempts, plaintext_fields,"
        + " (SELECT coalesce(jsonb_agg(to_jsonb(p) ORDER BY p.ordinal), '[]'::jsonb) FROM " + schema
        + ".migration_phases p WHERE p.migration_id = migrations.id) AS phases";
  }

  static MigrationRecord from(Row row) {
    List<PhaseProgress> phases = new ArrayList<>();
    JsonArray rows = (JsonArray) row.getValue("phases");
    if (rows != null) {
      rows.forEach(o -> phases.add(PhaseProgress.fromJson((JsonObject) o)));
    }
    return new MigrationRecord(row.getUUID("id"), row.getString("tenant_slug"), row.getString("state"),
        row.getString("phase"), row.getString("requested"), (JsonObject) row.getValue("definition"),
        row.getString("idempotency_key"), row.getUUID("key_id"), List.copyOf(phases),
        row.getLong("verify_checked"), row.getLong("verify_findings"), row.getString("last_error"),
        row.getString("lease_owner"), row.getLong("lease_token"), row.getOffsetDateTime("lease_expires_at"),
        row.getString("created_by"), row.getOffsetDateTime("created_at"), row.getOffsetDateTime("updated_at"),
        row.getOffsetDateTime("completed_at"), row.getString("notice"), row.getInteger("retry_attempts"),
        strings((JsonArray) row.getValue("plaintext_fields")));
  }

  private static List<String> strings(JsonArray array) {
    List<String> out = new ArrayList<>();
    if (array != null) {
      array.forEach(v -> out.add(String.valueOf(v)));
    }
    return out;
  }

  /** A copy showing VERIFY progress that is not stored yet (it is written once, at the end of the stage). */
  public MigrationRecord withVerifyProgress(long checked) {
    return new MigrationRecord(id, tenant, state, phase, requested, definition, idempotencyKey, keyId, phases,
        checked, verifyFindings, lastError, leaseOwner, leaseToken, leaseExpiresAt, createdBy, createdAt, updatedAt,
        completedAt, notice, retryAttempts, plaintextFields);
  }
}
