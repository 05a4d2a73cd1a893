package io.silo.s3;

import io.silo.SiloException;
import io.silo.store.Tables;
import io.vertx.core.Future;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.SqlClient;
import io.vertx.sqlclient.SqlConnection;
import io.vertx.sqlclient.Tuple;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * The application's {@code documents} table as the S3 phase sees it: a tenant's documents in id order after a
 * cursor, and the {@code silo_*} columns and {@code s3_migrations} row it keeps up to date. Batch writes run on the
 * connection of the runner's checkpoint transaction, so the tracking never disagrees with the checkpoint.
 */
public final class DocumentsTable {

    /** The application's tenant row. */
    public record Tenant(long id, String slug, String siloStatus) {
    }

    /** One document with what Silo recorded about its copy (silo_* are null until a copy was recorded). */
    public record Doc(long id, String filename, String bucket, String key, long size, String contentType,
                      String siloBucket, String siloKey, String siloVersionId, String siloEtag,
                      String siloSourceEtag, String siloStatus, String siloError, OffsetDateTime sourcePurgedAt) {

        /** Where the document's copy belongs in its tenant bucket. */
        public String targetKey() {
            return FilenameSanitizer.key(Long.toString(id), filename);
        }

        public boolean copied() {
            return STATUS_COPIED.equals(siloStatus);
        }

        public boolean failed() {
            return STATUS_FAILED.equals(siloStatus);
        }

        /** Whether purge deleted the source: the copy is the only one left. */
        public boolean sourcePurged() {
            return sourcePurgedAt != null;
        }
    }

    /** What the copy of one document came to, as the batch writes it. */
    public record Recorded(long id, String status, String bucket, String key, String versionId, String etag,
                           String sourceEtag, String error) {
        public static Recorded copied(long id, String bucket, String key, String versionId, String etag,
                                      String sourceEtag) {
            return new Recorded(id, STATUS_COPIED, bucket, key, versionId, etag, sourceEtag, null);
        }

        public static Recorded failed(long id, String error) {
            return new Recorded(id, STATUS_FAILED, null, null, null, null, null, error);
        }
    }

    /** Counts for a plan or a run's total. */
    public record Totals(long documents, long bytes, long multipart, long copied) {
    }

    public static final String STATUS_COPIED = "COPIED";
    public static final String STATUS_FAILED = "FAILED";

    private static final String COLUMNS = "d.id, d.filename, d.s3_bucket, d.s3_key, d.size_bytes, d.content_type,"
            + " d.silo_bucket, d.silo_key, d.silo_version_id, d.silo_etag, d.silo_source_etag, d.silo_status,"
            + " d.silo_error, d.silo_source_purged_at";

    private final Tables tables;
    private final String migrations;

    public DocumentsTable(Tables tables) {
        this.tables = tables;
        this.migrations = tables.appSchema() + ".s3_migrations";
    }

    public String documentsTableName() {
        return tables.documents();
    }

    /** The tenant's row in the application's tenants table; NOT_FOUND when the slug has none. */
    public Future<Tenant> tenant(SqlClient sql, String slug) {
        return sql.preparedQuery("SELECT id, slug, silo_status FROM " + tables.tenants() + " WHERE slug = $1")
                .execute(Tuple.of(slug))
                .map(rows -> {
                    if (rows.size() == 0) {
                        throw SiloException.notFound("tenant '" + slug + "' has no row in " + tables.tenants()
                                + ", which the S3 phase reads documents by");
                    }
                    Row r = rows.iterator().next();
                    return new Tenant(r.getLong("id"), r.getString("slug"), r.getString("silo_status"));
                });
    }

    /** Documents, bytes, documents above {@code multipartThreshold} bytes, and documents recorded as copied. */
    public Future<Totals> totals(SqlClient sql, long tenantId, long multipartThreshold) {
        return sql.preparedQuery("SELECT count(*), coalesce(sum(size_bytes), 0)::bigint,"
                        + " count(*) FILTER (WHERE size_bytes > $2), count(*) FILTER (WHERE silo_status = 'COPIED')"
                        + " FROM " + tables.documents() + " WHERE tenant_id = $1")
                .execute(Tuple.of(tenantId, multipartThreshold))
                .map(rows -> {
                    Row r = rows.iterator().next();
                    return new Totals(r.getLong(0), r.getLong(1), r.getLong(2), r.getLong(3));
                });
    }

