package io.silo.s3;

import io.silo.SiloException;
import io.silo.config.SiloConfig;
import io.silo.jobs.JobDefinition;
import io.silo.jobs.Phase;
import io.silo.jobs.PhaseName;
import io.silo.jobs.PhaseSpec;
import io.silo.jobs.RunContext;
import io.silo.jobs.TenantKey;
import io.silo.jobs.TenantScope;
import io.silo.store.Database;
import io.silo.store.Tables;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.sqlclient.Pool;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3AsyncClient;

/**
 * The S3 phase: moves a tenant's documents from the shared bucket into a bucket of its own. It provisions the
 * bucket (after a permissions preflight, with every control applied and read back), copies each document's object
 * server-side to {@code documents/<id>/<sanitized filename>} and tracks every copy in the application's
 * {@code documents} table and {@code s3_migrations}; it verifies, rolls back and purges the same data. The work is
 * idempotent: a re-run or a resumed run finds copies already in place and leaves them alone.
 */
public final class S3Phase implements Phase {

    private static final Logger LOG = LoggerFactory.getLogger(S3Phase.class);
    /** Name attempts before BucketAlreadyExists gives up. */
    private static final int NAME_ATTEMPTS = 5;

    // The keys capability's alias scheme for tenant CMKs, shown in plans (this package does not depend on keys).
    private static final String TENANT_CMK_ALIAS = "alias/silo/tenant-";
    private final Vertx vertx;
    private final SiloConfig config;
    private final Pool pool;
    private final Tables tables;
    private final DocumentsTable documents;
    private final TenantBuckets buckets;
    private final S3AsyncClient control;
    private final S3AsyncClient data;
    private final S3Spec defaults;
    private final Region region;
    private final String costCentre;
    private final AtomicBoolean tablesReady = new AtomicBoolean();
    private volatile SseKmsKeys kmsKeys;

    /**
     * @param control client for bucket calls (SDK retries on): provisioning, controls, the preflight
     * @param data client for object calls (no SDK retries: {@link S3Retry} retries them and adapts the window)
     */
    public S3Phase(Vertx vertx, SiloConfig config, Database database, S3AsyncClient control, S3AsyncClient data) {
        this.vertx = vertx;
        this.config = config;
        this.pool = database.pool();
        this.tables = database.tables();
        this.documents = new DocumentsTable(tables);
        this.buckets = new TenantBuckets(pool, tables.siloSchema());
        this.control = control;
        this.data = data;
        this.defaults = S3Spec.defaults(config);
        this.region = Region.of(config.string("s3.region"));
        String cc = config.string("s3.costCentre");
        this.costCentre = cc.isBlank() ? null : cc;
    }

    /** The phase with clients for the configured endpoint ({@code s3.*} settings). */
    public static S3Phase create(Vertx vertx, SiloConfig config, Database database) {
        String endpoint = config.string("s3.endpoint");
        URI uri = endpoint.isEmpty() ? null : URI.create(endpoint);
        Region region = Region.of(config.string("s3.region"));
        AwsCredentialsProvider credentials = config.string("s3.accessKeyId").isEmpty()
                ? DefaultCredentialsProvider.builder().build()
                : StaticCredentialsProvider.create(AwsBasicCredentials.create(config.string("s3.accessKeyId"),
                config.string("s3.secretAccessKey")));
        boolean pathStyle = config.bool("s3.pathStyle") || uri != null;
        S3AsyncClient control = S3Clients.async(uri, region, credentials, 16, b -> b.forcePathStyle(pathStyle));
        S3AsyncClient data = S3Clients.dataPlane(uri, region, credentials, 1024, b -> b.forcePathStyle(pathStyle));
        return new S3Phase(vertx, config, database, control, data);
    }

    /**
     * Resolves and preflights SSE-KMS keys through AWS KMS (an aws KMS provider is configured). Without it a key id
     * is passed to an S3-compatible endpoint as given, and SSE-KMS on AWS or with the tenant's own CMK is refused.
     */
    public void useKmsKeys(SseKmsKeys keys) {
        this.kmsKeys = keys;
    }

