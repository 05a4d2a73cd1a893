package io.silo.s3;

import io.silo.jobs.Phase;
import io.silo.jobs.TenantScope;
import io.vertx.core.Future;
import io.vertx.sqlclient.SqlClient;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;
import software.amazon.awssdk.services.s3.S3AsyncClient;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;

/**
 * Deletes a tenant's objects from the shared bucket once their copies are verified, one compare-and-delete per
 * object: the copy must still be in the tenant bucket with the ETag recorded when it was made, and the source must
 * still have the ETag it was copied from. Then:
 * <ul>
 *   <li>in a versioned shared bucket, DeleteObject of exactly the source version that was checked (its version id):
 *       nothing newer can be hit, and no delete marker is added. Older, noncurrent versions of that key are left to
 *       the shared bucket's own lifecycle: they were never copied, so deleting them would destroy the only copy of
 *       that history;</li>
 *   <li>in an unversioned one, DeleteObject with {@code If-Match: <ETag>} (a conditional delete; AWS refuses it
 *       with 412 when the object changed). An endpoint that ignores the header deletes unconditionally, so the
 *       HeadObject comparison just before is what protects there, and a write landing between the two requests
 *       (milliseconds) would be lost.</li>
 * </ul>
 * Each deleted object's document gets {@code silo_source_purged_at}: its copy is now the only one, which rollback
 * never deletes. Anything that changed since, or whose copy is not intact, is kept and counted.
 */
final class S3Purge {

    private static final int PAGE = 500;

    private final SqlClient sql;
    private final DocumentsTable documents;
    private final S3AsyncClient s3;
    private final S3Retry retry;
    private final TenantScope scope;
    private final long tenantId;
    private final AtomicLong removed = new AtomicLong();
    private final AtomicLong kept = new AtomicLong();

    S3Purge(SqlClient sql, DocumentsTable documents, S3AsyncClient s3, S3Retry retry, TenantScope scope,
            long tenantId) {
        this.sql = sql;
        this.documents = documents;
        this.s3 = s3;
        this.retry = retry;
        this.scope = scope;
        this.tenantId = tenantId;
    }

    /** Runs on the retry's context. */
    Future<Phase.Removed> run() {
        return page(0).map(v -> new Phase.Removed(removed.get(), kept.get()));
    }

    private Future<Void> page(long after) {
        if (scope.stop().getAsBoolean()) {
            return Future.succeededFuture();
        }
        return documents.page(sql, tenantId, after, PAGE).compose(page -> {
            if (page.isEmpty()) {
                return Future.succeededFuture();
            }
            List<Long> purged = Collections.synchronizedList(new ArrayList<>());
            List<Future<Void>> work = new ArrayList<>();
            for (DocumentsTable.Doc doc : page) {
                if (doc.copied() && !doc.sourcePurged()) {
                    work.add(purge(doc).map(deleted -> {
                        if (deleted) {
                            purged.add(doc.id());
                        }
                        return null;
                    }));
                }
            }
            // Recorded even when a later delete of the page fails: those objects are gone either way.
            return Future.join(work)
                    .transform(all -> documents.markSourcePurged(sql, tenantId, new ArrayList<>(purged))
                            .compose(v -> all.succeeded() ? Future.succeededFuture() : Future.failedFuture(all.cause())))
                    .compose(v -> page.size() < PAGE ? Future.succeededFuture()
                            : page(page.get(page.size() - 1).id()));
        });
    }

    /** Completes with whether the source object was deleted. */
    private Future<Boolean> purge(DocumentsTable.Doc doc) {
        return Future.all(head(doc.siloBucket(), doc.siloKey()), head(doc.bucket(), doc.key())).compose(both -> {
            HeadObjectResponse copy = both.resultAt(0);
            HeadObjectResponse source = both.resultAt(1);
            if (source == null) {
                kept.incrementAndGet(); // nothing to delete; the copy is the only one now
                return Future.succeededFuture(false);
            }
            boolean copyIntact = copy != null && Objects.equals(ObjectCopier.etag(copy.eTag()), doc.siloEtag());
            boolean sourceUnchanged = Objects.equals(ObjectCopier.etag(source.eTag()), doc.siloSourceEtag());
            if (!copyIntact || !sourceUnchanged) {
                kept.incrementAndGet();
                return Future.succeededFuture(false);
            }
            String version = source.versionId() == null || "null".equals(source.versionId()) ? null
                    : source.versionId();
            return retry.call("DeleteObject (source)", () -> s3.deleteObject(b -> {
                b.bucket(doc.bucket()).key(doc.key());
                if (version != null) {
                    b.versionId(version);
                } else {
                    b.ifMatch(source.eTag());
                }
            })).map(r -> {
                removed.incrementAndGet();
                return true;
            }).recover(e -> {
                if (S3Errors.status(e) == 412) {
                    kept.incrementAndGet(); // changed between the HeadObject and the delete
                    return Future.succeededFuture(false);
                }
                return Future.failedFuture(e);
            });
        });
    }

    private Future<HeadObjectResponse> head(String bucket, String key) {
        return retry.call("HeadObject", () -> s3.headObject(r -> r.bucket(bucket).key(key)))
                .recover(e -> S3Errors.notFound(e) ? Future.succeededFuture(null) : Future.failedFuture(e));
    }
}
