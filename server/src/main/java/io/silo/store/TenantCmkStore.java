package io.silo.store;

import io.vertx.core.Future;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.RowSet;
import io.vertx.sqlclient.Tuple;
import java.time.OffsetDateTime;
import java.util.Optional;
import java.util.UUID;

/**
 * The record of each tenant's own AWS KMS master key (CMK) per provider and region, in Silo's schema. It is written
 * before CreateKey, with the provisioning id that also tags the key, so a key whose creation was interrupted is found
 * and adopted later instead of being created twice.
 */
public final class TenantCmkStore {

  /** One tenant CMK record; {@code keyArn} is null until CreateKey has answered. */
  public record Cmk(String provider, String region, String tenant, String alias, UUID provisioningId, String keyArn,
                    String state, String origin, Double secondsSinceCreateSent, boolean inserted) {
  }

  private static final String COLUMNS = "provider, region, tenant_slug, alias, provisioning_id, key_arn, state, origin, "
      + "extract(epoch FROM now() - create_sent_at)::float8";

  private final Pool pool;
  private final String table;

  public TenantCmkStore(Pool pool, Tables tables) {
    this.pool = pool;
    this.table = tables.siloSchema() + ".tenant_cmks";
  }

  /**
   * Claims the record for provisioning for {@code leaseSeconds}: inserts it (state CREATING with {@code
   * provisioningId}) or takes over an existing record whose earlier claim has ended or expired. Empty when another
   * Silo instance holds a live claim. {@link Cmk#inserted()} tells a new record from an existing one.
   */
  public Future<Optional<Cmk>> claim(String provider, String region, String tenant, String alias, UUID provisioningId,
                                     int leaseSeconds) {
    String sql = "INSERT INTO " + table + " AS t (provider, region, tenant_slug, alias, provisioning_id, state, "
        + "claimed_until) VALUES ($1, $2, $3, $4, $5, 'CREATING', now() + $6::int * interval '1 second') "
        + "ON CONFLICT (provider, region, tenant_slug) DO UPDATE SET claimed_until = EXCLUDED.claimed_until, "
        + "updated_at = now() WHERE t.claimed_until IS NULL OR t.claimed_until < now() "
        + "RETURNING " + COLUMNS + ", (xmax = 0) AS inserted";
    return pool.preparedQuery(sql).execute(Tuple.of(provider, region, tenant, alias, provisioningId, leaseSeconds))
        .map(TenantCmkStore::first);
  }

  /** Starts over with a new provisioning id and no key (the recorded key is gone or being deleted). */
  public Future<Void> restart(String provider, String region, String tenant, UUID provisioningId) {
    return update("provisioning_id = $4, key_arn = NULL, state = 'CREATING', origin = 'CREATED', deletion_date = NULL, "
            + "create_sent_at = NULL",
        Tuple.of(provider, region, tenant, provisioningId));
  }

  /** Records that a CreateKey is about to be sent. */
  public Future<Void> markCreateSent(String provider, String region, String tenant) {
    return update("create_sent_at = now()", Tuple.of(provider, region, tenant));
  }

  /** Forgets a CreateKey that AWS answered with a refusal: it made no key, so nothing needs to be looked for. */
  public Future<Void> clearCreateSent(String provider, String region, String tenant) {
    return update("create_sent_at = NULL", Tuple.of(provider, region, tenant));
  }

  /** Records the key CreateKey made (or a scan found), before its alias exists. */
  public Future<Void> recordArn(String provider, String region, String tenant, String keyArn) {
    return update("key_arn = $4", Tuple.of(provider, region, tenant, keyArn));
  }

  /** The key is in use under its alias: ACTIVE, claim released. */
  public Future<Void> activate(String provider, String region, String tenant, String keyArn) {
    return update("key_arn = $4, state = 'ACTIVE', claimed_until = NULL", Tuple.of(provider, region, tenant, keyArn));
  }

  /** Gives up a claim after a failure, so the next call may continue at once. */
  public Future<Void> release(String provider, String region, String tenant) {
    return update("claimed_until = NULL", Tuple.of(provider, region, tenant));
  }

  /** Records a key Silo did not create but found under the tenant's alias, as the tenant's ACTIVE key. */
  public Future<Void> adopt(String provider, String region, String tenant, String alias, String keyArn) {
    String sql = "INSERT INTO " + table + " (provider, region, tenant_slug, alias, provisioning_id, key_arn, state, "
        + "origin) VALUES ($1, $2, $3, $4, $5, $6, 'ACTIVE', 'ADOPTED') ON CONFLICT (provider, region, tenant_slug) "
        + "DO UPDATE SET key_arn = EXCLUDED.key_arn, state = 'ACTIVE', origin = 'ADOPTED', claimed_until = NULL, "
        + "deletion_date = NULL, updated_at = now()";
    return pool.preparedQuery(sql).execute(Tuple.of(provider, region, tenant, alias, UUID.randomUUID(), keyArn))
        .mapEmpty();
  }

  public Future<Optional<Cmk>> get(String provider, String region, String tenant) {
    return pool.preparedQuery("SELECT " + COLUMNS + ", false FROM " + table
            + " WHERE provider = $1 AND region = $2 AND tenant_slug = $3")
        .execute(Tuple.of(provider, region, tenant)).map(TenantCmkStore::first);
  }

  /** The tenant record of a key, if the key is a tenant CMK. */
  public Future<Optional<Cmk>> byArn(String keyArn) {
    return pool.preparedQuery("SELECT " + COLUMNS + ", false FROM " + table + " WHERE key_arn = $1 LIMIT 1")
        .execute(Tuple.of(keyArn)).map(TenantCmkStore::first);
  }

  /** Marks a key whose deletion AWS has scheduled. */
  public Future<Void> markDeletionScheduled(String keyArn, OffsetDateTime deletionDate) {
    return pool.preparedQuery("UPDATE " + table + " SET state = 'DELETION_SCHEDULED', deletion_date = $2, "
            + "claimed_until = NULL, updated_at = now() WHERE key_arn = $1")
        .execute(Tuple.of(keyArn, deletionDate)).mapEmpty();
  }

  private Future<Void> update(String set, Tuple params) {
    return pool.preparedQuery("UPDATE " + table + " SET " + set + ", updated_at = now() "
        + "WHERE provider = $1 AND region = $2 AND tenant_slug = $3").execute(params).mapEmpty();
  }

  private static Optional<Cmk> first(RowSet<Row> rows) {
    if (rows.size() == 0) {
      return Optional.empty();
    }
    Row r = rows.iterator().next();
    return Optional.of(new Cmk(r.getString(0), r.getString(1), r.getString(2), r.getString(3), r.getUUID(4),
        r.getString(5), r.getString(6), r.getString(7), r.getDouble(8), r.getBoolean(9)));
  }
}
