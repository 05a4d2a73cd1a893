package io.silo.s3;

import io.silo.SiloException;
import io.vertx.core.Context;
import io.vertx.core.Future;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import software.amazon.awssdk.services.s3.S3AsyncClient;
import software.amazon.awssdk.services.s3.model.CreateBucketConfiguration;
import software.amazon.awssdk.services.s3.model.ObjectIdentifier;

/**
 * The permissions preflight, before the first change for a tenant: can these credentials list the source, create a
 * bucket, put each control, copy into it and clean up? S3 has no dry run and IAM's policy simulator needs IAM
 * permissions of its own, so the check does it for real on a throw-away probe bucket ({@code <prefix>-probe-<hex>},
 * journalled like a tenant bucket so a crash cannot leave it untracked), then deletes the probe. Only 403 answers
 * count as missing permissions: what an endpoint does not implement is the provisioner's report to make.
 */
final class Preflight {

    private final S3AsyncClient control;
    private final S3AsyncClient data;
    private final BucketSettings settings;
    private final BucketNamer namer;
    private final TenantBuckets buckets;

    Preflight(S3AsyncClient control, S3AsyncClient data, BucketSettings settings, BucketNamer namer,
              TenantBuckets buckets) {
        this.control = control;
        this.data = data;
        this.settings = settings;
        this.namer = namer;
        this.buckets = buckets;
    }

    /** What a preflight found: IAM actions the credentials lack, and what happened to the probe bucket. */
    record Report(List<String> missing, String probe, boolean probeRemoved) {
        boolean ok() {
            return missing.isEmpty();
        }
    }

    /**
     * Runs the checks; fails with FAILED_PRECONDITION naming every missing permission, or NOT_FOUND-like
     * FAILED_PRECONDITION when the source bucket does not exist. {@code sample} is a document to test-copy (null
     * when the tenant has none).
     */
    Future<Report> check(Context context, String tenant, String costCentre, String sourceBucket,
                         DocumentsTable.Doc sample, ObjectCopier.Options copyOptions) {
        Set<String> missing = new LinkedHashSet<>();
        String probe = probeName();
        BucketProvisioner.Journal journal = buckets.journal(TenantBuckets.Purpose.PROBE);
        CompletableFuture<Boolean> listed = control.listObjectsV2(b -> b.bucket(sourceBucket).maxKeys(1))
                .handle((ok, e) -> {
                    if (e == null) {
                        return true;
                    }
                    if (S3Errors.status(e) == 403) {
                        missing.add("s3:ListBucket on " + sourceBucket);
                        return true;
                    }
                    if (S3Errors.status(e) == 404) {
                        throw SiloException.precondition("the shared bucket " + sourceBucket + " does not exist ("
                                + S3Errors.code(e) + "); check s3.sharedBucket and the documents' s3_bucket");
                    }
                    throw new java.util.concurrent.CompletionException(S3Errors.unwrap(e));
                });
        CompletableFuture<Boolean> created = listed
                .thenCompose(v -> journal.beforeCreate(tenant, probe))
                .thenCompose(v -> control.createBucket(b -> {
                    b.bucket(probe);
                    if (!software.amazon.awssdk.regions.Region.US_EAST_1.equals(settings.region())) {
                        b.createBucketConfiguration(CreateBucketConfiguration.builder()
                                .locationConstraint(settings.region().id()).build());
                    }
                }).handle((ok, e) -> {
                    if (e == null) {
                        return true;
                    }
                    if (S3Errors.status(e) == 403) {
                        missing.add("s3:CreateBucket");
                        return false;
                    }
                    throw new java.util.concurrent.CompletionException(S3Errors.unwrap(e));
                }))
                .thenCompose(made -> journal.afterCreate(tenant, probe, made
                        ? BucketProvisioner.Journal.Outcome.CREATED : BucketProvisioner.Journal.Outcome.TAKEN)
                        .thenApply(v -> made));
        return Future.fromCompletionStage(created, context).compose(made -> {
            if (!made) {
                return Future.succeededFuture(new Report(List.copyOf(missing), probe, true));
            }
            BucketProvisioner provisioner = new BucketProvisioner(control, settings, namer, BucketProvisioner.Journal.NONE);
            return Future.fromCompletionStage(provisioner.applyControls(probe,
                            new BucketProvisioner.TenantBucket(tenant, costCentre, null)), context)
                    .map(report -> {
                        for (ControlResult c : report.controls()) {
                            if (c.state() == ControlState.FAILED && c.detail().contains("HTTP 403")) {
                                missing.add(c.detail().startsWith("put") ? putAction(c.control()) + " (" + c.control() + ")"
                                        : getAction(c.control()) + " (" + c.control() + ", reading it back)");
                            }
                        }
                        return report;
                    })
                    .compose(report -> sample == null ? Future.succeededFuture()
                            : testCopy(context, sample, probe, copyOptions, missing))
                    .compose(v -> cleanUp(context, probe, missing))
                    .map(removed -> new Report(List.copyOf(missing), probe, removed));
        }).compose(report -> report.ok() ? Future.succeededFuture(report)
                : Future.failedFuture(SiloException.precondition("S3 permissions preflight for tenant " + tenant
                        + ": these credentials lack " + String.join("; ", report.missing())
                        + (report.probeRemoved() ? "" : " (the probe bucket " + report.probe()
                        + " could not be removed; it is recorded in tenant_buckets)"))));
    }

