package io.silo.s3;

import io.vertx.core.Future;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.function.IntFunction;
import java.util.function.Supplier;
import software.amazon.awssdk.services.s3.S3AsyncClient;
import software.amazon.awssdk.services.s3.model.CompletedPart;
import software.amazon.awssdk.services.s3.model.CopyObjectRequest;
import software.amazon.awssdk.services.s3.model.CopyObjectResponse;
import software.amazon.awssdk.services.s3.model.CopyObjectResult;
import software.amazon.awssdk.services.s3.model.CreateMultipartUploadRequest;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.MetadataDirective;
import software.amazon.awssdk.services.s3.model.ServerSideEncryption;

/**
 * Copies one document's object from the shared bucket into its tenant bucket, server-side: HeadObject of the source
 * (its ETag, size, content type and metadata), then a conditional CopyObject ({@code x-amz-copy-source-if-match} and,
 * in a versioned source, the exact version) with the metadata replaced by the source's own plus the original
 * filename as Content-Disposition, and the bucket's encryption asked for explicitly. Objects above the multipart
 * threshold go through UploadPartCopy, each part in the same window.
 *
 * <p>Idempotent: when the target may already hold the object, a HeadObject of the target comes first, and an object
 * of the same size whose recorded source ETag ({@value #SOURCE_ETAG_META} metadata) equals the source's is left
 * alone. A blind re-copy would add a version to the versioned tenant bucket.
 */
public final class ObjectCopier {

    /** User metadata on every copy: the ETag of the source object it was copied from. */
    public static final String SOURCE_ETAG_META = "silo-source-etag";

    /** A copy is refused by the size of its headers past about 8 KiB (S3, and S3Mock's Tomcat): names are capped. */
    private static final int MAX_DISPOSITION_ENCODED = 1_500;
    private static final int MAX_DISPOSITION_ASCII = 200;
    private static final int SOURCE_CHANGE_RETRIES = 3;

    /** How copies are made: the tenant bucket's encryption, the multipart cut-over and the KMS budget. */
    public record Options(String algorithm, String kmsKeyId, boolean bucketKey, long multipartThreshold,
                          long partSize, Supplier<Future<Void>> kmsPermit, Runnable onKmsThrottled) {
        public Options {
            Objects.requireNonNull(algorithm, "algorithm");
            onKmsThrottled = onKmsThrottled == null ? () -> { } : onKmsThrottled;
        }

        static Options of(S3Spec spec, Supplier<Future<Void>> kmsPermit, Runnable onKmsThrottled) {
            return new Options(spec.encryption(), spec.kmsKeyId(), spec.bucketKey(), spec.multipartThresholdBytes(),
                    spec.partSizeBytes(), kmsPermit, onKmsThrottled);
        }
    }

    /** What became of one copy. */
    public enum Kind {
        /** Copied now. */
        COPIED,
        /** The target already held this source's bytes; nothing was written. */
        ALREADY_THERE,
        /** The document could not be copied; {@code code}, {@code httpStatus} and {@code message} say why. */
        FAILED
    }

    /**
     * One copy's result; ETags without their quotes. {@code sse} is the server-side encryption the endpoint says the
     * copy is stored with (Ceph RGW 16.2 ignores the one a CopyObject asks for).
     */
    public record Result(Kind kind, String versionId, String etag, String sourceEtag, String sourceVersionId,
                         long bytes, String sse, String code, Integer httpStatus, String message) {
        static Result failed(String code, Integer status, String message, String sourceVersionId) {
            return new Result(Kind.FAILED, null, null, null, sourceVersionId, 0, null, code, status, message);
        }

        public boolean ok() {
            return kind != Kind.FAILED;
        }
    }

    private final S3AsyncClient s3;
    private final S3Retry lookups;
    private final S3Retry retry;
    private final Options options;

    /** A copier whose lookups and writes share one window. */
    public ObjectCopier(S3AsyncClient s3, S3Retry retry, Options options) {
        this(s3, retry, retry, options);
    }

    /**
     * A copier with a window for lookups (HeadObject) and another for writes (copies), like rclone's checkers and
     * transfers: a document's HeadObject never waits for a copy slot, so with round trips of any length the copies
     * in flight stay at the window's size instead of half of it.
     */
    public ObjectCopier(S3AsyncClient s3, S3Retry lookups, S3Retry writes, Options options) {
        this.s3 = s3;
        this.lookups = lookups;
        this.retry = writes;
        this.options = options;
    }

    /**
     * Copies {@code doc} to {@code targetBucket}. Completes with a FAILED result for what a person must look at
     * (the source is gone or refused, the request is rejected); fails only for faults that outlived every retry
     * (UNAVAILABLE), which end the run for the job runner to resume.
     */
    public Future<Result> copy(DocumentsTable.Doc doc, String targetBucket, boolean targetMayHold) {
        String key = doc.targetKey();
        if (doc.sourcePurged()) {
            return confirmOnlyCopy(doc, targetBucket, key);
        }
        return copy(doc, targetBucket, key, targetMayHold, 0);
    }

