package io.silo.s3;

import io.silo.SiloException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3AsyncClient;
import software.amazon.awssdk.services.s3.model.AbortIncompleteMultipartUpload;
import software.amazon.awssdk.services.s3.model.BucketAlreadyExistsException;
import software.amazon.awssdk.services.s3.model.BucketAlreadyOwnedByYouException;
import software.amazon.awssdk.services.s3.model.BucketLifecycleConfiguration;
import software.amazon.awssdk.services.s3.model.BucketLoggingStatus;
import software.amazon.awssdk.services.s3.model.BucketVersioningStatus;
import software.amazon.awssdk.services.s3.model.CORSConfiguration;
import software.amazon.awssdk.services.s3.model.CORSRule;
import software.amazon.awssdk.services.s3.model.CreateBucketConfiguration;
import software.amazon.awssdk.services.s3.model.ExpirationStatus;
import software.amazon.awssdk.services.s3.model.LifecycleExpiration;
import software.amazon.awssdk.services.s3.model.LifecycleRule;
import software.amazon.awssdk.services.s3.model.LifecycleRuleFilter;
import software.amazon.awssdk.services.s3.model.LoggingEnabled;
import software.amazon.awssdk.services.s3.model.NoSuchBucketException;
import software.amazon.awssdk.services.s3.model.NoncurrentVersionExpiration;
import software.amazon.awssdk.services.s3.model.PublicAccessBlockConfiguration;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.model.ServerSideEncryptionByDefault;
import software.amazon.awssdk.services.s3.model.ServerSideEncryptionConfiguration;
import software.amazon.awssdk.services.s3.model.ServerSideEncryptionRule;
import software.amazon.awssdk.services.s3.model.Tag;
import software.amazon.awssdk.services.s3.model.Transition;
import software.amazon.awssdk.services.s3.model.TransitionStorageClass;

/**
 * Creates (or finds) a tenant's bucket and puts every {@link BucketControl} on it, reading each one back.
 *
 * <p>All calls go through the SDK's async client and compose {@link CompletableFuture}s; nothing here blocks, so a
 * caller on a Vert.x event loop may compose the result (continuations run on the SDK's response threads).
 *
 * <p>Controls are applied one after another, public access block first so a new bucket is never open for longer
 * than one round trip. Each control is applied, then read back and compared with what was asked for; a control
 * counts only when the read-back matches. Known endpoint gaps, measured (see DESIGN.md):
 * <ul>
 *   <li>Ceph RGW 16.2: PutBucketEncryption answers 400 InvalidArgument, and its GetBucketEncryption answers 200 with
 *       an empty configuration whatever happened, so encryption is only ever APPLIED_VERIFIED after a successful put
 *       <em>and</em> a matching read-back. PutBucketLogging answers 405. {@code aws:SecureTransport} is not enforced
 *       over plain HTTP (which is why the policy does not lock Silo out there). With BlockPublicAcls=true RGW
 *       refuses the bucket owner's own PutObject/UploadPart with 403 (CopyObject and UploadPartCopy are spared),
 *       and it never sees {@code s3:x-amz-server-side-encryption} on a CopyObject: a plain {@code Null} deny on
 *       that key refused every copy, encrypted or not, and {@code StringNotEquals} on it never denies a copy there
 *       (measured). So the policy's {@code Null} statement also requires {@code s3:x-amz-copy-source} to be absent
 *       (see {@link #policyDocument}): copies pass it, the S3 phase's copies (which always ask for the bucket's
 *       encryption) work on RGW, and on RGW a copy without the header is not refused (recorded per backend in
 *       src/docs/s3-buckets.md). SSE-S3 (AES256) on objects answers
 *       400; SSE-KMS works with RGW's "testing" key backend (rgw-dev.sh sets it up).</li>
 *   <li>S3Mock 4.7: no public access block, bucket encryption, policy, tagging or CORS.</li>
 * </ul>
 * CORS rules cannot be scoped to a key prefix in S3; direct uploads are confined to {@code temp/} by only ever
 * presigning {@code temp/} keys for PUT/POST.
 */
public final class BucketProvisioner {

    private static final Logger LOG = LoggerFactory.getLogger(BucketProvisioner.class);

    /** Tag keys for cost allocation. */
    public static final String TENANT_TAG = "tenant";
    public static final String COST_CENTRE_TAG = "cost-centre";

    static final String DOCUMENTS_PREFIX = "documents/";
    static final String TEMP_PREFIX = "temp/";

