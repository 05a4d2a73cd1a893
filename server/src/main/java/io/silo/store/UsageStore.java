package io.silo.store;

import io.silo.SiloException;
import io.vertx.core.Future;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.Tuple;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * Reads and repairs per-tenant usage (tenant_usage, kept by the db/app triggers), reads migration status (the
 * application's s3_migrations joined with Silo's migrations), and finds documents for presigned URLs.
 *
 * <p>What exists depends on what was installed: tenant_usage needs the application's documents table (db/app V2),
 * s3_migrations and the documents' silo_* columns come with the S3 phase (db/app V1). Each call checks what is there
 * and says precisely what is missing, instead of failing on an undefined table.
 */
public final class UsageStore {

  /** Whether the application's documents table exists, and which of Silo's additions to it are installed. */
  public record Features(boolean documents, boolean usage, boolean s3Migrations, boolean documentTracking) {

    private static final Features NONE = new Features(false, false, false, false);

    boolean complete() {
      return documents && usage && s3Migrations && documentTracking;
    }
  }

  /** One tenant's usage in one month. */
  public record Usage(String tenant, LocalDate month, long bytes, long documents, double mebibytes, String bucket,
                      boolean carriedForward) {
  }

  /** One row of the migration status report: the S3 migration of a tenant and its latest run. */
  public record MigrationStatus(String tenant, String displayName, String tenantStatus, String s3Status,
                                long documentsMigrated, long errors, String bucket, OffsetDateTime s3StartedAt,
                                OffsetDateTime s3CompletedAt, LatestRun latestRun) {
  }

  /** A tenant's latest migration run (null fields where the run has none yet). */
  public record LatestRun(String id, String state, String phase, long documentsCopied, long documentsFailed,
                          OffsetDateTime createdAt, OffsetDateTime completedAt, String lastError) {
  }

  /**
   * A documents row as presigned URLs need it. {@code tenantBucket} is the tenant's bucket from s3_migrations, or
   * null when none is recorded there.
   */
  public record Document(long id, String filename, String sharedBucket, String siloBucket, String siloKey,
                         String siloVersionId, String siloStatus, String siloError, OffsetDateTime sourcePurgedAt,
                         String tenantBucket) {
  }

  /** One tenant's reconcile outcome: what tenant_usage held for the month (null without a row) and the recount. */
  public record Reconciled(String tenant, Long recordedBytes, Long recordedCount, long actualBytes, long actualCount,
                           int monthsFilled, int markersResolved) {

    public boolean drifted() {
      return recordedBytes == null || recordedBytes != actualBytes || recordedCount != actualCount;
    }
  }

  /** A whole reconcile: the month, every tenant checked, and the "every tenant" markers resolved. */
  public record Reconcile(LocalDate month, List<Reconciled> tenants, int globalMarkersResolved) {
  }

  private final Pool pool;
  private final Tables tables;
  private final String usageTable;
  private final String s3MigrationsTable;
  private final Supplier<Future<Boolean>> installAppTables;
  private volatile Features installed = Features.NONE;

  /**
   * @param installAppTables applies db/app if the documents table appeared after start-up (off the event loop, as
   *     {@link Database#ensureAppTables} blocks); completes with whether the documents table exists
   */
  public UsageStore(Pool pool, Tables tables, Supplier<Future<Boolean>> installAppTables) {
    this.pool = pool;
    this.tables = tables;
    this.usageTable = tables.appSchema() + ".tenant_usage";
    this.s3MigrationsTable = tables.appSchema() + ".s3_migrations";
    this.installAppTables = installAppTables;
  }

  /**
   * What is installed; installs db/app first if tenant_usage is missing but the documents table exists. Once
   * everything is there the answer is cached, since nothing Silo installs is ever removed.
   */
  public Future<Features> features() {
    Features known = installed;
    if (known.complete()) {
      return Future.succeededFuture(known);
    }
    // Installing opens a JDBC connection: only worth it once the documents table is there and tenant_usage is not.
    return probe().compose(found -> found.usage() || !found.documents() ? Future.succeededFuture(found)
        : installAppTables.get().compose(exists -> exists ? probe() : Future.succeededFuture(found)));
  }

