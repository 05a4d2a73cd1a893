package io.silo.s3;

import io.silo.SiloException;
import io.silo.store.UsageStore;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.services.s3.S3AsyncClient;
import software.amazon.awssdk.services.s3.model.S3Exception;

/**
 * Decides whether a document or an upload may be handed out as a presigned URL, and hands it out.
 *
 * <p>A download URL only ever points at the document's copy in its tenant's bucket ({@code silo_bucket/silo_key},
 * which the S3 phase records once the copy is made), never at the shared bucket: a document of another tenant is
 * NOT_FOUND (indistinguishable from one that does not exist), one without a copy or whose copy is gone is
 * FAILED_PRECONDITION, saying what to do. The copy is checked with a HEAD first, so a URL is never handed out for
 * an object that is not there.
 */
public final class DocumentAccess implements AutoCloseable {

  /** What the S3 phase records on a document whose copy is in the tenant bucket (shared schema contract). */
  static final String COPIED = "COPIED";

  private final Vertx vertx;
  private final UsageStore store;
  private final DocumentUrls urls;
  private final S3AsyncClient s3;
  private final String sharedBucket;

  /** @param sharedBucket the application's shared bucket, which no URL may ever point into */
  public DocumentAccess(Vertx vertx, UsageStore store, DocumentUrls urls, S3AsyncClient s3, String sharedBucket) {
    this.vertx = vertx;
    this.store = store;
    this.urls = urls;
    this.s3 = s3;
    this.sharedBucket = sharedBucket;
  }

  /** A presigned GET for the document's copy in the tenant bucket. */
  public Future<DocumentUrls.Presigned> downloadUrl(String tenant, long documentId, Duration validity) {
    return store.document(tenant, documentId).compose(found -> found.isPresent()
        ? Future.succeededFuture(found.get())
        : store.tenantId(tenant).compose(id -> Future.failedFuture(id.isEmpty()
            ? SiloException.notFound("tenant '" + tenant + "' not found")
            : SiloException.notFound("document " + documentId + " not found in tenant '" + tenant + "'"))))
        .compose(doc -> {
          String where = "document " + documentId + " of tenant '" + tenant + "'";
          if (!COPIED.equals(doc.siloStatus()) || doc.siloBucket() == null || doc.siloKey() == null) {
            return Future.failedFuture(SiloException.precondition(where + " has no copy in the tenant's bucket yet ("
                + (doc.siloStatus() == null ? "not migrated" : "copy " + doc.siloStatus()
                + (doc.siloError() == null ? "" : ": " + doc.siloError()))
                + "); migrate the tenant first (silo migrate " + tenant + ")"));
          }
          String bucket = doc.siloBucket();
          if (bucket.equals(sharedBucket) || bucket.equals(doc.sharedBucket())
              || (doc.tenantBucket() != null && !bucket.equals(doc.tenantBucket()))) {
            return Future.failedFuture(SiloException.precondition(where + " is recorded in bucket '" + bucket
                + "', which is not the tenant's own bucket" + (doc.tenantBucket() == null ? ""
                : " ('" + doc.tenantBucket() + "')") + "; refusing to sign a URL for it (check the S3 migration)"));
          }
          return object(bucket, doc, where)
              .compose(v -> vertx.executeBlocking(() -> urls.download(bucket, doc.siloKey(), doc.siloVersionId(),
                  doc.filename(), validity), false));
        });
  }

  /** A presigned PUT into {@code temp/} of the tenant's bucket. */
  public Future<DocumentUrls.Presigned> uploadUrl(String tenant, String filename, Duration validity) {
    return store.tenantBucket(tenant).compose(found -> {
      Optional<String> bucket = found.filter(b -> !b.equals(sharedBucket));
      if (bucket.isEmpty()) {
        return Future.failedFuture(SiloException.precondition("tenant '" + tenant + "' has no bucket of its own yet;"
            + " migrate it first (silo migrate " + tenant + ")"));
      }
      return s3(s3.headBucket(b -> b.bucket(bucket.get())), "bucket '" + bucket.get() + "' of tenant '" + tenant
          + "'", "it is gone; re-run the tenant's migration to create it again")
          .compose(v -> store.bucketEncryption(tenant))
          .compose(recorded -> {
            // The bucket's policy demands the encryption its migration asked for, which a request may have set
            // apart from s3.encryption; only a tenant without such a record gets the configured one.
            BucketSettings.Encryption encryption = recorded
                .map(e -> new BucketSettings.Encryption(e[0], e[1])).orElse(null);
            return vertx.executeBlocking(() -> urls.upload(bucket.get(), filename, validity, encryption), false);
          });
    });
  }

  private Future<Void> object(String bucket, UsageStore.Document doc, String where) {
    String gone = doc.sourcePurgedAt() != null
        ? "the shared-bucket original was purged at " + doc.sourcePurgedAt() + ", so this was the only copy: restore"
            + " it from a noncurrent version or a backup"
        : "re-run the tenant's migration to copy it again";
    return s3(s3.headObject(b -> b.bucket(bucket).key(doc.siloKey()).versionId(emptyToNull(doc.siloVersionId()))),
        where + " (s3://" + bucket + "/" + doc.siloKey() + ")", "its copy is gone from the tenant's bucket; " + gone);
  }

  /** Completes when {@code call} succeeds; 404 and 403 become FAILED_PRECONDITION, anything else UNAVAILABLE. */
  private Future<Void> s3(CompletableFuture<?> call, String what, String whenMissing) {
    CompletableFuture<Throwable> outcome = call.handle((ok, failure) -> failure == null ? null
        : translate(failure instanceof CompletionException && failure.getCause() != null ? failure.getCause()
            : failure, what, whenMissing));
    return Future.fromCompletionStage(outcome, vertx.getOrCreateContext())
        .compose(failure -> failure == null ? Future.succeededFuture() : Future.failedFuture(failure));
  }

  private static Throwable translate(Throwable cause, String what, String whenMissing) {
    if (cause instanceof S3Exception e && e.statusCode() == 404) {
      return SiloException.precondition(what + ": " + whenMissing);
    }
    if (cause instanceof S3Exception e && e.statusCode() == 403) {
      return SiloException.precondition(what + ": Silo's S3 credentials may not read it (403)");
    }
    if (cause instanceof SdkClientException && String.valueOf(cause.getMessage()).contains("credentials")) {
      // UNAVAILABLE like any other chain failure: instance or container credentials can be briefly unreachable.
      return SiloException.unavailable("no S3 credentials for " + what + ": set s3.accessKeyId and"
          + " s3.secretAccessKey, or provide them through the default AWS chain", cause);
    }
    if (cause instanceof SdkClientException || cause instanceof S3Exception) {
      return SiloException.unavailable("S3 did not answer for " + what + " (" + cause.getClass().getSimpleName()
          + "), retry later", cause);
    }
    return cause;
  }

  private static String emptyToNull(String value) {
    return value == null || value.isEmpty() ? null : value;
  }

  @Override
  public void close() {
    urls.close();
    s3.close();
  }
}