    /** Up to {@code limit} of the tenant's documents with an id above {@code afterId}, in id order. */
    public Future<List<Doc>> page(SqlClient sql, long tenantId, long afterId, int limit) {
        return sql.preparedQuery("SELECT " + COLUMNS + " FROM " + tables.documents() + " d"
                        + " WHERE d.tenant_id = $1 AND d.id > $2 ORDER BY d.id LIMIT $3")
                .execute(Tuple.of(tenantId, afterId, limit))
                .map(DocumentsTable::docs);
    }

    /** The tenant's smallest document (the preflight's test copy), or none. */
    public Future<List<Doc>> smallest(SqlClient sql, long tenantId) {
        return sql.preparedQuery("SELECT " + COLUMNS + " FROM " + tables.documents() + " d"
                        + " WHERE d.tenant_id = $1 ORDER BY d.size_bytes, d.id LIMIT 1")
                .execute(Tuple.of(tenantId))
                .map(DocumentsTable::docs);
    }

    /** The tenant's documents among {@code ids} (ids of other tenants' documents are simply not returned). */
    public Future<List<Doc>> byIds(SqlClient sql, long tenantId, List<Long> ids) {
        if (ids.isEmpty()) {
            return Future.succeededFuture(List.of());
        }
        return sql.preparedQuery("SELECT " + COLUMNS + " FROM " + tables.documents() + " d"
                        + " WHERE d.tenant_id = $1 AND d.id = ANY($2)")
                .execute(Tuple.tuple().addValue(tenantId).addValue(ids.toArray(new Long[0])))
                .map(DocumentsTable::docs);
    }

    private static List<Doc> docs(io.vertx.sqlclient.RowSet<Row> rows) {
        List<Doc> out = new ArrayList<>(rows.size());
        for (Row r : rows) {
            out.add(new Doc(r.getLong(0), r.getString(1), r.getString(2), r.getString(3), r.getLong(4),
                    r.getString(5), r.getString(6), r.getString(7), r.getString(8), r.getString(9), r.getString(10),
                    r.getString(11), r.getString(12), r.getOffsetDateTime(13)));
        }
        return out;
    }

    /**
     * Marks the tenant's S3 migration as running into {@code bucket}: its {@code s3_migrations} row IN_PROGRESS with
     * counters recounted from the documents (a re-run starts from what is recorded, not from zero) and the tenant
     * MIGRATING. Runs in a run's first checkpoint transaction.
     */
    public Future<Void> markStarted(SqlConnection conn, long tenantId, UUID migrationId, String bucket) {
        String upsert = "INSERT INTO " + migrations + " AS m (tenant_id, status, documents_migrated, errors, started_at,"
                + " bucket, migration_id, updated_at)"
                + " SELECT $1, 'IN_PROGRESS', count(*) FILTER (WHERE silo_status = 'COPIED'),"
                + " count(*) FILTER (WHERE silo_status = 'FAILED'), now(), $2, $3, now()"
                + " FROM " + tables.documents() + " WHERE tenant_id = $1"
                + " ON CONFLICT (tenant_id) DO UPDATE SET status = 'IN_PROGRESS',"
                + " documents_migrated = EXCLUDED.documents_migrated, errors = EXCLUDED.errors,"
                // A resumed run keeps its start time; a new migration of the tenant starts the clock again.
                + " started_at = CASE WHEN m.migration_id IS NOT DISTINCT FROM EXCLUDED.migration_id"
                + " AND m.started_at IS NOT NULL THEN m.started_at ELSE now() END,"
                + " completed_at = NULL, bucket = EXCLUDED.bucket, migration_id = EXCLUDED.migration_id,"
                + " updated_at = now()";
        return conn.preparedQuery(upsert).execute(Tuple.of(tenantId, bucket, migrationId))
                .compose(ignored -> setTenantStatus(conn, tenantId, "MIGRATING"));
    }