    /**
     * Records the intent to create a bucket before CreateBucket and the outcome after, so a crash in between never
     * leaves a bucket nobody knows about (the caller keeps these in PostgreSQL).
     */
    public interface Journal {
        /** Completes once the intent to create {@code bucket} for {@code tenantSlug} is durable. */
        CompletableFuture<Void> beforeCreate(String tenantSlug, String bucket);

        /** What CreateBucket did with a name whose intent was recorded. */
        enum Outcome {
            /** This call created the bucket. */
            CREATED,
            /** The bucket already was ours (BucketAlreadyOwnedByYou). */
            ALREADY_OURS,
            /** Another owner has the name; the next attempt's name follows. */
            TAKEN
        }

        /** Completes once the outcome for {@code bucket} is durable. */
        CompletableFuture<Void> afterCreate(String tenantSlug, String bucket, Outcome outcome);

        /** A journal that records nothing (tests, dry runs). */
        Journal NONE = new Journal() {
            @Override
            public CompletableFuture<Void> beforeCreate(String tenantSlug, String bucket) {
                return CompletableFuture.completedFuture(null);
            }

            @Override
            public CompletableFuture<Void> afterCreate(String tenantSlug, String bucket, Outcome outcome) {
                return CompletableFuture.completedFuture(null);
            }
        };
    }

    /**
     * A tenant's bucket request.
     *
     * @param tenantSlug the tenant, the source of the name and the tenant tag
     * @param costCentre the cost-centre tag value, or null to tag the tenant only
     * @param recordedBucket a bucket name already recorded for this tenant, or null to derive one
     */
    public record TenantBucket(String tenantSlug, String costCentre, String recordedBucket) {
        public TenantBucket {
            Objects.requireNonNull(tenantSlug, "tenantSlug");
        }
    }

    private final S3AsyncClient s3;
    private final BucketSettings settings;
    private final BucketNamer namer;
    private final Journal journal;

    public BucketProvisioner(S3AsyncClient s3, BucketSettings settings, BucketNamer namer, Journal journal) {
        this.s3 = Objects.requireNonNull(s3, "s3");
        this.settings = Objects.requireNonNull(settings, "settings");
        this.namer = Objects.requireNonNull(namer, "namer");
        this.journal = Objects.requireNonNull(journal, "journal");
    }

    /**
     * Finds or creates the tenant's bucket, then applies and verifies every control. In strict mode the future
     * fails with a FAILED_PRECONDITION {@link SiloException} naming each control that is not verified; in dev mode
     * those controls are logged as warnings and the result carries them.
     */
    public CompletableFuture<ProvisionResult> ensure(TenantBucket tenant) {
        CompletableFuture<NamedBucket> named = tenant.recordedBucket() != null
                ? useRecorded(tenant)
                : findOrCreate(tenant, 0);
        // A bucket that existed already (a re-run, a resumed run) only gets the controls that are not in place.
        return named.thenCompose(b -> (b.created() ? applyControls(b.name(), tenant) : repairControls(b.name(), tenant))
                .thenApply(report -> new ProvisionResult(b.name(), b.attempt(), b.created(), report)))
                .thenApply(result -> {
                    enforce(result.report());
                    return result;
                });
    }

    /** Applies and verifies every control on an existing bucket; the report is not judged (see {@link #enforce}). */
    public CompletableFuture<BucketReport> applyControls(String bucket, TenantBucket tenant) {
        return controls(Step.APPLY, bucket, tenant);
    }

    /**
     * Reads every control back and applies only those that are not in place (then reads them back again). A bucket
     * that is already right gets no writes, which also keeps S3Mock 4.7 intact: it loses a bucket's objects when
     * versioning or lifecycle is put again on a bucket that has some.
     */
    public CompletableFuture<BucketReport> repairControls(String bucket, TenantBucket tenant) {
        return controls(Step.REPAIR, bucket, tenant);
    }

    /**
     * Reads every control back without changing anything, for verify and status. APPLIED_VERIFIED then means "in
     * place"; a control someone switched off or removed since provisioning shows as MISMATCH, one that cannot be
     * read as FAILED.
     */
    public CompletableFuture<BucketReport> checkControls(String bucket, TenantBucket tenant) {
        return controls(Step.CHECK, bucket, tenant);
    }

    /** What {@link #controls} does with each control. */
    private enum Step { APPLY, CHECK, REPAIR }