    private Future<Result> copy(DocumentsTable.Doc doc, String targetBucket, String key, boolean targetMayHold,
                                int sourceChanges) {
        return headSource(doc).compose(source -> {
            if (source == null) {
                return Future.succeededFuture(Result.failed("NoSuchKey", 404, "source object s3://" + doc.bucket()
                        + "/" + doc.key() + " does not exist", null));
            }
            String sourceEtag = etag(source.eTag());
            Future<Result> existing = targetMayHold ? alreadyThere(targetBucket, key, source)
                    : Future.succeededFuture(null);
            return existing.compose(found -> {
                if (found != null) {
                    return Future.succeededFuture(found);
                }
                Future<Result> written = source.contentLength() > options.multipartThreshold()
                        ? multipart(doc, source, targetBucket, key)
                        : single(doc, source, targetBucket, key);
                return written.recover(e -> {
                    if (S3Errors.status(e) == 412 && sourceChanges < SOURCE_CHANGE_RETRIES) {
                        // The source changed between HeadObject and the copy: copy what it is now.
                        return copy(doc, targetBucket, key, true, sourceChanges + 1);
                    }
                    return itemFailure(e, source.versionId(), sourceEtag);
                });
            });
        }, e -> itemFailure(e, null, null));
    }

    /** A failure of this document alone becomes its FAILED result; a fault that outlived the retries stays one. */
    private static Future<Result> itemFailure(Throwable e, String sourceVersionId, String sourceEtag) {
        Throwable cause = S3Errors.unwrap(e);
        if (cause instanceof io.silo.SiloException || S3Errors.retryable(cause)) {
            return Future.failedFuture(cause);
        }
        int status = S3Errors.status(cause);
        String message = S3Errors.describe(cause);
        if (status == 412) {
            message = "the source kept changing during the copy (ETag " + sourceEtag + " and newer)";
        }
        return Future.succeededFuture(Result.failed(S3Errors.code(cause), status == 0 ? null : status, message,
                sourceVersionId));
    }

    private Future<HeadObjectResponse> headSource(DocumentsTable.Doc doc) {
        return lookups.call("HeadObject (source)", () -> s3.headObject(b -> b.bucket(doc.bucket()).key(doc.key())))
                .recover(e -> S3Errors.notFound(e) ? Future.succeededFuture(null) : Future.failedFuture(e));
    }

    private Future<HeadObjectResponse> headTarget(String bucket, String key) {
        return lookups.call("HeadObject (target)", () -> s3.headObject(b -> b.bucket(bucket).key(key)))
                .recover(e -> S3Errors.notFound(e) ? Future.succeededFuture(null) : Future.failedFuture(e));
    }

    private Future<Result> alreadyThere(String bucket, String key, HeadObjectResponse source) {
        String sourceEtag = etag(source.eTag());
        return headTarget(bucket, key).map(target -> {
            if (target == null || !Objects.equals(target.contentLength(), source.contentLength())
                    || !sourceEtag.equals(target.metadata().get(SOURCE_ETAG_META))) {
                return null;
            }
            return new Result(Kind.ALREADY_THERE, target.versionId(), etag(target.eTag()), sourceEtag,
                    source.versionId(), source.contentLength(), target.serverSideEncryptionAsString(), null, null, null);
        });
    }

    /** The source was purged: the copy is the only one; it must still be there, unchanged. */
    private Future<Result> confirmOnlyCopy(DocumentsTable.Doc doc, String bucket, String key) {
        return headTarget(bucket, key).map(target -> {
            if (target != null && etag(target.eTag()).equals(doc.siloEtag())) {
                return new Result(Kind.ALREADY_THERE, target.versionId(), doc.siloEtag(), doc.siloSourceEtag(), null,
                        target.contentLength(), target.serverSideEncryptionAsString(), null, null, null);
            }
            return Result.failed("CopyLost", target == null ? 404 : null, "the source was purged on "
                    + doc.sourcePurgedAt() + " and its copy s3://" + bucket + "/" + key
                    + (target == null ? " is missing" : " has changed (ETag " + etag(target.eTag()) + ")"), null);
        });
    }

    private Map<String, String> metadata(HeadObjectResponse source) {
        Map<String, String> meta = new HashMap<>(source.metadata());
        meta.put(SOURCE_ETAG_META, etag(source.eTag()));
        return meta;
    }

    private Future<Void> kmsPermit() {
        // The budget may answer on another context; the window below belongs to the retry's.
        return options.kmsPermit() == null ? Future.succeededFuture()
                : Future.fromCompletionStage(options.kmsPermit().get().toCompletionStage(), retry.context());
    }

