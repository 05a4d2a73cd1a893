package io.silo.s3;

import io.silo.jobs.Phase;
import io.silo.jobs.TenantScope;
import io.vertx.core.Future;
import io.vertx.sqlclient.SqlClient;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import software.amazon.awssdk.services.s3.S3AsyncClient;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.ListObjectVersionsResponse;

/**
 * Undoes a tenant's S3 migration: deletes the copies under {@code documents/} with all their versions, deletes the
 * bucket if Silo created it and it is then empty, and resets the documents' silo_* columns and s3_migrations. The
 * bucket is walked rather than the table, so copies a crashed run made but never recorded go too.
 *
 * <p>A copy is deleted only when it is provably a redundant copy: it belongs to one of the tenant's documents, Silo
 * made it (its source-ETag metadata), it was not changed in the tenant bucket since, and the document's source
 * object still exists. Everything else is kept and counted: a copy whose source was purged or has vanished is the
 * only one left, and an object changed since may be the application's newer data. Idempotent: a second rollback
 * finds nothing left to delete; the shared bucket is never touched.
 */
final class S3Rollback {

    /** One version or delete marker of a key. */
    private record Version(String key, String versionId, boolean latest, boolean deleteMarker, String etag) {
    }

    private final SqlClient sql;
    private final DocumentsTable documents;
    private final TenantBuckets buckets;
    private final S3AsyncClient s3;
    private final S3Retry retry;
    private final TenantScope scope;
    private final long tenantId;
    private final TenantBuckets.Entry entry;
    private final AtomicLong removed = new AtomicLong();
    private final AtomicLong kept = new AtomicLong();
    private final Map<Long, Boolean> keptIds = new ConcurrentHashMap<>();

    S3Rollback(SqlClient sql, DocumentsTable documents, TenantBuckets buckets, S3AsyncClient s3, S3Retry retry,
               TenantScope scope, long tenantId, TenantBuckets.Entry entry) {
        this.sql = sql;
        this.documents = documents;
        this.buckets = buckets;
        this.s3 = s3;
        this.retry = retry;
        this.scope = scope;
        this.tenantId = tenantId;
        this.entry = entry;
    }

    /** Runs the rollback on the retry's context. */
    Future<Phase.Removed> run() {
        if (entry == null) {
            return reset();
        }
        String bucket = entry.bucket();
        return retry.call("HeadBucket", () -> s3.headBucket(b -> b.bucket(bucket))).map(true)
                .recover(e -> S3Errors.status(e) == 404 ? Future.succeededFuture(false) : Future.failedFuture(e))
                .compose(exists -> {
                    if (!exists) {
                        return buckets.deleted(bucket).compose(v -> reset());
                    }
                    return abortUploads(null, null)
                            .compose(v -> versions(null, null, null))
                            .compose(v -> scope.stop().getAsBoolean() ? Future.succeededFuture() : deleteBucketIfOurs())
                            .compose(v -> reset());
                });
    }

    private Future<Phase.Removed> reset() {
        if (scope.stop().getAsBoolean()) {
            // Stopped half-way: the columns stay as they are; a repeated rollback finishes the job.
            return Future.succeededFuture(new Phase.Removed(removed.get(), kept.get()));
        }
        return documents.resetAfterRollback(sql, tenantId, new ArrayList<>(keptIds.keySet()))
                .map(still -> new Phase.Removed(removed.get(), kept.get()));
    }

    /** Aborts the incomplete multipart uploads (a crashed multipart copy) so the bucket can become empty. */
    private Future<Void> abortUploads(String keyMarker, String uploadMarker) {
        String bucket = entry.bucket();
        return retry.call("ListMultipartUploads", () -> s3.listMultipartUploads(b -> b.bucket(bucket)
                        .prefix(FilenameSanitizer.DOCUMENTS_PREFIX).keyMarker(keyMarker).uploadIdMarker(uploadMarker)))
                .compose(listing -> {
                    List<Future<?>> aborts = new ArrayList<>();
                    listing.uploads().forEach(u -> aborts.add(retry.call("AbortMultipartUpload", () ->
                            s3.abortMultipartUpload(b -> b.bucket(bucket).key(u.key()).uploadId(u.uploadId())))
                            .recover(e -> S3Errors.notFound(e) ? Future.succeededFuture() : Future.failedFuture(e))));
                    return Future.all(aborts).compose(v -> Boolean.TRUE.equals(listing.isTruncated())
                            ? abortUploads(listing.nextKeyMarker(), listing.nextUploadIdMarker())
                            : Future.succeededFuture());
                });
    }

    /**
     * Walks every version under {@code documents/}, one listing page at a time. A key's versions may continue on
     * the next page, so the last key of a truncated page is carried over instead of judged.
     */
    private Future<Void> versions(String keyMarker, String versionMarker, List<Version> carried) {
        if (scope.stop().getAsBoolean()) {
            return Future.succeededFuture();
        }
        String bucket = entry.bucket();
        return retry.call("ListObjectVersions", () -> s3.listObjectVersions(b -> b.bucket(bucket)
                        .prefix(FilenameSanitizer.DOCUMENTS_PREFIX).keyMarker(keyMarker).versionIdMarker(versionMarker)))
                .compose(listing -> {
                    LinkedHashMap<String, List<Version>> byKey = group(listing, carried);
                    boolean more = Boolean.TRUE.equals(listing.isTruncated());
                    List<Version> carry = null;
                    if (more && !byKey.isEmpty()) {
                        String last = new ArrayList<>(byKey.keySet()).get(byKey.size() - 1);
                        carry = byKey.remove(last);
                    }
                    List<Version> next = carry;
                    return judge(byKey).compose(v -> more
                            ? versions(listing.nextKeyMarker(), listing.nextVersionIdMarker(), next)
                            : next == null ? Future.succeededFuture() : judge(single(next)));
                });
    }