    /**
     * Writes one batch's outcomes into the documents' silo_* columns and moves the s3_migrations counters by what
     * changed (a document copied again is not counted twice), in one statement. A FAILED outcome keeps an earlier
     * copy's location and ETags for the record, but the document no longer counts as migrated.
     */
    public Future<Void> recordBatch(SqlConnection conn, long tenantId, UUID migrationId, List<Recorded> batch) {
        if (batch.isEmpty()) {
            return Future.succeededFuture();
        }
        int n = batch.size();
        Long[] ids = new Long[n];
        String[] status = new String[n];
        String[] bucket = new String[n];
        String[] key = new String[n];
        String[] version = new String[n];
        String[] etag = new String[n];
        String[] sourceEtag = new String[n];
        String[] error = new String[n];
        for (int i = 0; i < n; i++) {
            Recorded r = batch.get(i);
            ids[i] = r.id();
            status[i] = r.status();
            bucket[i] = r.bucket();
            key[i] = r.key();
            version[i] = r.versionId();
            etag[i] = r.etag();
            sourceEtag[i] = r.sourceEtag();
            error[i] = r.error();
        }
        String copied = "i.status = 'COPIED'";
        String sql = "WITH input AS (SELECT * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[],"
                + " $6::text[], $7::text[], $8::text[], $9::text[])"
                + " AS i(id, status, bucket, key, version_id, etag, source_etag, error)),"
                + " before AS (SELECT d.id, d.silo_status AS was FROM " + tables.documents() + " d"
                + " JOIN input i ON i.id = d.id WHERE d.tenant_id = $1),"
                + " changed AS (UPDATE " + tables.documents() + " d SET"
                + " silo_bucket = CASE WHEN " + copied + " THEN i.bucket ELSE d.silo_bucket END,"
                + " silo_key = CASE WHEN " + copied + " THEN i.key ELSE d.silo_key END,"
                + " silo_version_id = CASE WHEN " + copied + " THEN i.version_id ELSE d.silo_version_id END,"
                + " silo_etag = CASE WHEN " + copied + " THEN i.etag ELSE d.silo_etag END,"
                + " silo_source_etag = CASE WHEN " + copied + " THEN i.source_etag ELSE d.silo_source_etag END,"
                // A copy confirmed unchanged keeps the time it was made.
                + " silo_migrated_at = CASE WHEN " + copied + " THEN CASE WHEN d.silo_status = 'COPIED'"
                + " AND d.silo_key IS NOT DISTINCT FROM i.key AND d.silo_etag IS NOT DISTINCT FROM i.etag"
                + " THEN d.silo_migrated_at ELSE now() END ELSE d.silo_migrated_at END,"
                + " silo_status = i.status, silo_error = i.error, silo_migration_id = $10"
                + " FROM input i WHERE d.id = i.id AND d.tenant_id = $1 RETURNING d.id, i.status AS became)"
                + " UPDATE " + migrations + " m SET"
                + " documents_migrated = m.documents_migrated + (SELECT"
                + " count(*) FILTER (WHERE c.became = 'COPIED' AND b.was IS DISTINCT FROM 'COPIED')"
                + " - count(*) FILTER (WHERE c.became IS DISTINCT FROM 'COPIED' AND b.was = 'COPIED')"
                + " FROM changed c JOIN before b ON b.id = c.id),"
                + " errors = m.errors + (SELECT"
                + " count(*) FILTER (WHERE c.became = 'FAILED' AND b.was IS DISTINCT FROM 'FAILED')"
                + " - count(*) FILTER (WHERE c.became IS DISTINCT FROM 'FAILED' AND b.was = 'FAILED')"
                + " FROM changed c JOIN before b ON b.id = c.id),"
                + " updated_at = now() WHERE m.tenant_id = $1";
        Tuple args = Tuple.tuple().addValue(tenantId).addValue(ids).addValue(status).addValue(bucket).addValue(key)
                .addValue(version).addValue(etag).addValue(sourceEtag).addValue(error).addValue(migrationId);
        return conn.preparedQuery(sql).execute(args).mapEmpty();
    }