    private CompletableFuture<BucketReport> controls(Step mode, String bucket, TenantBucket tenant) {
        List<Function<Boolean, CompletableFuture<ControlResult>>> steps = List.of(
                apply -> publicAccessBlock(apply, bucket),
                apply -> encryption(apply, bucket),
                apply -> versioning(apply, bucket),
                apply -> lifecycle(apply, bucket),
                apply -> cors(apply, bucket),
                apply -> policy(apply, bucket),
                apply -> logging(apply, bucket),
                apply -> tagging(apply, bucket, tenant));
        List<ControlResult> results = new ArrayList<>();
        CompletableFuture<Void> chain = CompletableFuture.completedFuture(null);
        for (Function<Boolean, CompletableFuture<ControlResult>> step : steps) {
            chain = chain.thenCompose(ignored -> switch (mode) {
                case APPLY -> step.apply(true);
                case CHECK -> step.apply(false);
                case REPAIR -> step.apply(false).thenCompose(found -> found.state().acceptableInStrictMode()
                        ? CompletableFuture.completedFuture(found) : step.apply(true));
            }).thenAccept(results::add);
        }
        return chain.thenApply(ignored -> {
            results.sort(Comparator.comparing(ControlResult::control));
            return new BucketReport(bucket, results);
        });
    }

    /**
     * Applies the mode to a report: strict throws naming every control that is not verified, dev logs each one.
     *
     * @throws SiloException FAILED_PRECONDITION in strict mode when a control is not verified
     */
    public void enforce(BucketReport report) {
        List<ControlResult> problems = report.problems();
        if (problems.isEmpty()) {
            return;
        }
        if (settings.mode() == BucketSettings.Mode.STRICT) {
            throw SiloException.precondition("bucket " + report.bucket() + ": controls not verified: "
                    + problems.stream().map(ControlResult::toString).collect(Collectors.joining("; ")));
        }
        for (ControlResult p : problems) {
            LOG.warn("bucket {}: control {} is {} ({}); allowed in dev mode only",
                    report.bucket(), p.control(), p.state(), p.detail());
        }
    }

    // ---- naming and creation ----

    private record NamedBucket(String name, int attempt, boolean created) {
    }

    private CompletableFuture<NamedBucket> useRecorded(TenantBucket tenant) {
        String bucket = tenant.recordedBucket();
        List<String> problems = BucketNamer.violations(bucket);
        if (!problems.isEmpty()) {
            return CompletableFuture.failedFuture(SiloException.invalid("recorded bucket " + bucket,
                    String.join("; ", problems)));
        }
        int attempt = attemptOf(tenant.tenantSlug(), bucket);
        return headBucket(bucket).thenCompose(state -> switch (state) {
            case OURS -> CompletableFuture.completedFuture(new NamedBucket(bucket, attempt, false));
            case MISSING -> create(tenant, bucket, attempt).thenApply(created -> {
                if (created == null) {
                    throw SiloException.precondition("recorded bucket " + bucket + " of tenant "
                            + tenant.tenantSlug() + " is now owned by someone else");
                }
                return created;
            });
            case FOREIGN -> CompletableFuture.failedFuture(SiloException.precondition("recorded bucket " + bucket
                    + " of tenant " + tenant.tenantSlug() + " exists but is not accessible with these credentials"));
        });
    }

    /** Which attempt of the namer produced {@code bucket}, or -1 (a name from older records or another prefix). */
    private int attemptOf(String slug, String bucket) {
        for (int i = 0; i < settings.maxNameAttempts(); i++) {
            if (namer.name(slug, i).equals(bucket)) {
                return i;
            }
        }
        return -1;
    }

    private CompletableFuture<NamedBucket> findOrCreate(TenantBucket tenant, int attempt) {
        if (attempt >= settings.maxNameAttempts()) {
            return CompletableFuture.failedFuture(new SiloException(SiloException.Kind.ALREADY_EXISTS,
                    "no free bucket name for tenant " + tenant.tenantSlug() + " after " + attempt + " attempts"));
        }
        String bucket = namer.name(tenant.tenantSlug(), attempt);
        // HeadBucket first: in us-east-1 CreateBucket on a bucket we already own answers 200, which would hide
        // whether this call created it.
        return headBucket(bucket).thenCompose(state -> switch (state) {
            case OURS -> CompletableFuture.completedFuture(new NamedBucket(bucket, attempt, false));
            case FOREIGN -> findOrCreate(tenant, attempt + 1);
            case MISSING -> create(tenant, bucket, attempt)
                    .thenCompose(made -> made != null ? CompletableFuture.completedFuture(made)
                            : findOrCreate(tenant, attempt + 1));
        });
    }