    private Future<Void> testCopy(Context context, DocumentsTable.Doc sample, String probe,
                                  ObjectCopier.Options options, Set<String> missing) {
        S3Retry retry = S3Retry.standard(context, new AdaptiveWindow(4, 100));
        return new ObjectCopier(data, retry, options).copy(sample, probe, false).map(result -> {
            if (result.kind() == ObjectCopier.Kind.FAILED && Integer.valueOf(403).equals(result.httpStatus())) {
                missing.add("s3:GetObject on the source or s3:PutObject on tenant buckets, or the endpoint's"
                        + " reading of the bucket policy (a test copy of document " + sample.id() + " into a bucket"
                        + " with every control was refused: " + result.message() + ")");
            }
            return null;
        });
    }

    /** Deletes every version in the probe, then the probe; completes with whether it is gone. */
    private Future<Boolean> cleanUp(Context context, String probe, Set<String> missing) {
        CompletableFuture<Boolean> gone = control.listObjectVersions(b -> b.bucket(probe))
                .thenCompose(listing -> {
                    List<ObjectIdentifier> ids = new ArrayList<>();
                    listing.versions().forEach(v -> ids.add(ObjectIdentifier.builder().key(v.key())
                            .versionId(v.versionId()).build()));
                    listing.deleteMarkers().forEach(m -> ids.add(ObjectIdentifier.builder().key(m.key())
                            .versionId(m.versionId()).build()));
                    CompletableFuture<Void> deletes = CompletableFuture.completedFuture(null);
                    for (ObjectIdentifier id : ids) {
                        deletes = deletes.thenCompose(v -> control.deleteObject(b -> b.bucket(probe).key(id.key())
                                .versionId(id.versionId())).thenApply(r -> null));
                    }
                    return deletes;
                })
                .handle((ok, e) -> {
                    if (e != null && S3Errors.status(e) == 403) {
                        missing.add("s3:ListBucketVersions and s3:DeleteObjectVersion (rollback needs them)");
                    }
                    return null;
                })
                .thenCompose(v -> control.deleteBucket(b -> b.bucket(probe)).handle((ok, e) -> {
                    if (e != null && S3Errors.status(e) == 403) {
                        missing.add("s3:DeleteBucket (rollback needs it)");
                    }
                    return e == null;
                }));
        return Future.fromCompletionStage(gone, context).compose(removed -> removed
                ? buckets.deleted(probe).map(true)
                : Future.succeededFuture(false));
    }

    private String probeName() {
        String prefix = namer.prefix().length() > 40 ? namer.prefix().substring(0, 40) : namer.prefix();
        while (prefix.endsWith("-")) {
            prefix = prefix.substring(0, prefix.length() - 1);
        }
        byte[] random = new byte[4];
        ThreadLocalRandom.current().nextBytes(random);
        return prefix + "-probe-" + HexFormat.of().formatHex(random);
    }

    static String putAction(BucketControl control) {
        return switch (control) {
            case PUBLIC_ACCESS_BLOCK -> "s3:PutBucketPublicAccessBlock";
            case ENCRYPTION -> "s3:PutEncryptionConfiguration";
            case VERSIONING -> "s3:PutBucketVersioning";
            case LIFECYCLE -> "s3:PutLifecycleConfiguration";
            case CORS -> "s3:PutBucketCORS";
            case POLICY -> "s3:PutBucketPolicy";
            case LOGGING -> "s3:PutBucketLogging";
            case TAGGING -> "s3:PutBucketTagging";
        };
    }

    static String getAction(BucketControl control) {
        return switch (control) {
            case PUBLIC_ACCESS_BLOCK -> "s3:GetBucketPublicAccessBlock";
            case ENCRYPTION -> "s3:GetEncryptionConfiguration";
            case VERSIONING -> "s3:GetBucketVersioning";
            case LIFECYCLE -> "s3:GetLifecycleConfiguration";
            case CORS -> "s3:GetBucketCORS";
            case POLICY -> "s3:GetBucketPolicy";
            case LOGGING -> "s3:GetBucketLogging";
            case TAGGING -> "s3:GetBucketTagging";
        };
    }
}