  private Future<Features> probe() {
    String sql = "SELECT to_regclass($3) IS NOT NULL, to_regclass($1) IS NOT NULL, to_regclass($2) IS NOT NULL,"
        + " EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = to_regclass($3)"
        + " AND a.attname = 'silo_bucket' AND NOT a.attisdropped)";
    return pool.preparedQuery(sql).execute(Tuple.of(usageTable, s3MigrationsTable, tables.documents())).map(rows -> {
      Row r = rows.iterator().next();
      Features found = new Features(r.getBoolean(0), r.getBoolean(1), r.getBoolean(2), r.getBoolean(3));
      installed = found;
      return found;
    });
  }

  /** Fails with FAILED_PRECONDITION naming what is missing unless tenant_usage is installed. */
  public Future<Features> requireUsage() {
    return features().compose(f -> f.usage() ? Future.succeededFuture(f) : Future.failedFuture(
        SiloException.precondition("usage tracking is not installed: the application's table " + tables.documents()
            + " does not exist (tenant_usage and its triggers are added to it once it does)")));
  }

  /** Fails with FAILED_PRECONDITION unless the documents table carries the S3 phase's silo_* columns. */
  public Future<Features> requireDocumentTracking() {
    return features().compose(f -> f.documentTracking() ? Future.succeededFuture(f) : Future.failedFuture(
        SiloException.precondition("document tracking is not installed: " + tables.documents() + " has no silo_bucket"
            + " column, so no document has a copy in a tenant bucket yet (the S3 phase adds it)")));
  }

  /** The current month: the first day of the UTC month, as the triggers see it. */
  public Future<LocalDate> currentMonth() {
    return pool.query("SELECT " + tables.siloSchema() + ".usage_month()").execute()
        .map(rows -> rows.iterator().next().getLocalDate(0));
  }

  /** The id of the tenant with this slug, if registered. */
  public Future<Optional<Long>> tenantId(String slug) {
    return pool.preparedQuery("SELECT id FROM " + tables.tenants() + " WHERE slug = $1").execute(Tuple.of(slug))
        .map(rows -> rows.size() == 0 ? Optional.empty() : Optional.of(rows.iterator().next().getLong(0)));
  }

  /**
   * A tenant's usage in each of the {@code months} most recent months, newest first. A month without a row had no
   * changes: it shows the latest earlier row's totals, marked carried forward. Months before the first row are left
   * out.
   */
  public Future<List<Usage>> tenantUsage(String slug, int months) {
    return requireUsage().compose(f -> {
      String sql = "SELECT t.slug, m.month, u.month <> m.month AS carried, u.storage_bytes, u.documents_count,"
          + " u.storage_used_mb::float8, " + bucketOf(f, true) + " AS bucket"
          + " FROM " + tables.tenants() + " t"
          + joinS3Migrations(f)
          + " CROSS JOIN LATERAL (SELECT (date_trunc('month', " + tables.siloSchema() + ".usage_month()::timestamp)"
          + "     - make_interval(months => g.i))::date AS month FROM generate_series(0, $2 - 1) AS g(i)) m"
          + " CROSS JOIN LATERAL (SELECT * FROM " + usageTable + " x WHERE x.tenant_id = t.id AND x.month <= m.month"
          + "     ORDER BY x.month DESC LIMIT 1) u"
          + " WHERE t.slug = $1 ORDER BY m.month DESC";
      return pool.preparedQuery(sql).execute(Tuple.of(slug, months)).map(rows -> {
        List<Usage> out = new ArrayList<>();
        rows.forEach(r -> out.add(new Usage(r.getString(0), r.getLocalDate(1), r.getLong(3), r.getLong(4),
            r.getDouble(5), r.getString(6), r.getBoolean(2))));
        return out;
      });
    });
  }