    /**
     * Ends the run: s3_migrations COMPLETED (or FAILED when documents failed) and, when complete, the tenant
     * ISOLATED. Completes with the status written.
     */
    public Future<String> markFinished(SqlConnection conn, long tenantId) {
        return conn.preparedQuery("UPDATE " + migrations + " SET status = CASE WHEN errors = 0 THEN 'COMPLETED'"
                        + " ELSE 'FAILED' END, completed_at = now(), updated_at = now() WHERE tenant_id = $1"
                        + " RETURNING status")
                .execute(Tuple.of(tenantId))
                .compose(rows -> {
                    String status = rows.size() == 0 ? "COMPLETED" : rows.iterator().next().getString(0);
                    return "COMPLETED".equals(status)
                            ? setTenantStatus(conn, tenantId, "ISOLATED").map(status) : Future.succeededFuture(status);
                });
    }

    /**
     * After a rollback: clears the silo_* columns of every document except {@code keep} (copies that stay because
     * they are the only ones) and the purged ones; s3_migrations ROLLED_BACK with counters recounted; the tenant
     * POOLED unless a copy stays recorded. Completes with the documents still recorded as copied.
     */
    public Future<Long> resetAfterRollback(SqlClient sql, long tenantId, List<Long> keep) {
        String reset = "UPDATE " + tables.documents() + " SET silo_bucket = NULL, silo_key = NULL,"
                + " silo_version_id = NULL, silo_etag = NULL, silo_source_etag = NULL, silo_status = NULL,"
                + " silo_error = NULL, silo_migration_id = NULL, silo_migrated_at = NULL"
                + " WHERE tenant_id = $1 AND silo_source_purged_at IS NULL AND NOT (id = ANY($2))"
                + " AND (silo_status IS NOT NULL OR silo_key IS NOT NULL)";
        String recount = "UPDATE " + migrations + " m SET status = 'ROLLED_BACK', completed_at = NULL,"
                + " updated_at = now(),"
                + " documents_migrated = (SELECT count(*) FROM " + tables.documents()
                + " WHERE tenant_id = $1 AND silo_status = 'COPIED'),"
                + " errors = (SELECT count(*) FROM " + tables.documents()
                + " WHERE tenant_id = $1 AND silo_status = 'FAILED')"
                + " WHERE m.tenant_id = $1 RETURNING documents_migrated";
        String remaining = "SELECT count(*) FROM " + tables.documents() + " WHERE tenant_id = $1"
                + " AND silo_status = 'COPIED'";
        return sql.preparedQuery(reset).execute(Tuple.tuple().addValue(tenantId).addValue(keep.toArray(new Long[0])))
                .compose(ignored -> sql.preparedQuery(recount).execute(Tuple.of(tenantId)))
                .compose(ignored -> sql.preparedQuery(remaining).execute(Tuple.of(tenantId)))
                .compose(rows -> {
                    long still = rows.iterator().next().getLong(0);
                    return still == 0 ? setTenantStatus(sql, tenantId, "POOLED").map(still)
                            : Future.succeededFuture(still);
                });
    }

    /** Records that purge deleted these documents' shared-bucket objects. */
    public Future<Void> markSourcePurged(SqlClient sql, long tenantId, List<Long> ids) {
        if (ids.isEmpty()) {
            return Future.succeededFuture();
        }
        return sql.preparedQuery("UPDATE " + tables.documents() + " SET silo_source_purged_at = now()"
                        + " WHERE tenant_id = $1 AND id = ANY($2) AND silo_source_purged_at IS NULL")
                .execute(Tuple.tuple().addValue(tenantId).addValue(ids.toArray(new Long[0]))).mapEmpty();
    }

    private Future<Void> setTenantStatus(SqlClient sql, long tenantId, String status) {
        return sql.preparedQuery("UPDATE " + tables.tenants() + " SET silo_status = $2, updated_at = now()"
                + " WHERE id = $1").execute(Tuple.of(tenantId, status)).mapEmpty();
    }
}