    /** What still uses the KMS key {@code arn}: tenant buckets encrypted with it (a guard on retiring the key). */
    public Future<List<String>> bucketsUsingKmsKey(String arn) {
        // tenant_buckets is Silo's own table: no application table is needed to answer.
        return buckets.usingKmsKey(arn);
    }

    /** {@code spec} with its SSE-KMS key resolved to a preflighted ARN ({@code create}: may create a tenant CMK). */
    private Future<S3Spec> resolveKey(S3Spec spec, DocumentsTable.Tenant row, boolean create) {
        if (!spec.kms()) {
            return Future.succeededFuture(spec);
        }
        SseKmsKeys keys = kmsKeys;
        if (keys != null) {
            return keys.resolve(row.slug(), row.id(), spec.kmsKeyId(), region.id(), create).map(spec::withKmsKeyId);
        }
        if (SseKmsKeys.TENANT_KEY.equals(spec.kmsKeyId()) || config.string("s3.endpoint").isEmpty()) {
            return Future.failedFuture(SiloException.precondition("s3.kmsKeyId '" + spec.kmsKeyId() + "' needs an aws"
                    + " KMS provider (kms.aws.region or kms.aws.named) to check the key before a bucket uses it"));
        }
        return Future.succeededFuture(spec);
    }

    /** Closes the S3 clients this phase was given. */
    public void close() {
        control.close();
        data.close();
    }

    @Override
    public PhaseName name() {
        return PhaseName.S3;
    }

    @Override
    public PhaseSpec parse(JsonObject json) {
        return S3Spec.fromJson(json, defaults);
    }

    /** The server's default S3 part of a definition ({@code s3.*} settings). */
    public S3Spec defaults() {
        return defaults;
    }

    // ---- plan ----

    @Override
    public Future<Estimate> plan(String tenant, JobDefinition definition) {
        S3Spec spec = definition.part(PhaseName.S3, S3Spec.class);
        Context context = vertx.getOrCreateContext();
        return onContext(context, () -> ensureTables().compose(v -> documents.tenant(pool, tenant)).compose(row ->
                documents.totals(pool, row.id(), spec.multipartThresholdBytes()).compose(totals ->
                        buckets.current(tenant).compose(entry -> {
                            String bucket = entry.map(TenantBuckets.Entry::bucket)
                                    .orElseGet(() -> new BucketNamer(spec.bucketPrefix()).name(tenant, 0));
                            // Read-only: a tenant CMK is looked up, never created, and a key problem shows as
                            // the encryption control's state instead of failing the plan.
                            return bucketExists(context, bucket).compose(exists -> (exists && entry.isPresent()
                                    ? resolveKey(spec, row, false).otherwise(spec).compose(resolved ->
                                            controls(context, resolved, tenant, entry.get()))
                                            .map(BucketReport::controls)
                                    : Future.succeededFuture(List.<ControlResult>of()))
                                    .map(controls -> estimate(spec, tenant, bucket, exists,
                                            entry.map(TenantBuckets.Entry::createdBySilo).orElse(false),
                                            totals, controls)));
                        }))));
    }

