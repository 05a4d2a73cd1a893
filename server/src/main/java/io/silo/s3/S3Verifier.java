package io.silo.s3;

import io.silo.jobs.Finding;
import io.silo.jobs.Phase;
import io.silo.jobs.PhaseName;
import io.silo.jobs.TenantScope;
import io.vertx.core.Future;
import io.vertx.sqlclient.SqlClient;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;
import software.amazon.awssdk.services.s3.S3AsyncClient;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Response;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * Checks a tenant's bucket against its documents: every document's object present at its key, of the source's size
 * and a copy of the source as it is now (the copy's recorded source ETag equals the source's, and the copy's own
 * ETag is the one recorded when it was made); every object in the bucket's {@code documents/} belonging to one of
 * the tenant's documents; every bucket control in place. Finding kinds (proto {@code FindingKind} names):
 * <ul>
 *   <li>{@value #OBJECT_MISSING}: no object at a document's key (or the copy failed: then counted as unfit);</li>
 *   <li>{@value #OBJECT_MISMATCH}: an object of another size or content, a source that changed or vanished since
 *       the copy, a copy in place that the documents table does not record, or (strict mode) a copy not stored
 *       with the bucket's encryption;</li>
 *   <li>{@value #OBJECT_EXTRA}: an object that is no document's copy (another tenant's, a renamed document's);</li>
 *   <li>{@value #CONTROL_OFF}: a control switched off, changed or unreadable;</li>
 *   <li>{@value #CONTROL_UNSUPPORTED}: a control the endpoint does not implement, accepted in dev mode (streamed
 *       as a warning and not counted, so the verification stays clean); in strict mode it is CONTROL_OFF.</li>
 * </ul>
 */
final class S3Verifier {

    static final String OBJECT_MISSING = "OBJECT_MISSING";
    static final String OBJECT_MISMATCH = "OBJECT_MISMATCH";
    static final String OBJECT_EXTRA = "OBJECT_EXTRA";
    static final String CONTROL_OFF = "CONTROL_OFF";
    static final String CONTROL_UNSUPPORTED = "CONTROL_UNSUPPORTED";

    private static final int PAGE = 500;

    private final SqlClient sql;
    private final DocumentsTable documents;
    private final S3AsyncClient s3;
    private final S3Retry retry;
    private final TenantScope scope;
    private final long tenantId;
    private final String bucket;
    private final String encryption;
    private final AtomicLong unencrypted = new AtomicLong();
    private final AtomicLong findings = new AtomicLong();
    private final AtomicLong unfit = new AtomicLong();
    private long checked;
    private final boolean strict;

    S3Verifier(SqlClient sql, DocumentsTable documents, S3AsyncClient s3, S3Retry retry, TenantScope scope,
               long tenantId, String bucket, String encryption, boolean strict) {
        this.encryption = encryption;
        this.strict = strict;
        this.sql = sql;
        this.documents = documents;
        this.s3 = s3;
        this.retry = retry;
        this.scope = scope;
        this.tenantId = tenantId;
        this.bucket = bucket;
    }

    /**
     * Verifies; {@code controls} is the bucket's control report as read back now and judged by what provisioning
     * learnt ({@link BucketReport#knowingUnsupported}), null when there is no bucket. Call on the retry's context.
     */
    Future<Phase.Verified> run(BucketReport controls) {
        if (controls != null) {
            for (ControlResult c : controls.controls()) {
                if (c.state().acceptableInStrictMode()) {
                    continue;
                }
                boolean accepted = !strict && c.state() == ControlState.UNSUPPORTED_BY_ENDPOINT;
                report(accepted ? CONTROL_UNSUPPORTED : CONTROL_OFF, bucket, c.control().name(),
                        c.control() + " is " + c.state() + (c.detail().isEmpty() ? "" : " (" + c.detail() + ")"),
                        accepted);
            }
        }
        return documents(0)
                .compose(v -> bucket == null || scope.stop().getAsBoolean() ? Future.succeededFuture()
                        : extras(null))
                .map(v -> {
                    if (!strict && unencrypted.get() > 0) {
                        report(CONTROL_UNSUPPORTED, bucket, BucketControl.ENCRYPTION.name(), unencrypted.get() + " of "
                                + checked + " copies are stored without " + encryption + " encryption: the endpoint"
                                + " ignores x-amz-server-side-encryption on copies (allowed in dev mode only)", true);
                    }
                    return new Phase.Verified(checked, findings.get(), unfit.get());
                });
    }

    private void report(String kind, String item, String field, String message, boolean unfitFinding) {
        if (kind.equals(CONTROL_UNSUPPORTED)) {
            // Shown, never counted: dev mode accepts what the endpoint cannot do, so the verification stays clean.
            scope.sink().finding(new Finding(PhaseName.S3, kind, item, field, message));
            return;
        }
        findings.incrementAndGet();
        if (unfitFinding) {
            unfit.incrementAndGet();
        }
        scope.sink().finding(new Finding(PhaseName.S3, kind, item, field, message));
    }

    private Future<Void> documents(long after) {
        if (scope.stop().getAsBoolean()) {
            return Future.succeededFuture();
        }
        return documents.page(sql, tenantId, after, PAGE).compose(page -> {
            if (page.isEmpty()) {
                return Future.succeededFuture();
            }
            List<Future<Void>> checks = new ArrayList<>(page.size());
            for (DocumentsTable.Doc doc : page) {
                checks.add(check(doc));
            }
            return Future.all(checks).compose(all -> {
                checked += page.size();
                scope.sink().checked(checked);
                return page.size() < PAGE ? Future.succeededFuture() : documents(page.get(page.size() - 1).id());
            });
        });
    }

    private Future<Void> check(DocumentsTable.Doc doc) {
        String key = doc.targetKey();
        if (doc.failed()) {
            report(OBJECT_MISSING, key, null, "document " + doc.id() + " failed to copy: " + doc.siloError(), true);
            return Future.succeededFuture();
        }
        if (bucket == null) {
            report(OBJECT_MISSING, key, null, "document " + doc.id() + ": the tenant has no bucket yet", false);
            return Future.succeededFuture();
        }
        Future<HeadObjectResponse> source = doc.sourcePurged() ? Future.succeededFuture(null)
                : head(doc.bucket(), doc.key());
        return Future.all(head(bucket, key), source).map(both -> {
            HeadObjectResponse target = both.resultAt(0);
            HeadObjectResponse src = both.resultAt(1);
            String problem = problem(doc, target, src);
            if (problem == null && !encryption.equals(target.serverSideEncryptionAsString())) {
                // Stored in the clear (or otherwise) although the copy asked for the bucket's encryption.
                unencrypted.incrementAndGet();
                if (strict) {
                    problem = "stored with encryption " + target.serverSideEncryptionAsString() + ", not "
                            + encryption;
                }
            }
            if (problem != null) {
                report(target == null ? OBJECT_MISSING : OBJECT_MISMATCH, key, null,
                        "document " + doc.id() + ": " + problem, false);
            }
            return null;
        });
    }

    /** What is wrong with a document's copy, or null. */
    private String problem(DocumentsTable.Doc doc, HeadObjectResponse target, HeadObjectResponse source) {
        if (target == null) {
            return doc.copied() ? "its copy is gone from s3://" + bucket : "not copied yet";
        }
        String targetEtag = ObjectCopier.etag(target.eTag());
        String copiedFrom = target.metadata().get(ObjectCopier.SOURCE_ETAG_META);
        if (doc.sourcePurged()) {
            // The copy is the only one left: it must be exactly what was verified before the purge.
            return Objects.equals(targetEtag, doc.siloEtag()) && target.contentLength() == doc.size() ? null
                    : "the source was purged and the copy changed since (ETag " + targetEtag + ", recorded "
                    + doc.siloEtag() + ")";
        }
        if (source == null) {
            return "the source s3://" + doc.bucket() + "/" + doc.key() + " is gone; the copy is the only one";
        }
        if (!Objects.equals(target.contentLength(), source.contentLength())) {
            return "size " + target.contentLength() + " differs from the source's " + source.contentLength();
        }
        if (!Objects.equals(copiedFrom, ObjectCopier.etag(source.eTag()))) {
            return copiedFrom == null ? "the object is not a copy Silo made (no source ETag recorded on it)"
                    : "the source changed since the copy (copied from ETag " + copiedFrom + ", source now "
                    + ObjectCopier.etag(source.eTag()) + ")";
        }
        if (!doc.copied()) {
            return "a copy is in place but the documents table does not record it (silo_status is "
                    + doc.siloStatus() + "); run the migration again to record it";
        }
        if (doc.siloEtag() != null && !doc.siloEtag().equals(targetEtag)) {
            return "the copy changed in the tenant bucket since it was made (ETag " + targetEtag + ", recorded "
                    + doc.siloEtag() + ")";
        }
        return null;
    }

    private Future<HeadObjectResponse> head(String b, String k) {
        return retry.call("HeadObject", () -> s3.headObject(r -> r.bucket(b).key(k)))
                .recover(e -> S3Errors.notFound(e) ? Future.succeededFuture(null) : Future.failedFuture(e));
    }

    /** Lists the bucket and reports every object that is no document's copy. */
    private Future<Void> extras(String continuation) {
        if (scope.stop().getAsBoolean()) {
            return Future.succeededFuture();
        }
        return retry.call("ListObjectsV2", () -> s3.listObjectsV2(r -> r.bucket(bucket).continuationToken(continuation)))
                .compose(listing -> judge(listing).compose(v -> Boolean.TRUE.equals(listing.isTruncated())
                        ? extras(listing.nextContinuationToken()) : Future.succeededFuture()));
    }

    private Future<Void> judge(ListObjectsV2Response listing) {
        Map<Long, List<String>> byId = new HashMap<>();
        for (S3Object o : listing.contents()) {
            String key = o.key();
            if (key.startsWith(BucketProvisioner.TEMP_PREFIX)) {
                continue; // the application's direct uploads, which expire after a day
            }
            Long id = documentId(key);
            if (id == null) {
                report(OBJECT_EXTRA, key, null, "not under documents/<document id>/: no document's copy", false);
            } else {
                byId.computeIfAbsent(id, i -> new ArrayList<>()).add(key);
            }
        }
        return documents.byIds(sql, tenantId, new ArrayList<>(byId.keySet())).map(docs -> {
            Map<Long, DocumentsTable.Doc> found = new HashMap<>();
            docs.forEach(d -> found.put(d.id(), d));
            byId.forEach((id, keys) -> {
                DocumentsTable.Doc doc = found.get(id);
                for (String key : keys) {
                    if (doc == null) {
                        report(OBJECT_EXTRA, key, null, "document " + id + " is not one of this tenant's", false);
                    } else if (!key.equals(doc.targetKey())) {
                        report(OBJECT_EXTRA, key, null, "document " + id + " belongs at " + doc.targetKey(), false);
                    }
                }
            });
            return null;
        });
    }

    /** The id in {@code documents/<id>/...}, or null for any other key. */
    static Long documentId(String key) {
        if (!key.startsWith(FilenameSanitizer.DOCUMENTS_PREFIX)) {
            return null;
        }
        int slash = key.indexOf('/', FilenameSanitizer.DOCUMENTS_PREFIX.length());
        if (slash < 0) {
            return null;
        }
        try {
            return Long.parseLong(key.substring(FilenameSanitizer.DOCUMENTS_PREFIX.length(), slash));
        } catch (NumberFormatException e) {
            return null;
        }
    }
}