  /**
   * Every registered tenant's usage in {@code month} (null: the current one), ordered by slug after
   * {@code afterSlug}, at most {@code limit}; only {@code onlySlug} when it is not empty. A tenant without a row in or
   * before the month shows zeros.
   */
  public Future<List<Usage>> listUsage(LocalDate month, String afterSlug, int limit, String onlySlug) {
    return requireUsage().compose(f -> {
      String monthExpr = month == null ? tables.siloSchema() + ".usage_month()" : "$4::date";
      String sql = "SELECT t.slug, " + monthExpr + " AS month, u.month IS DISTINCT FROM " + monthExpr + " AS carried,"
          + " coalesce(u.storage_bytes, 0), coalesce(u.documents_count, 0), coalesce(u.storage_used_mb, 0)::float8, "
          + bucketOf(f, false) + " AS bucket"
          + " FROM " + tables.tenants() + " t"
          + joinS3Migrations(f)
          + " LEFT JOIN LATERAL (SELECT * FROM " + usageTable + " x WHERE x.tenant_id = t.id AND x.month <= "
          + monthExpr + " ORDER BY x.month DESC LIMIT 1) u ON true"
          + " WHERE t.slug IS NOT NULL AND t.slug > $1 AND ($3 = '' OR t.slug = $3) ORDER BY t.slug LIMIT $2";
      Tuple args = Tuple.of(afterSlug, limit, onlySlug);
      if (month != null) {
        args.addLocalDate(month);
      }
      return pool.preparedQuery(sql).execute(args).map(rows -> {
        List<Usage> out = new ArrayList<>();
        rows.forEach(r -> out.add(new Usage(r.getString(0), r.getLocalDate(1), r.getLong(3), r.getLong(4),
            r.getDouble(5), r.getString(6), r.getBoolean(2))));
        return out;
      });
    });
  }

  /**
   * Migration status of registered tenants ordered by slug after {@code afterSlug}, at most {@code limit}; only
   * {@code onlySlug} when it is not empty. S3 columns are empty until s3_migrations is installed.
   */
  public Future<List<MigrationStatus>> migrationStatus(String afterSlug, int limit, String onlySlug) {
    return features().compose(f -> {
      String s3 = f.s3Migrations()
          ? "sm.status, sm.documents_migrated, sm.errors, sm.started_at, sm.completed_at"
          : "NULL::text, NULL::int, NULL::int, NULL::timestamptz, NULL::timestamptz";
      String sql = "SELECT t.slug, t.name, t.silo_status, " + s3 + ", " + bucketOf(f, false) + ","
          + " m.id::text, m.state, m.phase, m.docs_done, m.docs_failed, m.created_at, m.completed_at, m.last_error"
          + " FROM " + tables.tenants() + " t"
          + joinS3Migrations(f)
          + " LEFT JOIN LATERAL (SELECT r.*, coalesce(p.done, 0) AS docs_done, coalesce(p.failed, 0) AS docs_failed FROM " + tables.siloSchema()
          + ".migrations r LEFT JOIN " + tables.siloSchema() + ".migration_phases p ON p.migration_id = r.id"
          + " AND p.phase = 'MONGO' WHERE r.tenant_slug = t.slug ORDER BY r.created_at DESC LIMIT 1) m ON true"
          + " WHERE t.slug IS NOT NULL AND t.slug > $1 AND ($3 = '' OR t.slug = $3) ORDER BY t.slug LIMIT $2";
      return pool.preparedQuery(sql).execute(Tuple.of(afterSlug, limit, onlySlug)).map(rows -> {
        List<MigrationStatus> out = new ArrayList<>();
        for (Row r : rows) {
          LatestRun run = r.getString(9) == null ? null : new LatestRun(r.getString(9), r.getString(10),
              r.getString(11), r.getLong(12), r.getLong(13), r.getOffsetDateTime(14), r.getOffsetDateTime(15),
              r.getString(16));
          out.add(new MigrationStatus(r.getString(0), r.getString(1), r.getString(2), r.getString(3),
              zeroIfNull(r.getInteger(4)), zeroIfNull(r.getInteger(5)), r.getString(8), r.getOffsetDateTime(6),
              r.getOffsetDateTime(7), run));
        }
        return out;
      });
    });
  }