    private Estimate estimate(S3Spec spec, String tenant, String bucket, boolean exists, boolean createdBySilo,
                              DocumentsTable.Totals totals, List<ControlResult> controls) {
        List<String> notes = new ArrayList<>();
        if (!exists) {
            notes.add("bucket " + bucket + " will be created (the next name is tried if another owner has it),"
                    + " after a permissions preflight on a throw-away bucket");
        }
        if (spec.kms()) {
            notes.add(SseKmsKeys.TENANT_KEY.equals(spec.kmsKeyId())
                    ? "SSE-KMS with the tenant's own CMK " + TENANT_CMK_ALIAS + tenant + " (created if missing),"
                    + " checked by DescribeKey before the bucket uses it"
                    : "SSE-KMS with " + spec.kmsKeyId() + ", checked by DescribeKey before the bucket uses it");
        }
        if (totals.multipart() > 0) {
            notes.add(totals.multipart() + " object(s) above " + spec.multipartThresholdBytes()
                    + " bytes are copied in parts of " + spec.partSizeBytes() + " bytes (UploadPartCopy)");
        }
        if (totals.copied() > 0) {
            notes.add(totals.copied() + " document(s) are recorded as copied: they are checked (HeadObject) and"
                    + " copied again only if their source changed");
        }
        for (ControlResult c : controls) {
            if (!c.state().acceptableInStrictMode()) {
                notes.add("control " + c + (spec.strict() ? ": strict mode will fail the phase" : ": allowed in dev"));
            }
        }
        S3Plan plan = new S3Plan(bucket, exists, createdBySilo, totals.documents(), totals.bytes(),
                totals.multipart(), totals.copied(), spec.sharedBucket(), spec.encryption()
                + (spec.kmsKeyId() == null ? "" : " (" + spec.kmsKeyId() + ")"), spec.strict(), controls);
        return new Estimate(PhaseName.S3, totals.documents(), totals.bytes(), bucket, notes, plan);
    }

    // ---- run ----

    @Override
    public Future<Outcome> run(RunContext run) {
        S3Spec spec = run.spec(S3Spec.class);
        Context context = run.context();
        return onContext(context, () -> ensureTables()
                .compose(v -> documents.tenant(pool, run.tenant()))
                .compose(row -> documents.totals(pool, row.id(), spec.multipartThresholdBytes())
                        .compose(totals -> run.total(totals.documents(), totals.bytes()))
                        .compose(v -> resolveKey(spec, row, true))
                        .compose(resolved -> provision(context, run, resolved, row)
                                .compose(provisioned -> resolved.kms()
                                        ? buckets.usesKmsKey(provisioned.bucket(), resolved.kmsKeyId()).map(provisioned)
                                        : Future.succeededFuture(provisioned))
                                .compose(provisioned -> copy(run, resolved, row, provisioned)))));
    }

    private Future<ProvisionResult> provision(Context context, RunContext run, S3Spec spec,
                                              DocumentsTable.Tenant row) {
        String tenant = run.tenant();
        return buckets.current(tenant).compose(entry -> {
            boolean known = entry.isPresent() && !"INTENT".equals(entry.get().state());
            Future<?> preflight = known ? Future.succeededFuture()
                    : documents.smallest(pool, row.id()).compose(sample -> new Preflight(control, data,
                            bucketSettings(spec), new BucketNamer(spec.bucketPrefix()), buckets)
                            .check(context, tenant, costCentre, spec.sharedBucket(),
                                    sample.isEmpty() ? null : sample.get(0), copyOptions(spec, null, null)));
            return preflight.compose(v -> await(context, provisioner(spec, buckets.journal(TenantBuckets.Purpose.TENANT))
                    .ensure(new BucketProvisioner.TenantBucket(tenant, costCentre,
                            entry.map(TenantBuckets.Entry::bucket).orElse(null)))))
                    .compose(result -> buckets.provisioned(tenant, result).map(result));
        });
    }

