package io.silo.jobs;

import io.vertx.core.json.JsonObject;
import io.vertx.sqlclient.Row;
import java.time.OffsetDateTime;
import java.util.Set;
import java.util.UUID;

/** One migration job as stored in PostgreSQL: state, phase, checkpoint, counts and lease. */
public record MigrationRecord(UUID id, String tenant, String state, String phase, String requested,
                              JsonObject definition, String idempotencyKey, UUID keyId, String checkpointId,
                              long total, long done, long failed, long bytes, long verifyChecked,
                              long verifyFindings, String lastError, String leaseOwner, Long leaseToken,
                              OffsetDateTime leaseExpiresAt, String createdBy, OffsetDateTime createdAt,
                              OffsetDateTime updatedAt, OffsetDateTime completedAt, OffsetDateTime mongoStartedAt,
                              OffsetDateTime mongoEndedAt, String notice, int retryAttempts,
                              java.util.List<String> plaintextFields) {

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

  static final String COLUMNS = "id, tenant_slug, state, phase, requested, definition, idempotency_key, key_id, "
      + "checkpoint_id, docs_total, docs_done, docs_failed, docs_bytes, verify_checked, verify_findings, last_error, "
      + "lease_owner, lease_token, lease_expires_at, created_by, created_at, updated_at, completed_at, mongo_started_at, "
      + "mongo_ended_at, notice, retry_attempts, plaintext_fields";

  static MigrationRecord from(Row row) {
    return new MigrationRecord(row.getUUID("id"), row.getString("tenant_slug"), row.getString("state"),
        row.getString("phase"), row.getString("requested"), (JsonObject) row.getValue("definition"),
        row.getString("idempotency_key"), row.getUUID("key_id"), row.getString("checkpoint_id"),
        row.getLong("docs_total"), row.getLong("docs_done"), row.getLong("docs_failed"), row.getLong("docs_bytes"),
        row.getLong("verify_checked"), row.getLong("verify_findings"), row.getString("last_error"),
        row.getString("lease_owner"), row.getLong("lease_token"), row.getOffsetDateTime("lease_expires_at"),
        row.getString("created_by"), row.getOffsetDateTime("created_at"), row.getOffsetDateTime("updated_at"),
        row.getOffsetDateTime("completed_at"), row.getOffsetDateTime("mongo_started_at"),
        row.getOffsetDateTime("mongo_ended_at"), row.getString("notice"), row.getInteger("retry_attempts"),
        strings((io.vertx.core.json.JsonArray) row.getValue("plaintext_fields")));
  }

  private static java.util.List<String> strings(io.vertx.core.json.JsonArray array) {
    java.util.List<String> out = new java.util.ArrayList<>();
    if (array != null) {
      array.forEach(v -> out.add(String.valueOf(v)));
    }
    return out;
  }

  /** A copy showing VERIFY progress that is not stored yet (it is written once, at the end of the phase). */
  public MigrationRecord withVerifyProgress(long checked) {
    return new MigrationRecord(id, tenant, state, phase, requested, definition, idempotencyKey, keyId, checkpointId,
        total, done, failed, bytes, checked, verifyFindings, lastError, leaseOwner, leaseToken, leaseExpiresAt,
        createdBy, createdAt, updatedAt, completedAt, mongoStartedAt, mongoEndedAt, notice, retryAttempts,
        plaintextFields);
  }
}