    private enum Existence { OURS, FOREIGN, MISSING }

    private CompletableFuture<Existence> headBucket(String bucket) {
        return s3.headBucket(b -> b.bucket(bucket)).handle((ok, error) -> {
            if (error == null) {
                return Existence.OURS;
            }
            Throwable e = unwrap(error);
            if (e instanceof NoSuchBucketException) {
                return Existence.MISSING;
            }
            // 403: it exists and is someone else's. 301: it exists in another region, so not in ours to use.
            if (e instanceof S3Exception s && (s.statusCode() == 403 || s.statusCode() == 301)) {
                return Existence.FOREIGN;
            }
            if (e instanceof S3Exception s && s.statusCode() == 404) {
                return Existence.MISSING;
            }
            throw new CompletionException(e);
        });
    }

    /** Creates {@code bucket}; completes with null when another owner has the name. */
    private CompletableFuture<NamedBucket> create(TenantBucket tenant, String bucket, int attempt) {
        return journal.beforeCreate(tenant.tenantSlug(), bucket)
                .thenCompose(ignored -> s3.createBucket(b -> {
                    b.bucket(bucket);
                    // us-east-1 is the one region that refuses its own name as a LocationConstraint.
                    if (!Region.US_EAST_1.equals(settings.region())) {
                        b.createBucketConfiguration(CreateBucketConfiguration.builder()
                                .locationConstraint(settings.region().id()).build());
                    }
                }))
                .handle((ok, error) -> {
                    if (error == null) {
                        return new NamedBucket(bucket, attempt, true);
                    }
                    Throwable e = unwrap(error);
                    if (e instanceof BucketAlreadyOwnedByYouException) {
                        return new NamedBucket(bucket, attempt, false);
                    }
                    if (e instanceof BucketAlreadyExistsException) {
                        LOG.info("bucket name {} is taken by another owner; trying the next name", bucket);
                        return null;
                    }
                    throw new CompletionException(e);
                })
                .thenCompose(made -> journal.afterCreate(tenant.tenantSlug(), bucket,
                                made == null ? Journal.Outcome.TAKEN
                                        : made.created() ? Journal.Outcome.CREATED : Journal.Outcome.ALREADY_OURS)
                        .thenApply(v -> made));
    }

    // ---- controls ----

    private CompletableFuture<ControlResult> publicAccessBlock(boolean apply, String bucket) {
        PublicAccessBlockConfiguration wanted = PublicAccessBlockConfiguration.builder()
                .blockPublicAcls(true).ignorePublicAcls(true).blockPublicPolicy(true).restrictPublicBuckets(true)
                .build();
        return control(apply, BucketControl.PUBLIC_ACCESS_BLOCK,
                () -> s3.putPublicAccessBlock(b -> b.bucket(bucket).publicAccessBlockConfiguration(wanted)),
                () -> s3.getPublicAccessBlock(b -> b.bucket(bucket)).thenApply(r -> {
                    PublicAccessBlockConfiguration got = r.publicAccessBlockConfiguration();
                    return got != null && got.equals(wanted) ? null : "read back " + got;
                }));
    }