    private Future<Outcome> copy(RunContext run, S3Spec spec, DocumentsTable.Tenant row, ProvisionResult bucket) {
        TenantKey key = run.key();
        // Without an S3 bucket key every SSE-KMS copy costs KMS requests of its own, which count against the same
        // per-region KMS quota as Silo's data keys.
        boolean bucketKeyInEffect = spec.bucketKey()
                && bucket.report().state(BucketControl.ENCRYPTION) == ControlState.APPLIED_VERIFIED;
        boolean permits = spec.kms() && !bucketKeyInEffect && key != null;
        ObjectCopier.Options options = copyOptions(spec, permits ? key.kmsPermit() : null,
                key == null ? null : key.onThrottled());
        AdaptiveWindow window = new AdaptiveWindow(spec.copyConcurrency(), 100);
        S3Retry retry = S3Retry.standard(run.context(), window);
        S3Retry lookups = S3Retry.standard(run.context(), new AdaptiveWindow(spec.copyConcurrency(), 100));
        // A bucket this run created is empty: no copy can be there yet, so no HeadObject of the target is needed.
        boolean targetMayHold = !bucket.created();
        // Twice the window of documents in progress: as many being looked up as being copied.
        CopyRun copyRun = new CopyRun(run, pool, documents, new ObjectCopier(data, lookups, retry, options), row.id(),
                bucket.bucket(), targetMayHold, spec.batchSize(), 2 * spec.copyConcurrency());
        long started = System.nanoTime();
        return copyRun.start().compose(outcome -> copyRun.unencrypted() == 0 ? Future.succeededFuture(outcome)
                : run.notice(copyRun.unencrypted() + " of the copies in " + bucket.bucket() + " are stored without "
                + spec.encryption() + " encryption although they asked for it: the endpoint ignores"
                + " x-amz-server-side-encryption on copies (S3Mock and Ceph RGW 16.2 do)").map(outcome))
                .onComplete(ar -> LOG.info("S3 phase tenant={} bucket={} {}: {} copied, {} already in"
                        + " place, {} failed, {} retries, {} throttled, window {} of {}, {} ms", run.tenant(),
                bucket.bucket(), ar.succeeded() ? ar.result() : "failed (" + ar.cause().getMessage() + ")",
                copyRun.copied(), copyRun.alreadyThere(), copyRun.failed(), retry.retries() + lookups.retries(),
                window.throttles() + lookups.window().throttles(),
                window.limit(), window.ceiling(), (System.nanoTime() - started) / 1_000_000));
    }

    // ---- verify, rollback, purge ----

    @Override
    public Future<Verified> verify(TenantScope scope) {
        S3Spec spec = specOf(scope);
        Context context = vertx.getOrCreateContext();
        return onContext(context, () -> ensureTables().compose(v -> documents.tenant(pool, scope.tenant()))
                .compose(row -> buckets.current(scope.tenant()).compose(entry -> {
                    String recorded = entry.map(TenantBuckets.Entry::bucket).orElse(null);
                    Future<Boolean> exists = recorded == null ? Future.succeededFuture(false)
                            : bucketExists(context, recorded);
                    return exists.compose(present -> {
                        String bucket = present ? recorded : null;
                        Future<BucketReport> controls = bucket == null ? Future.succeededFuture(null)
                                : resolveKey(spec, row, false).compose(resolved ->
                                        controls(context, resolved, scope.tenant(), entry.get()));
                        return controls.compose(report -> new S3Verifier(pool, documents, data,
                                retry(context, spec), scope, row.id(), bucket, spec.encryption(), spec.strict())
                                .run(report));
                    });
                })));
    }

    @Override
    public Future<Removed> rollback(TenantScope scope) {
        S3Spec spec = specOf(scope);
        Context context = vertx.getOrCreateContext();
        return onContext(context, () -> ensureTables().compose(v -> documents.tenant(pool, scope.tenant()))
                .compose(row -> buckets.current(scope.tenant()).compose(entry -> {
                    // An INTENT left by a crash names a bucket Silo was creating: if it exists, Silo made it.
                    TenantBuckets.Entry bucket = entry.map(e -> "INTENT".equals(e.state())
                            ? new TenantBuckets.Entry(e.bucket(), e.tenant(), e.purpose(), e.state(), true,
                            e.attempt(), e.controls()) : e).orElse(null);
                    return new S3Rollback(pool, documents, buckets, data, retry(context, spec), scope, row.id(),
                            bucket).run();
                })).onSuccess(r -> LOG.info("S3 rollback tenant={}: {} copies deleted with their versions, {} kept",
                        scope.tenant(), r.removed(), r.kept())));
    }

