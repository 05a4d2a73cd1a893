package io.silo.store;

import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Tuple;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;

/** Audit rows of key operations, the record of shredded tenants and of where each data key came from, in Silo's schema. */
public final class KeyAuditStore {

  /** One audit entry; master keys are descriptors (no secrets). */
  public record Entry(String tenant, String action, UUID keyId, String fromProvider, JsonObject fromMasterKey,
                      String toProvider, JsonObject toMasterKey, String caller, boolean ok, String error) {
  }

  private final Pool pool;
  private final String schema;

  public KeyAuditStore(Pool pool, Tables tables) {
    this.pool = pool;
    this.schema = tables.siloSchema();
  }

  public Future<Long> record(Entry e) {
    String sql = "INSERT INTO " + schema + ".key_audit (tenant_slug, action, key_id, from_provider, from_master_key,"
        + " to_provider, to_master_key, caller, outcome, error) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) RETURNING id";
    return pool.preparedQuery(sql).execute(Tuple.tuple()
            .addValue(e.tenant()).addValue(e.action()).addValue(e.keyId())
            .addValue(e.fromProvider()).addValue(e.fromMasterKey())
            .addValue(e.toProvider()).addValue(e.toMasterKey())
            .addValue(e.caller()).addValue(e.ok() ? "OK" : "FAILED").addValue(e.error()))
        .map(rows -> rows.iterator().next().getLong(0));
  }

  /** The shred record of a tenant whose key has not been re-created since, if any. */
  public Future<Optional<UUID>> activeShred(String tenant) {
    return pool.preparedQuery("SELECT key_id FROM " + schema + ".key_shreds WHERE tenant_slug = $1 AND recreated_at IS NULL")
        .execute(Tuple.of(tenant))
        .map(rows -> rows.size() == 0 ? Optional.empty() : Optional.of(rows.iterator().next().getUUID(0)));
  }

  public Future<Void> recordShred(String tenant, UUID keyId) {
    return pool.preparedQuery("INSERT INTO " + schema + ".key_shreds (tenant_slug, key_id) VALUES ($1, $2) "
            + "ON CONFLICT (tenant_slug) DO UPDATE SET key_id = EXCLUDED.key_id, shredded_at = now(), recreated_at = NULL")
        .execute(Tuple.of(tenant, keyId)).mapEmpty();
  }

  public Future<Void> recordRecreated(String tenant) {
    return pool.preparedQuery("UPDATE " + schema + ".key_shreds SET recreated_at = now() WHERE tenant_slug = $1")
        .execute(Tuple.of(tenant)).mapEmpty();
  }

  /** Who made a data key: Silo ("CREATED") or someone before it, Silo having taken it over ("ADOPTED"). */
  public record KeyOrigin(String tenant, String origin) {
  }

  /** Records where a tenant's data key came from unless it is recorded already; true when this call recorded it. */
  public Future<Boolean> recordKeyOrigin(UUID keyId, String tenant, String altName, String origin) {
    return pool.preparedQuery("INSERT INTO " + schema + ".tenant_keys (key_id, tenant_slug, alt_name, origin) "
            + "VALUES ($1, $2, $3, $4) ON CONFLICT (key_id) DO NOTHING")
        .execute(Tuple.of(keyId, tenant, altName, origin)).map(rows -> rows.rowCount() == 1);
  }

  /**
   * Records that Silo created a data key. It overrides an ADOPTED record, which another instance could have written
   * in the moment between this one's createDataKey and this record.
   */
  public Future<Void> recordCreatedKey(UUID keyId, String tenant, String altName) {
    return pool.preparedQuery("INSERT INTO " + schema + ".tenant_keys (key_id, tenant_slug, alt_name, origin) "
            + "VALUES ($1, $2, $3, 'CREATED') ON CONFLICT (key_id) DO UPDATE SET origin = 'CREATED'")
        .execute(Tuple.of(keyId, tenant, altName)).mapEmpty();
  }

  /** The recorded origins of the given data keys; keys Silo has no record of are absent. */
  public Future<Map<UUID, KeyOrigin>> keyOrigins(Collection<UUID> keyIds) {
    if (keyIds.isEmpty()) {
      return Future.succeededFuture(Map.of());
    }
    return pool.preparedQuery("SELECT key_id, tenant_slug, origin FROM " + schema + ".tenant_keys "
            + "WHERE key_id = ANY($1)")
        .execute(Tuple.of(keyIds.toArray(new UUID[0])))
        .map(rows -> {
          Map<UUID, KeyOrigin> out = new HashMap<>();
          rows.forEach(r -> out.put(r.getUUID(0), new KeyOrigin(r.getString(1), r.getString(2))));
          return out;
        });
  }

  /** Number of audit rows of a tenant and action; for tests and reports. */
  public Future<Long> count(String tenant, String action) {
    return pool.preparedQuery("SELECT count(*) FROM " + schema + ".key_audit WHERE tenant_slug = $1 AND action = $2")
        .execute(Tuple.of(tenant, action)).map(rows -> rows.iterator().next().getLong(0));
  }

  /** Remembers that an idempotency key did an operation on a resource; false when it was already recorded. */
  public Future<Optional<String>> idempotentResource(String operation, String key) {
    return pool.preparedQuery("SELECT resource FROM " + schema + ".idempotency_keys WHERE operation = $1 AND idempotency_key = $2")
        .execute(Tuple.of(operation, key))
        .map(rows -> rows.size() == 0 ? Optional.empty() : Optional.of(rows.iterator().next().getString(0)));
  }

  public Future<Void> rememberIdempotency(String operation, String key, String resource) {
    return pool.preparedQuery("INSERT INTO " + schema + ".idempotency_keys (idempotency_key, operation, resource) "
            + "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .execute(Tuple.of(key, operation, resource)).mapEmpty();
  }
}
