package io.silo.s3;

import io.vertx.core.Future;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.Tuple;
import java.util.EnumSet;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * Silo's record of tenant buckets ({@code silo.tenant_buckets}), and the PostgreSQL {@link BucketProvisioner.Journal}:
 * the intent to create a bucket is durable before CreateBucket and the outcome after, so a crash never leaves a
 * bucket Silo made but does not know about, and rollback deletes only buckets Silo created.
 */
public final class TenantBuckets {

    /** Why a bucket exists: a tenant's, or a throw-away one of the permissions preflight. */
    public enum Purpose { TENANT, PROBE }

    /** A recorded bucket; {@code state} is INTENT, CREATED, ADOPTED or DELETED. */
    public record Entry(String bucket, String tenant, Purpose purpose, String state, boolean createdBySilo,
                        Integer attempt, JsonArray controls) {
        public boolean live() {
            return !"DELETED".equals(state);
        }

        /** The controls the endpoint refused as unknown when the bucket was provisioned. */
        public Set<BucketControl> unsupported() {
            Set<BucketControl> out = EnumSet.noneOf(BucketControl.class);
            if (controls != null) {
                for (Object o : controls) {
                    if (o instanceof JsonObject c
                            && ControlState.UNSUPPORTED_BY_ENDPOINT.name().equals(c.getString("state"))) {
                        out.add(BucketControl.valueOf(c.getString("control")));
                    }
                }
            }
            return out;
        }
    }

    private final Pool pool;
    private final String table;

    public TenantBuckets(Pool pool, String siloSchema) {
        this.pool = pool;
        this.table = siloSchema + ".tenant_buckets";
    }

    /** A journal recording buckets of {@code purpose}. */
    public BucketProvisioner.Journal journal(Purpose purpose) {
        return new BucketProvisioner.Journal() {
            @Override
            public CompletableFuture<Void> beforeCreate(String tenantSlug, String bucket) {
                // A name rolled back earlier (DELETED) is re-created under the same record.
                return cf(pool.preparedQuery("INSERT INTO " + table + " (bucket, tenant_slug, purpose, state)"
                        + " VALUES ($1, $2, $3, 'INTENT') ON CONFLICT (bucket) DO UPDATE SET state = CASE WHEN "
                        + table + ".state = 'DELETED' THEN 'INTENT' ELSE " + table + ".state END, updated_at = now()")
                        .execute(Tuple.of(bucket, tenantSlug, purpose.name())).mapEmpty());
            }

            @Override
            public CompletableFuture<Void> afterCreate(String tenantSlug, String bucket, Outcome outcome) {
                Future<?> done = switch (outcome) {
                    case CREATED -> pool.preparedQuery("UPDATE " + table + " SET state = 'CREATED',"
                            + " created_by_silo = true, updated_at = now() WHERE bucket = $1").execute(Tuple.of(bucket));
                    // Someone with these credentials made it between our HeadBucket and CreateBucket: not ours to
                    // delete unless an earlier attempt of ours had created it.
                    case ALREADY_OURS -> pool.preparedQuery("UPDATE " + table + " SET state = CASE WHEN"
                            + " created_by_silo THEN 'CREATED' ELSE 'ADOPTED' END, updated_at = now()"
                            + " WHERE bucket = $1").execute(Tuple.of(bucket));
                    // Another owner's bucket: nothing of ours exists under that name.
                    case TAKEN -> pool.preparedQuery("DELETE FROM " + table + " WHERE bucket = $1 AND state = 'INTENT'")
                            .execute(Tuple.of(bucket));
                };
                return cf(done.mapEmpty());
            }
        };
    }

    /** The tenant's current bucket record (not DELETED), newest first. */
    public Future<Optional<Entry>> current(String tenant) {
        return pool.preparedQuery("SELECT bucket, tenant_slug, purpose, state, created_by_silo, attempt, controls FROM "
                        + table + " WHERE tenant_slug = $1 AND purpose = 'TENANT' AND state <> 'DELETED'"
                        + " ORDER BY (state = 'INTENT'), updated_at DESC LIMIT 1")
                .execute(Tuple.of(tenant))
                .map(rows -> rows.size() == 0 ? Optional.empty() : Optional.of(entry(rows.iterator().next())));
    }

    /**
     * Records what provisioning found: a bucket whose intent Silo recorded and that exists now was created by Silo
     * (the crash came between CreateBucket and the outcome); one found without any intent was adopted.
     */
    public Future<Void> provisioned(String tenant, ProvisionResult result) {
        return pool.preparedQuery("INSERT INTO " + table + " AS b (bucket, tenant_slug, purpose, state, created_by_silo,"
                        + " attempt, controls) VALUES ($1, $2, 'TENANT', CASE WHEN $3 THEN 'CREATED' ELSE 'ADOPTED' END,"
                        + " $3, $4, $5) ON CONFLICT (bucket) DO UPDATE SET"
                        + " state = CASE WHEN b.created_by_silo OR b.state = 'INTENT' OR $3 THEN 'CREATED' ELSE 'ADOPTED' END,"
                        + " created_by_silo = b.created_by_silo OR b.state = 'INTENT' OR $3,"
                        + " attempt = $4, controls = $5, updated_at = now()")
                .execute(Tuple.of(result.bucket(), tenant, result.created(), result.attempt(),
                        controlsJson(result.report())))
                .mapEmpty();
    }

    /** Records that {@code bucket}'s default encryption uses the KMS key {@code arn} (kept last: the current one). */
    public Future<Void> usesKmsKey(String bucket, String arn) {
        return pool.preparedQuery("UPDATE " + table + " SET kms_key_arns = array_append(array_remove(kms_key_arns, $2),"
                        + " $2), updated_at = now() WHERE bucket = $1")
                .execute(Tuple.of(bucket, arn)).mapEmpty();
    }

    /** The tenant buckets, not deleted, whose encryption has used the KMS key {@code arn}: "bucket (tenant)". */
    public Future<List<String>> usingKmsKey(String arn) {
        return pool.preparedQuery("SELECT bucket, tenant_slug FROM " + table + " WHERE $1 = ANY(kms_key_arns)"
                        + " AND state <> 'DELETED' ORDER BY bucket")
                .execute(Tuple.of(arn))
                .map(rows -> {
                    List<String> out = new ArrayList<>();
                    rows.forEach(r -> out.add("bucket " + r.getString("bucket") + " (tenant '"
                            + r.getString("tenant_slug") + "')"));
                    return out;
                });
    }

    /** The bucket is gone (rollback deleted it, or the preflight removed its probe). */
    public Future<Void> deleted(String bucket) {
        return pool.preparedQuery("UPDATE " + table + " SET state = 'DELETED', updated_at = now() WHERE bucket = $1")
                .execute(Tuple.of(bucket)).mapEmpty();
    }

    static JsonArray controlsJson(BucketReport report) {
        JsonArray out = new JsonArray();
        for (ControlResult c : report.controls()) {
            out.add(new JsonObject().put("control", c.control().name()).put("state", c.state().name())
                    .put("detail", c.detail()));
        }
        return out;
    }

    private static Entry entry(Row r) {
        Object controls = r.getValue("controls");
        return new Entry(r.getString("bucket"), r.getString("tenant_slug"), Purpose.valueOf(r.getString("purpose")),
                r.getString("state"), r.getBoolean("created_by_silo"), r.getInteger("attempt"),
                controls instanceof JsonArray a ? a : null);
    }

    private static CompletableFuture<Void> cf(Future<Void> f) {
        return f.toCompletionStage().toCompletableFuture();
    }
}
