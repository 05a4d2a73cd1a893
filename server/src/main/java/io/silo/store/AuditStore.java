package io.silo.store;

import io.vertx.core.Future;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.Tuple;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * The append-only audit trail of calls ({@code audit_log}) and its one-story read-out joined with the key and data
 * audits, in Silo's schema.
 */
public final class AuditStore {

  /**
   * One audited call, at the time it was answered (rows are written afterwards, in no guaranteed order).
   * {@code migrationId} may be null; a null tenant is taken from that migration if it exists.
   */
  public record Call(OffsetDateTime time, String caller, String peer, String rpc, String tenant, UUID migrationId, String requestSha256,
                     String outcome, String message) {
  }

  /** One event of the joined trail; {@code source} is {@code call}, {@code key} or {@code data}. */
  public record Event(OffsetDateTime time, String source, long id, String caller, String action, String tenant,
                      String outcome, String message, String requestSha256, String peer, String migrationId,
                      String details) {
  }

  /** Where a page ends: the last event's time, source and id, which order the trail. */
  public record Cursor(OffsetDateTime time, String source, long id) {
  }

  /** What to list: one tenant (null for all), events at or after {@code since} (null for all), after a cursor. */
  public record Query(String tenant, OffsetDateTime since, boolean callsOnly, Cursor after, int limit) {
  }

  private final Pool pool;
  private final String schema;

  public AuditStore(Pool pool, Tables tables) {
    this.pool = pool;
    this.schema = tables.siloSchema();
  }

  /** Appends one call; a request that named only a migration gets that migration's tenant. */
  public Future<Void> append(Call call) {
    String sql = "INSERT INTO " + schema + ".audit_log (caller, peer, rpc, tenant_slug, migration_id, request_sha256,"
        + " outcome, message, created_at) VALUES ($1, $2, $3, coalesce($4, (SELECT tenant_slug FROM " + schema
        + ".migrations WHERE id = $5)), $5, $6, $7, $8, $9)";
    return pool.preparedQuery(sql).execute(Tuple.tuple().addValue(call.caller()).addValue(call.peer())
            .addValue(call.rpc()).addValue(call.tenant()).addValue(call.migrationId()).addValue(call.requestSha256())
            .addValue(call.outcome()).addValue(call.message()).addValue(call.time()))
        .mapEmpty();
  }

  /** A page of the joined trail, oldest first. */
  public Future<List<Event>> list(Query q) {
    String calls = "SELECT created_at, 'call' AS source, id, caller, rpc AS action, tenant_slug, outcome, message,"
        + " request_sha256, peer, migration_id::text AS migration_id, NULL::text AS details FROM " + schema
        + ".audit_log";
    String keys = "SELECT created_at, 'key', id, caller, action, tenant_slug, outcome, error, NULL, NULL, NULL,"
        + " concat_ws(' ', 'key_id=' || key_id, 'from=' || from_provider, 'to=' || to_provider) FROM " + schema
        + ".key_audit";
    String data = "SELECT created_at, 'data', id, caller, action, tenant_slug, outcome, error, NULL, NULL,"
        + " migration_id::text, concat_ws(' ', 'namespace=' || namespace, 'documents_deleted=' || documents_deleted,"
        + " 'verification=' || verification_id) FROM " + schema + ".data_audit";
    String union = q.callsOnly() ? calls : calls + " UNION ALL " + keys + " UNION ALL " + data;
    // A call that named several tenants stores them comma-separated; the filter finds each of them.
    String sql = "SELECT * FROM (" + union + ") e WHERE ($1::text IS NULL OR tenant_slug = $1"
        + " OR $1 = ANY(string_to_array(tenant_slug, ','))) AND ($2::timestamptz IS NULL OR created_at >= $2)"
        + " AND ($3::timestamptz IS NULL OR (created_at, source, id) > ($3, $4::text, $5::bigint))"
        + " ORDER BY created_at, source, id LIMIT $6";
    Cursor after = q.after();
    Tuple params = Tuple.tuple().addValue(q.tenant()).addValue(q.since())
        .addValue(after == null ? null : after.time()).addValue(after == null ? null : after.source())
        .addValue(after == null ? null : after.id()).addValue(q.limit());
    return pool.preparedQuery(sql).execute(params).map(rows -> {
      List<Event> out = new ArrayList<>();
      for (Row r : rows) {
        out.add(new Event(r.getOffsetDateTime(0), r.getString(1), r.getLong(2), r.getString(3), r.getString(4),
            r.getString(5), r.getString(6), r.getString(7), r.getString(8), r.getString(9), r.getString(10),
            r.getString(11)));
      }
      return out;
    });
  }
}