    private CompletableFuture<ControlResult> encryption(boolean apply, String bucket) {
        BucketSettings.Encryption enc = settings.encryption();
        ServerSideEncryptionByDefault.Builder byDefault = ServerSideEncryptionByDefault.builder()
                .sseAlgorithm(enc.algorithm());
        ServerSideEncryptionRule.Builder rule = ServerSideEncryptionRule.builder();
        if (enc.isKms()) {
            byDefault.kmsMasterKeyID(enc.kmsKeyId());
            rule.bucketKeyEnabled(true);
        }
        ServerSideEncryptionConfiguration wanted = ServerSideEncryptionConfiguration.builder()
                .rules(rule.applyServerSideEncryptionByDefault(byDefault.build()).build()).build();
        // Only a successful put followed by a matching get counts: RGW's get answers 200 even when its put refused.
        return control(apply, BucketControl.ENCRYPTION,
                () -> s3.putBucketEncryption(b -> b.bucket(bucket).serverSideEncryptionConfiguration(wanted)),
                () -> s3.getBucketEncryption(b -> b.bucket(bucket)).thenApply(r -> {
                    ServerSideEncryptionConfiguration got = r.serverSideEncryptionConfiguration();
                    if (got == null || got.rules().isEmpty()) {
                        // AWS always has a default encryption (SSE-S3 at least), so "200, no rules" is not an
                        // answer about this bucket: RGW 16.2 gives it whatever was put.
                        throw new Unverifiable("read-back answered 200 with no encryption rule; not trusted");
                    }
                    if (got.rules().size() != 1
                            || got.rules().get(0).applyServerSideEncryptionByDefault() == null) {
                        return "read back " + got;
                    }
                    ServerSideEncryptionRule r0 = got.rules().get(0);
                    ServerSideEncryptionByDefault d = r0.applyServerSideEncryptionByDefault();
                    boolean ok = enc.algorithm().equals(d.sseAlgorithmAsString());
                    if (enc.isKms()) {
                        // AWS may answer with the key's ARN where an id was given.
                        String key = d.kmsMasterKeyID();
                        ok &= key != null && (key.equals(enc.kmsKeyId()) || key.endsWith("/" + enc.kmsKeyId()));
                        ok &= Boolean.TRUE.equals(r0.bucketKeyEnabled());
                    }
                    return ok ? null : "read back algorithm " + d.sseAlgorithmAsString()
                            + (enc.isKms() ? ", key " + d.kmsMasterKeyID() + ", bucket key " + r0.bucketKeyEnabled() : "");
                }));
    }

    private CompletableFuture<ControlResult> versioning(boolean apply, String bucket) {
        return control(apply, BucketControl.VERSIONING,
                () -> s3.putBucketVersioning(b -> b.bucket(bucket)
                        .versioningConfiguration(v -> v.status(BucketVersioningStatus.ENABLED))),
                () -> s3.getBucketVersioning(b -> b.bucket(bucket)).thenApply(r ->
                        r.status() == BucketVersioningStatus.ENABLED ? null : "read back status " + r.statusAsString()));
    }

    /** The lifecycle rules, also used by verify to compare. */
    static List<LifecycleRule> lifecycleRules() {
        return List.of(
                LifecycleRule.builder().id("silo-noncurrent-30d").status(ExpirationStatus.ENABLED)
                        .filter(LifecycleRuleFilter.builder().prefix("").build())
                        .noncurrentVersionExpiration(NoncurrentVersionExpiration.builder().noncurrentDays(30).build())
                        .build(),
                LifecycleRule.builder().id("silo-documents-ia-90d").status(ExpirationStatus.ENABLED)
                        .filter(LifecycleRuleFilter.builder().prefix(DOCUMENTS_PREFIX).build())
                        .transitions(Transition.builder().days(90).storageClass(TransitionStorageClass.STANDARD_IA)
                                .build())
                        .build(),
                LifecycleRule.builder().id("silo-temp-1d").status(ExpirationStatus.ENABLED)
                        .filter(LifecycleRuleFilter.builder().prefix(TEMP_PREFIX).build())
                        .expiration(LifecycleExpiration.builder().days(1).build())
                        .build(),
                LifecycleRule.builder().id("silo-abort-multipart-7d").status(ExpirationStatus.ENABLED)
                        .filter(LifecycleRuleFilter.builder().prefix("").build())
                        .abortIncompleteMultipartUpload(AbortIncompleteMultipartUpload.builder()
                                .daysAfterInitiation(7).build())
                        .build());
    }

    private CompletableFuture<ControlResult> lifecycle(boolean apply, String bucket) {
        List<LifecycleRule> wanted = lifecycleRules();
        return control(apply, BucketControl.LIFECYCLE,
                () -> s3.putBucketLifecycleConfiguration(b -> b.bucket(bucket)
                        .lifecycleConfiguration(BucketLifecycleConfiguration.builder().rules(wanted).build())),
                () -> s3.getBucketLifecycleConfiguration(b -> b.bucket(bucket)).thenApply(r -> {
                    Set<String> want = wanted.stream().map(BucketProvisioner::describe).collect(toSortedSet());
                    Set<String> got = r.rules().stream().map(BucketProvisioner::describe).collect(toSortedSet());
                    return want.equals(got) ? null : "read back " + got;
                }));
    }