    private static LinkedHashMap<String, List<Version>> single(List<Version> versions) {
        LinkedHashMap<String, List<Version>> one = new LinkedHashMap<>();
        one.put(versions.get(0).key(), versions);
        return one;
    }

    private static LinkedHashMap<String, List<Version>> group(ListObjectVersionsResponse listing,
                                                               List<Version> carried) {
        List<Version> all = new ArrayList<>();
        if (carried != null) {
            all.addAll(carried);
        }
        listing.versions().forEach(v -> all.add(new Version(v.key(), v.versionId(), Boolean.TRUE.equals(v.isLatest()),
                false, ObjectCopier.etag(v.eTag()))));
        listing.deleteMarkers().forEach(m -> all.add(new Version(m.key(), m.versionId(),
                Boolean.TRUE.equals(m.isLatest()), true, null)));
        LinkedHashMap<String, List<Version>> byKey = new LinkedHashMap<>();
        all.forEach(v -> byKey.computeIfAbsent(v.key(), k -> new ArrayList<>()).add(v));
        return byKey;
    }

    private Future<Void> judge(Map<String, List<Version>> byKey) {
        Map<String, Long> ids = new HashMap<>();
        byKey.keySet().forEach(key -> {
            Long id = S3Verifier.documentId(key);
            if (id != null) {
                ids.put(key, id);
            }
        });
        return documents.byIds(sql, tenantId, new ArrayList<>(new java.util.HashSet<>(ids.values())))
                .compose(docs -> {
                    Map<Long, DocumentsTable.Doc> found = new HashMap<>();
                    docs.forEach(d -> found.put(d.id(), d));
                    List<Future<Void>> work = new ArrayList<>();
                    byKey.forEach((key, versions) -> {
                        DocumentsTable.Doc doc = ids.containsKey(key) ? found.get(ids.get(key)) : null;
                        boolean ofDoc = doc != null && (key.equals(doc.targetKey()) || key.equals(doc.siloKey()));
                        work.add(ofDoc ? decide(doc, key, versions) : keepIt(null));
                    });
                    return Future.all(work).mapEmpty();
                });
    }

    private Future<Void> keepIt(DocumentsTable.Doc doc) {
        kept.incrementAndGet();
        if (doc != null) {
            keptIds.put(doc.id(), Boolean.TRUE);
        }
        return Future.succeededFuture();
    }

    private Future<Void> decide(DocumentsTable.Doc doc, String key, List<Version> versions) {
        if (doc.sourcePurged()) {
            return keepIt(doc); // the only copy
        }
        String bucket = entry.bucket();
        Version latest = versions.stream().filter(Version::latest).findFirst().orElse(versions.get(0));
        Future<HeadObjectResponse> current = latest.deleteMarker() ? Future.succeededFuture(null)
                : head(bucket, key);
        return Future.all(head(doc.bucket(), doc.key()), current).compose(both -> {
            HeadObjectResponse source = both.resultAt(0);
            HeadObjectResponse copy = both.resultAt(1);
            if (source == null) {
                return keepIt(doc); // the source is gone: this copy is the only one
            }
            if (copy != null) {
                String madeFrom = copy.metadata().get(ObjectCopier.SOURCE_ETAG_META);
                boolean silosCopy = madeFrom != null && (madeFrom.equals(ObjectCopier.etag(source.eTag()))
                        || ObjectCopier.etag(copy.eTag()).equals(doc.siloEtag()));
                if (!silosCopy) {
                    return keepIt(doc); // changed in the tenant bucket since: maybe the application's newer data
                }
            }
            List<Future<?>> deletes = new ArrayList<>();
            for (Version v : versions) {
                deletes.add(retry.call("DeleteObject (version)", () -> s3.deleteObject(b -> b.bucket(bucket).key(key)
                        .versionId(v.versionId()))));
            }
            return Future.all(deletes).map(v -> {
                removed.incrementAndGet();
                return null;
            });
        });
    }

    private Future<HeadObjectResponse> head(String bucket, String key) {
        return retry.call("HeadObject", () -> s3.headObject(r -> r.bucket(bucket).key(key)))
                .recover(e -> S3Errors.notFound(e) ? Future.succeededFuture(null) : Future.failedFuture(e));
    }

    /** Deletes the bucket when Silo created it and nothing is left in it (kept copies, the app's temp/ uploads). */
    private Future<Void> deleteBucketIfOurs() {
        if (!entry.createdBySilo()) {
            return Future.succeededFuture();
        }
        String bucket = entry.bucket();
        return retry.call("ListObjectVersions", () -> s3.listObjectVersions(b -> b.bucket(bucket).maxKeys(1)))
                .compose(listing -> {
                    if (!listing.versions().isEmpty() || !listing.deleteMarkers().isEmpty()) {
                        return Future.succeededFuture();
                    }
                    return retry.call("DeleteBucket", () -> s3.deleteBucket(b -> b.bucket(bucket)))
                            .compose(v -> buckets.deleted(bucket))
                            .recover(e -> S3Errors.status(e) == 409 ? Future.succeededFuture() // not empty after all
                                    : S3Errors.notFound(e) ? buckets.deleted(bucket) : Future.failedFuture(e));
                });
    }
}