    /**
     * The target object, when an earlier attempt whose answer was lost (a reset after the request went out) did
     * write it: a retry then takes it instead of copying again, which would add a version. Null otherwise.
     */
    private CompletableFuture<HeadObjectResponse> landed(String bucket, String key, HeadObjectResponse source) {
        return s3.headObject(b -> b.bucket(bucket).key(key)).handle((target, e) -> target != null
                && Objects.equals(target.contentLength(), source.contentLength())
                && etag(source.eTag()).equals(target.metadata().get(SOURCE_ETAG_META)) ? target : null);
    }

    private <T> Future<T> withKms(String what, IntFunction<CompletableFuture<T>> request) {
        return kmsPermit().compose(v -> retry.call(what, request)).onFailure(e -> {
            if (S3Errors.code(e).startsWith("KMS.Throttling") || S3Errors.unwrap(e).getMessage() != null
                    && S3Errors.unwrap(e).getMessage().contains("KMS.ThrottlingException")) {
                options.onKmsThrottled().run();
            }
        });
    }

    private Future<Result> single(DocumentsTable.Doc doc, HeadObjectResponse source, String bucket, String key) {
        CopyObjectRequest.Builder request = CopyObjectRequest.builder()
                .sourceBucket(doc.bucket()).sourceKey(doc.key())
                .copySourceIfMatch(source.eTag())
                .destinationBucket(bucket).destinationKey(key)
                .metadataDirective(MetadataDirective.REPLACE)
                .contentType(source.contentType())
                .contentEncoding(source.contentEncoding())
                .contentLanguage(source.contentLanguage())
                .cacheControl(source.cacheControl())
                .contentDisposition(contentDisposition(doc.filename()))
                .metadata(metadata(source));
        if (source.versionId() != null && !"null".equals(source.versionId())) {
            request.sourceVersionId(source.versionId());
        }
        encryption(request);
        CopyObjectRequest built = request.build();
        IntFunction<CompletableFuture<CopyObjectResponse>> send = attempt -> attempt == 0 ? s3.copyObject(built)
                : landed(bucket, key, source).thenCompose(found -> found != null
                ? CompletableFuture.completedFuture(CopyObjectResponse.builder().versionId(found.versionId())
                .serverSideEncryption(found.serverSideEncryptionAsString())
                .copyObjectResult(CopyObjectResult.builder().eTag(found.eTag()).build()).build())
                : s3.copyObject(built));
        return withKms("CopyObject", send).map(r -> copied(r.versionId(), r.copyObjectResult().eTag(),
                r.serverSideEncryptionAsString(), source));
    }

    private void encryption(CopyObjectRequest.Builder b) {
        b.serverSideEncryption(options.algorithm());
        if (BucketSettings.Encryption.AWS_KMS.equals(options.algorithm())) {
            b.ssekmsKeyId(options.kmsKeyId());
            if (options.bucketKey()) {
                b.bucketKeyEnabled(true);
            }
        }
    }