    /**
     * A rule as comparable text. Endpoints differ in how they echo a rule (a Filter with a Prefix, the legacy
     * top-level Prefix, an empty filter for the whole bucket, extra defaults), so only what Silo sets is compared.
     */
    static String describe(LifecycleRule rule) {
        String prefix = rule.filter() != null && rule.filter().prefix() != null ? rule.filter().prefix()
                : rule.prefix() != null ? rule.prefix() : "";
        StringBuilder s = new StringBuilder(rule.id()).append(" prefix=").append(prefix)
                .append(" status=").append(rule.statusAsString());
        if (rule.noncurrentVersionExpiration() != null) {
            s.append(" noncurrent-days=").append(rule.noncurrentVersionExpiration().noncurrentDays());
        }
        for (Transition t : rule.transitions()) {
            s.append(" transition=").append(t.days()).append(':').append(t.storageClassAsString());
        }
        if (rule.expiration() != null && rule.expiration().days() != null) {
            s.append(" expire-days=").append(rule.expiration().days());
        }
        if (rule.abortIncompleteMultipartUpload() != null) {
            s.append(" abort-days=").append(rule.abortIncompleteMultipartUpload().daysAfterInitiation());
        }
        return s.toString();
    }

    /** The CORS rule for direct browser uploads and downloads, or null when no origins are configured. */
    CORSRule corsRule() {
        if (settings.corsOrigins().isEmpty()) {
            return null;
        }
        return CORSRule.builder().id("silo-browser-uploads")
                .allowedOrigins(settings.corsOrigins())
                .allowedMethods("PUT", "POST", "GET")
                // What a browser sends with a presigned upload; everything else is refused at preflight.
                .allowedHeaders("content-type", "content-md5", "content-disposition", "x-amz-server-side-encryption",
                        "x-amz-server-side-encryption-aws-kms-key-id")
                .exposeHeaders("ETag")
                .maxAgeSeconds(3000)
                .build();
    }

    private CompletableFuture<ControlResult> cors(boolean apply, String bucket) {
        CORSRule wanted = corsRule();
        if (wanted == null) {
            return CompletableFuture.completedFuture(new ControlResult(BucketControl.CORS, ControlState.NOT_CONFIGURED,
                    "no browser origins configured"));
        }
        return control(apply, BucketControl.CORS,
                () -> s3.putBucketCors(b -> b.bucket(bucket)
                        .corsConfiguration(CORSConfiguration.builder().corsRules(wanted).build())),
                () -> s3.getBucketCors(b -> b.bucket(bucket)).thenApply(r -> {
                    if (r.corsRules().size() != 1) {
                        return "read back " + r.corsRules().size() + " rules";
                    }
                    CORSRule got = r.corsRules().get(0);
                    boolean ok = lower(got.allowedOrigins()).equals(lower(wanted.allowedOrigins()))
                            && lower(got.allowedMethods()).equals(lower(wanted.allowedMethods()))
                            && lower(got.allowedHeaders()).equals(lower(wanted.allowedHeaders()))
                            && lower(got.exposeHeaders()).equals(lower(wanted.exposeHeaders()));
                    return ok ? null : "read back " + got;
                }));
    }

    /**
     * The bucket policy: deny any request not made over TLS; deny a PutObject (which includes CopyObject) that names
     * another server-side encryption than the bucket's, or none (AWS: {@code StringNotEquals} is true when the key
     * is absent); and deny an upload that is not a copy and has no encryption header ({@code Null} on both keys).
     * The copy exemption of the last statement takes nothing away on AWS, where the second one already refuses a
     * copy without the header; it is there for Ceph RGW 16.2, which never sees the header on a copy and would
     * otherwise refuse every copy. Deny-only, so BlockPublicPolicy accepts it.
     */
    String policyDocument(String bucket) {
        String arn = "arn:aws:s3:::" + bucket;
        String algorithm = settings.encryption().algorithm();
        JsonObject insecure = new JsonObject().put("Sid", "SiloDenyInsecureTransport").put("Effect", "Deny")
                .put("Principal", "*").put("Action", "s3:*").put("Resource", new JsonArray().add(arn).add(arn + "/*"))
                .put("Condition", new JsonObject().put("Bool", new JsonObject().put("aws:SecureTransport", "false")));
        JsonObject missing = new JsonObject().put("Sid", "SiloDenyUnencryptedUploads").put("Effect", "Deny")
                .put("Principal", "*").put("Action", "s3:PutObject").put("Resource", arn + "/*")
                .put("Condition", new JsonObject().put("Null", new JsonObject()
                        .put("s3:x-amz-server-side-encryption", "true").put("s3:x-amz-copy-source", "true")));
        JsonObject wrong = new JsonObject().put("Sid", "SiloDenyWrongEncryption").put("Effect", "Deny")
                .put("Principal", "*").put("Action", "s3:PutObject").put("Resource", arn + "/*")
                .put("Condition", new JsonObject().put("StringNotEquals",
                        new JsonObject().put("s3:x-amz-server-side-encryption", algorithm)));
        return new JsonObject().put("Version", "2012-10-17")
                .put("Statement", new JsonArray().add(insecure).add(missing).add(wrong)).encode();
    }