  /** The document with this id if it belongs to this tenant; empty for another tenant's document too. */
  public Future<Optional<Document>> document(String slug, long documentId) {
    return requireDocumentTracking().compose(f -> {
      String sql = "SELECT d.id, d.filename, d.s3_bucket, d.silo_bucket, d.silo_key, d.silo_version_id,"
          + " d.silo_status, d.silo_error, d.silo_source_purged_at, " + (f.s3Migrations() ? "sm.bucket" : "NULL::text")
          + " FROM " + tables.tenants() + " t JOIN " + tables.documents() + " d ON d.tenant_id = t.id"
          + joinS3Migrations(f)
          + " WHERE t.slug = $1 AND d.id = $2";
      return pool.preparedQuery(sql).execute(Tuple.of(slug, documentId)).map(rows -> {
        if (rows.size() == 0) {
          return Optional.<Document>empty();
        }
        Row r = rows.iterator().next();
        return Optional.of(new Document(r.getLong(0), r.getString(1), r.getString(2), r.getString(3),
            r.getString(4), r.getString(5), r.getString(6), r.getString(7), r.getOffsetDateTime(8), r.getString(9)));
      });
    });
  }

  /**
   * The tenant's own bucket: from s3_migrations, else from its migrated documents; empty when it has none yet.
   * Fails with NOT_FOUND for an unknown tenant.
   */
  public Future<Optional<String>> tenantBucket(String slug) {
    return requireDocumentTracking().compose(f -> pool.preparedQuery("SELECT " + bucketOf(f, true) + " FROM "
            + tables.tenants() + " t" + joinS3Migrations(f) + " WHERE t.slug = $1").execute(Tuple.of(slug))
        .compose(rows -> rows.size() == 0
            ? Future.failedFuture(SiloException.notFound("tenant '" + slug + "' not found"))
            : Future.succeededFuture(Optional.ofNullable(rows.iterator().next().getString(0)))));
  }

  /**
   * The server-side encryption (algorithm, KMS key id or null) that the tenant's latest migration with an S3 part
   * asked for, which is what its bucket's policy demands of uploads; empty when no migration recorded one.
   */
  public Future<Optional<String[]>> bucketEncryption(String slug) {
    // The key the bucket's encryption was resolved to (an ARN; "tenant" names the tenant's CMK) comes first.
    String schema = tables.siloSchema();
    return pool.preparedQuery("SELECT m.definition->'s3'->>'encryption', COALESCE((SELECT"
            + " b.kms_key_arns[cardinality(b.kms_key_arns)] FROM " + schema + ".tenant_buckets b"
            + " WHERE b.tenant_slug = m.tenant_slug AND b.purpose = 'TENANT' AND b.state <> 'DELETED'"
            + " AND cardinality(b.kms_key_arns) > 0 ORDER BY b.updated_at DESC LIMIT 1),"
            + " m.definition->'s3'->>'kmsKeyId') FROM " + schema + ".migrations m WHERE m.tenant_slug = $1"
            + " AND m.definition ? 's3' AND m.definition->'s3'->>'encryption' IS NOT NULL"
            + " ORDER BY m.created_at DESC LIMIT 1")
        .execute(Tuple.of(slug))
        .map(rows -> rows.size() == 0 ? Optional.empty() : Optional.of(new String[] {
            rows.iterator().next().getString(0), rows.iterator().next().getString(1)}));
  }