    private Future<Result> multipart(DocumentsTable.Doc doc, HeadObjectResponse source, String bucket, String key) {
        CreateMultipartUploadRequest.Builder create = CreateMultipartUploadRequest.builder()
                .bucket(bucket).key(key)
                .contentType(source.contentType())
                .contentEncoding(source.contentEncoding())
                .contentLanguage(source.contentLanguage())
                .cacheControl(source.cacheControl())
                .contentDisposition(contentDisposition(doc.filename()))
                .metadata(metadata(source))
                .serverSideEncryption(ServerSideEncryption.fromValue(options.algorithm()));
        if (BucketSettings.Encryption.AWS_KMS.equals(options.algorithm())) {
            create.ssekmsKeyId(options.kmsKeyId());
            if (options.bucketKey()) {
                create.bucketKeyEnabled(true);
            }
        }
        CreateMultipartUploadRequest built = create.build();
        String sourceVersion = source.versionId() != null && !"null".equals(source.versionId())
                ? source.versionId() : null;
        return withKms("CreateMultipartUpload", attempt -> s3.createMultipartUpload(built)).compose(upload -> {
            String uploadId = upload.uploadId();
            long size = source.contentLength();
            long partSize = options.partSize();
            List<Future<CompletedPart>> parts = new ArrayList<>();
            for (int i = 0; (long) i * partSize < size; i++) {
                int number = i + 1;
                long first = (long) i * partSize;
                long last = Math.min(size, first + partSize) - 1;
                parts.add(withKms("UploadPartCopy", attempt -> s3.uploadPartCopy(b -> {
                    b.sourceBucket(doc.bucket()).sourceKey(doc.key()).copySourceIfMatch(source.eTag())
                            .copySourceRange("bytes=" + first + "-" + last)
                            .destinationBucket(bucket).destinationKey(key).uploadId(uploadId).partNumber(number);
                    if (sourceVersion != null) {
                        b.sourceVersionId(sourceVersion);
                    }
                })).map(r -> CompletedPart.builder().partNumber(number).eTag(r.copyPartResult().eTag()).build()));
            }
            return Future.all(parts)
                    .compose(all -> {
                        List<CompletedPart> done = new ArrayList<>();
                        for (Future<CompletedPart> p : parts) {
                            done.add(p.result());
                        }
                        // A lost answer to Complete leaves the upload gone (a retry gets NoSuchUpload) and the
                        // object in place: look for it before completing again.
                        return retry.call("CompleteMultipartUpload", (IntFunction<CompletableFuture<Result>>) attempt ->
                                (attempt == 0 ? CompletableFuture.<HeadObjectResponse>completedFuture(null)
                                        : landed(bucket, key, source)).thenCompose(found -> found != null
                                        ? CompletableFuture.completedFuture(copied(found.versionId(), found.eTag(),
                                        found.serverSideEncryptionAsString(), source))
                                        : s3.completeMultipartUpload(b -> b.bucket(bucket).key(key).uploadId(uploadId)
                                        .multipartUpload(m -> m.parts(done)))
                                        .thenApply(r -> copied(r.versionId(), r.eTag(),
                                                r.serverSideEncryptionAsString(), source))));
                    })
                    .recover(e -> {
                        // Best effort: the bucket's lifecycle aborts what is left after 7 days, and rollback too.
                        s3.abortMultipartUpload(b -> b.bucket(bucket).key(key).uploadId(uploadId));
                        return Future.failedFuture(e);
                    });
        });
    }

    private static Result copied(String versionId, String etag, String sse, HeadObjectResponse source) {
        return new Result(Kind.COPIED, versionId, etag(etag), etag(source.eTag()), source.versionId(),
                source.contentLength(), sse, null, null, null);
    }

    /** Whether {@code result} is stored with the encryption the copies ask for. */
    public boolean encryptedAsAsked(Result result) {
        return options.algorithm().equals(result.sse());
    }

    /** An ETag without its quotes. */
    public static String etag(String raw) {
        if (raw == null) {
            return null;
        }
        String s = raw.trim();
        return s.length() >= 2 && s.startsWith("\"") && s.endsWith("\"") ? s.substring(1, s.length() - 1) : s;
    }

    /**
     * {@code attachment} with the original filename: an ASCII fallback (anything else, quotes and backslashes
     * become {@code _}) and the exact name UTF-8 percent-encoded in {@code filename*} (RFC 6266, RFC 8187), so no
     * character of a hostile name can end the header or start another. Very long names are shortened (keeping the
     * extension) so the copy request stays under S3's 8 KiB header limit.
     */
    public static String contentDisposition(String filename) {
        String name = filename == null || filename.isEmpty() ? FilenameSanitizer.FALLBACK_STEM : filename;
        String encoded = percentEncode(name);
        if (encoded.length() > MAX_DISPOSITION_ENCODED) {
            int dot = name.lastIndexOf('.');
            String extension = dot > 0 && name.length() - dot <= 17 ? name.substring(dot) : "";
            String stem = name.substring(0, name.length() - extension.length());
            int budget = MAX_DISPOSITION_ENCODED - percentEncode(extension).length();
            StringBuilder kept = new StringBuilder();
            int used = 0;
            for (int i = 0; i < stem.length(); ) {
                int cp = stem.codePointAt(i);
                String piece = percentEncode(new String(Character.toChars(cp)));
                if (used + piece.length() > budget) {
                    break;
                }
                kept.appendCodePoint(cp);
                used += piece.length();
                i += Character.charCount(cp);
            }
            name = kept + extension;
            encoded = percentEncode(name);
        }
        StringBuilder ascii = new StringBuilder();
        name.codePoints().limit(MAX_DISPOSITION_ASCII).forEach(cp ->
                ascii.append(cp >= 0x20 && cp < 0x7F && cp != '"' && cp != '\\' ? (char) cp : '_'));
        return "attachment; filename=\"" + ascii + "\"; filename*=UTF-8''" + encoded;
    }

    private static String percentEncode(String s) {
        StringBuilder out = new StringBuilder();
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
            int c = b & 0xFF;
            boolean attrChar = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
                    || "!#$&+-.^_`|~".indexOf(c) >= 0;
            if (attrChar) {
                out.append((char) c);
            } else {
                out.append('%').append(Character.toUpperCase(Character.forDigit(c >> 4, 16)))
                        .append(Character.toUpperCase(Character.forDigit(c & 0xF, 16)));
            }
        }
        return out.toString();
    }
}