    private CompletableFuture<ControlResult> policy(boolean apply, String bucket) {
        String wanted = policyDocument(bucket);
        return control(apply, BucketControl.POLICY,
                () -> s3.putBucketPolicy(b -> b.bucket(bucket).policy(wanted)),
                () -> s3.getBucketPolicy(b -> b.bucket(bucket)).thenApply(r -> {
                    // Compared as JSON, not text: endpoints may re-indent or reorder keys.
                    try {
                        return new JsonObject(r.policy()).equals(new JsonObject(wanted)) ? null
                                : "read back a different policy";
                    } catch (RuntimeException notJson) {
                        return "read back a policy that is not JSON";
                    }
                }));
    }

    private CompletableFuture<ControlResult> logging(boolean apply, String bucket) {
        if (settings.logBucket() == null) {
            return CompletableFuture.completedFuture(new ControlResult(BucketControl.LOGGING,
                    ControlState.NOT_CONFIGURED, "no log bucket configured"));
        }
        LoggingEnabled wanted = LoggingEnabled.builder().targetBucket(settings.logBucket())
                .targetPrefix(settings.logPrefix() + bucket + "/").build();
        return control(apply, BucketControl.LOGGING,
                () -> s3.putBucketLogging(b -> b.bucket(bucket)
                        .bucketLoggingStatus(BucketLoggingStatus.builder().loggingEnabled(wanted).build())),
                () -> s3.getBucketLogging(b -> b.bucket(bucket)).thenApply(r -> {
                    LoggingEnabled got = r.loggingEnabled();
                    return got != null && wanted.targetBucket().equals(got.targetBucket())
                            && wanted.targetPrefix().equals(got.targetPrefix()) ? null : "read back " + got;
                }));
    }

    /** The bucket's tags: the tenant and, when given, its cost centre. */
    static List<Tag> tags(TenantBucket tenant) {
        List<Tag> tags = new ArrayList<>();
        tags.add(Tag.builder().key(TENANT_TAG).value(tagValue(tenant.tenantSlug())).build());
        if (tenant.costCentre() != null && !tenant.costCentre().isBlank()) {
            tags.add(Tag.builder().key(COST_CENTRE_TAG).value(tagValue(tenant.costCentre())).build());
        }
        return tags;
    }

    /** S3 tag values allow letters, digits, spaces and {@code + - = . _ : / @}, up to 256 characters. */
    static String tagValue(String value) {
        String cleaned = value.codePoints()
                .map(cp -> Character.isLetterOrDigit(cp) || " +-=._:/@".indexOf(cp) >= 0 ? cp : '_')
                .collect(StringBuilder::new, StringBuilder::appendCodePoint, StringBuilder::append).toString();
        return cleaned.length() > 256 ? cleaned.substring(0, 256) : cleaned;
    }

    private CompletableFuture<ControlResult> tagging(boolean apply, String bucket, TenantBucket tenant) {
        List<Tag> wanted = tags(tenant);
        return control(apply, BucketControl.TAGGING,
                () -> s3.putBucketTagging(b -> b.bucket(bucket).tagging(t -> t.tagSet(wanted))),
                () -> s3.getBucketTagging(b -> b.bucket(bucket)).thenApply(r ->
                        Set.copyOf(r.tagSet()).equals(Set.copyOf(wanted)) ? null : "read back " + r.tagSet()));
    }

    // ---- apply, read back, classify ----

    /** A read-back that says nothing about the bucket (an endpoint's placeholder answer). */
    private static final class Unverifiable extends RuntimeException {
        Unverifiable(String message) {
            super(message, null, false, false);
        }
    }