  /**
   * Recounts the current month of every tenant (or of {@code onlySlug}) from the documents table, one tenant per
   * transaction so writers of other tenants are never held up, and with {@code apply} repairs rows, fills gap
   * months and resolves drift markers. "Every tenant" markers (a TRUNCATE, a failed statement) are resolved only by
   * a full repair, and only those that existed before the first tenant was recounted.
   */
  public Future<Reconcile> reconcile(String onlySlug, boolean apply) {
    boolean everyTenant = onlySlug.isEmpty();
    return requireUsage().compose(f -> currentMonth()).compose(month -> {
      Future<List<Long>> globalMarkers = apply && everyTenant
          ? pool.query("SELECT id FROM " + tables.siloSchema() + ".usage_drift WHERE tenant_id IS NULL"
              + " AND resolved_at IS NULL").execute().map(rows -> {
                List<Long> ids = new ArrayList<>();
                rows.forEach(r -> ids.add(r.getLong(0)));
                return ids;
              })
          : Future.succeededFuture(List.of());
      return globalMarkers.compose(markers -> pool.preparedQuery("SELECT id, coalesce(slug, '#' || id) FROM "
              + tables.tenants() + " WHERE ($1 = '' OR slug = $1) ORDER BY id").execute(Tuple.of(onlySlug))
          .compose(tenants -> {
            if (!everyTenant && tenants.size() == 0) {
              return Future.failedFuture(SiloException.notFound("tenant '" + onlySlug + "' not found"));
            }
            List<Reconciled> out = new ArrayList<>();
            Future<Void> chain = Future.succeededFuture();
            for (Row t : tenants) {
              long id = t.getLong(0);
              String name = t.getString(1);
              chain = chain.compose(v -> reconcileTenant(id, name, month, apply).map(r -> {
                out.add(r);
                return null;
              }));
            }
            return chain.compose(v -> markers.isEmpty() ? Future.succeededFuture(0)
                : pool.preparedQuery("UPDATE " + tables.siloSchema() + ".usage_drift SET resolved_at = now()"
                    + " WHERE id = ANY($1) AND resolved_at IS NULL").execute(Tuple.of(markers.toArray(new Long[0])))
                    .map(rows -> rows.rowCount()))
                .map(resolved -> new Reconcile(month, out, resolved));
          }));
    });
  }

  private Future<Reconciled> reconcileTenant(long tenantId, String name, LocalDate month, boolean apply) {
    return pool.preparedQuery("SELECT * FROM " + tables.siloSchema() + ".usage_reconcile($1, $2, $3)")
        .execute(Tuple.of(tenantId, month, apply)).map(rows -> {
          Row r = rows.iterator().next();
          boolean hadRow = r.getBoolean("had_row");
          return new Reconciled(name, hadRow ? r.getLong("recorded_bytes") : null,
              hadRow ? r.getLong("recorded_count") : null, r.getLong("actual_bytes"), r.getLong("actual_count"),
              r.getInteger("months_filled"), r.getInteger("markers_resolved"));
        });
  }

  /**
   * Gives every tenant without a row for the current month one, carrying its totals forward, so the support query
   * for the current month lists every tenant even when some had no writes yet. One tenant per transaction; returns
   * how many rows were created.
   */
  public Future<Integer> fillCurrentMonth() {
    return features().compose(f -> {
      if (!f.usage()) {
        return Future.succeededFuture(0);
      }
      String schema = tables.siloSchema();
      return pool.query("SELECT t.id FROM " + tables.tenants() + " t WHERE NOT EXISTS (SELECT 1 FROM " + usageTable
          + " u WHERE u.tenant_id = t.id AND u.month = " + schema + ".usage_month()) ORDER BY t.id").execute()
          .compose(rows -> {
            Future<Integer> chain = Future.succeededFuture(0);
            for (Row r : rows) {
              long id = r.getLong(0);
              chain = chain.compose(n -> pool.preparedQuery("SELECT " + schema + ".usage_apply($1, " + schema
                  + ".usage_month(), 0, 0)").execute(Tuple.of(id)).map(ignored -> n + 1));
            }
            return chain;
          });
    });
  }

  /**
   * The tenant's bucket as a SQL expression over {@code t} (and {@code sm} when s3_migrations exists): the S3
   * migration's bucket, else the bucket of the tenant's migrated documents. The fallback reads the tenant's documents
   * until one has a copy, a full scan for a tenant with none, so lists, which would do that for every unmigrated
   * tenant on every page, use the S3 migration's bucket only.
   */
  private String bucketOf(Features f, boolean oneTenant) {
    String fromDocuments = "(SELECT d.silo_bucket FROM " + tables.documents() + " d WHERE d.tenant_id = t.id"
        + " AND d.silo_bucket IS NOT NULL LIMIT 1)";
    String recorded = f.s3Migrations() ? "sm.bucket" : "NULL::text";
    return oneTenant && f.documentTracking() ? "coalesce(" + recorded + ", " + fromDocuments + ")" : recorded;
  }

  private String joinS3Migrations(Features f) {
    return f.s3Migrations() ? " LEFT JOIN " + s3MigrationsTable + " sm ON sm.tenant_id = t.id" : "";
  }

  private static long zeroIfNull(Integer value) {
    return value == null ? 0 : value;
  }
}