    @Override
    public Future<Removed> purge(TenantScope scope) {
        S3Spec spec = specOf(scope);
        Context context = vertx.getOrCreateContext();
        return onContext(context, () -> ensureTables().compose(v -> documents.tenant(pool, scope.tenant()))
                .compose(row -> new S3Purge(pool, documents, data, retry(context, spec), scope, row.id()).run())
                .onSuccess(r -> LOG.info("S3 purge tenant={}: {} shared-bucket objects deleted, {} kept",
                        scope.tenant(), r.removed(), r.kept())));
    }

    // ---- shared ----

    private S3Spec specOf(TenantScope scope) {
        return scope.spec() instanceof S3Spec spec ? spec : defaults;
    }

    private static S3Retry retry(Context context, S3Spec spec) {
        return S3Retry.standard(context, new AdaptiveWindow(spec.copyConcurrency(), 100));
    }

    ObjectCopier.Options copyOptions(S3Spec spec, Supplier<Future<Void>> kmsPermit, Runnable onKmsThrottled) {
        return ObjectCopier.Options.of(spec, kmsPermit, onKmsThrottled);
    }

    BucketSettings bucketSettings(S3Spec spec) {
        String logBucket = config.string("s3.logBucket");
        return new BucketSettings(region, spec.strict() ? BucketSettings.Mode.STRICT : BucketSettings.Mode.DEV,
                spec.bucketEncryption(), config.list("s3.corsOrigins"), logBucket.isEmpty() ? null : logBucket,
                config.string("s3.logPrefix"), NAME_ATTEMPTS);
    }

    BucketProvisioner provisioner(S3Spec spec, BucketProvisioner.Journal journal) {
        return new BucketProvisioner(control, bucketSettings(spec), new BucketNamer(spec.bucketPrefix()), journal);
    }

    BucketProvisioner.TenantBucket tenantBucket(String tenant, String bucket) {
        return new BucketProvisioner.TenantBucket(tenant, costCentre, bucket);
    }

    /** The tenant bucket's controls as read back now, judged by what its provisioning learnt. */
    private Future<BucketReport> controls(Context context, S3Spec spec, String tenant, TenantBuckets.Entry entry) {
        return await(context, provisioner(spec, BucketProvisioner.Journal.NONE)
                .checkControls(entry.bucket(), tenantBucket(tenant, entry.bucket())))
                .map(report -> report.knowingUnsupported(entry.unsupported()));
    }

    private Future<Boolean> bucketExists(Context context, String bucket) {
        return await(context, control.headBucket(b -> b.bucket(bucket))).map(true)
                .recover(e -> S3Errors.status(e) == 404 ? Future.succeededFuture(false) : Future.failedFuture(e));
    }

    /**
     * Installs the application-table extensions (db/app) once the documents table exists; in {@code serve} mode
     * Silo must not assume it does, so the phase refuses with FAILED_PRECONDITION naming the table until it does.
     */
    Future<Void> ensureTables() {
        if (tablesReady.get()) {
            return Future.succeededFuture();
        }
        return vertx.executeBlocking(() -> Database.ensureAppTables(config), false).compose(exists -> {
            if (!exists) {
                return Future.failedFuture(SiloException.precondition("the application table " + tables.documents()
                        + " does not exist: the S3 phase copies the documents it lists (set postgres.documentsTable"
                        + " if the application keeps them elsewhere)"));
            }
            tablesReady.set(true);
            return Future.succeededFuture();
        });
    }

    /** A CompletableFuture's result on {@code context}, without CompletableFuture's CompletionException wrapper. */
    static <T> Future<T> await(Context context, CompletionStage<T> stage) {
        return Future.fromCompletionStage(stage, context).recover(e -> Future.failedFuture(S3Errors.unwrap(e)));
    }

    /** Runs {@code body} on {@code context}, so everything it chains starts from there. */
    static <T> Future<T> onContext(Context context, Supplier<Future<T>> body) {
        Promise<T> promise = Promise.promise();
        context.runOnContext(v -> {
            try {
                body.get().onComplete(promise);
            } catch (RuntimeException e) {
                promise.fail(e);
            }
        });
        return promise.future();
    }

    Optional<String> costCentre() {
        return Optional.ofNullable(costCentre);
    }
}