    /**
     * Runs {@code apply} (when applying), then {@code verify} (which completes with null when the read-back
     * matches, or a description of what it read, or fails with {@link Unverifiable}), and turns every outcome,
     * errors included, into one result line.
     */
    private CompletableFuture<ControlResult> control(boolean apply, BucketControl control,
                                                     Supplier<CompletableFuture<?>> put,
                                                     Supplier<CompletableFuture<String>> verify) {
        CompletableFuture<ControlResult> applied = !apply ? CompletableFuture.completedFuture(null)
                : put.get().handle((ok, error) -> error == null ? null : failure(control, "put", unwrap(error)));
        return applied.thenCompose(failed -> failed != null ? CompletableFuture.completedFuture(failed)
                : verify.get().handle((mismatch, error) -> {
                    if (error != null) {
                        Throwable e = unwrap(error);
                        return notSet(e) ? new ControlResult(control, ControlState.MISMATCH,
                                "not set (" + ((S3Exception) e).awsErrorDetails().errorCode() + ")")
                                : failure(control, "read-back", e);
                    }
                    return mismatch == null
                            ? new ControlResult(control, ControlState.APPLIED_VERIFIED, "")
                            : new ControlResult(control, ControlState.MISMATCH, mismatch);
                }));
    }

    /** A 404 that means "this bucket has no such configuration" (NoSuchCORSConfiguration, NoSuchTagSet, ...). */
    private static boolean notSet(Throwable e) {
        if (!(e instanceof S3Exception s) || s.statusCode() != 404 || s.awsErrorDetails() == null) {
            return false;
        }
        String code = s.awsErrorDetails().errorCode();
        return code != null && !code.equals("NoSuchBucket")
                && (code.startsWith("NoSuch") || code.endsWith("NotFoundError"));
    }

    private static ControlResult failure(BucketControl control, String step, Throwable e) {
        if (e instanceof Unverifiable u) {
            return new ControlResult(control, ControlState.UNSUPPORTED_BY_ENDPOINT, u.getMessage());
        }
        if (e instanceof S3Exception s) {
            String code = s.awsErrorDetails() == null ? null : s.awsErrorDetails().errorCode();
            String detail = step + " answered HTTP " + s.statusCode() + (code == null ? "" : " " + code);
            return new ControlResult(control, unsupported(s.statusCode(), code)
                    ? ControlState.UNSUPPORTED_BY_ENDPOINT : ControlState.FAILED, detail);
        }
        return new ControlResult(control, ControlState.FAILED, step + " failed: " + e.getClass().getSimpleName()
                + (e.getMessage() == null ? "" : ": " + e.getMessage()));
    }

    /**
     * Whether an error to one of Silo's (fixed, well-formed) control requests means "this endpoint does not
     * implement the call" rather than "the call was refused". Strict mode fails the bucket either way; the state
     * only tells an operator which of the two to fix. Measured answers:
     * <ul>
     *   <li>501 NotImplemented, 405 MethodNotAllowed (RGW 16.2 PutBucketLogging);</li>
     *   <li>400 NotImplemented, UnsupportedOperation, or InvalidArgument (RGW 16.2 PutBucketEncryption);</li>
     *   <li>400 without an S3 error code: the endpoint did not parse the call as S3 at all (S3Mock 4.7 reads
     *       PUT ?policy as a CreateBucket body);</li>
     *   <li>409 BucketAlreadyOwnedByYou or BucketAlreadyExists: the endpoint ignored the subresource and ran
     *       CreateBucket (S3Mock 4.7 for ?publicAccessBlock, ?encryption, ?cors, ?logging, ?tagging).</li>
     * </ul>
     * Access denied (403), throttling and server errors are failures, not gaps.
     */
    static boolean unsupported(int status, String code) {
        return switch (status) {
            case 501, 405 -> true;
            case 400 -> code == null || code.isEmpty()
                    || Set.of("NotImplemented", "UnsupportedOperation", "InvalidArgument").contains(code);
            case 409 -> "BucketAlreadyOwnedByYou".equals(code) || "BucketAlreadyExists".equals(code);
            default -> false;
        };
    }

    private static Throwable unwrap(Throwable t) {
        Throwable e = t;
        while ((e instanceof CompletionException || e instanceof ExecutionException) && e.getCause() != null) {
            e = e.getCause();
        }
        return e;
    }

    private static Set<String> lower(List<String> values) {
        return values.stream().map(v -> v.toLowerCase(Locale.ROOT)).collect(Collectors.toSet());
    }

    private static java.util.stream.Collector<String, ?, TreeSet<String>> toSortedSet() {
        return Collectors.toCollection(TreeSet::new);
    }
}
