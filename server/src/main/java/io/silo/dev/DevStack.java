package io.silo.dev;

import io.silo.keys.LocalMasterKeyFile;
import java.io.IOException;
import java.sql.Connection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.services.s3.S3AsyncClient;

/**
 * The whole embedded dev stack of {@code silo-server dev} (PostgreSQL, S3, MongoDB-wire, local master key) in one
 * process, started in parallel and stopped in reverse order; the S3 may instead be an external endpoint.
 */
public final class DevStack implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(DevStack.class);

    /** A KMS key id S3Mock accepts in SSE-KMS requests (S3Mock only checks ids it was told about). */
    public static final String DEV_KMS_KEY_ID = "silo-dev-kms-key";

    private final DevOptions options;
    private final DevDataDirectory dataDirectory;
    private final DevPostgres postgres;
    private final DevS3 s3;
    private final DevMongo mongo;
    private final LocalMasterKeyFile masterKey;
    private final AppSchema appSchema;
    private final Map<String, Duration> startupTimings;
    private final Duration startupTime;

    private DevStack(DevOptions options, DevDataDirectory dataDirectory, DevPostgres postgres, DevS3 s3,
                     DevMongo mongo, LocalMasterKeyFile masterKey, AppSchema appSchema,
                     Map<String, Duration> startupTimings, Duration startupTime) {
        this.options = options;
        this.dataDirectory = dataDirectory;
        this.postgres = postgres;
        this.s3 = s3;
        this.mongo = mongo;
        this.masterKey = masterKey;
        this.appSchema = appSchema;
        this.startupTimings = Collections.unmodifiableMap(startupTimings);
        this.startupTime = startupTime;
    }

    /** Starts the stack with the legacy app's default table names. */
    public static DevStack start(DevOptions options, DevMongo.Launcher mongoLauncher) throws Exception {
        return start(options, mongoLauncher, AppSchema.defaults());
    }

    /**
     * Prepares the data directory (wiping it first if {@code options.fresh()}), starts PostgreSQL, S3 and MongoDB
     * in parallel, loads or creates the master key, and creates the application tables if absent.
     *
     * @param mongoLauncher starts the MongoDB-wire server, or {@code null} to run without one
     * @throws Exception the first failure; whatever had started by then is stopped again
     */
    public static DevStack start(DevOptions options, DevMongo.Launcher mongoLauncher, AppSchema appSchema)
            throws Exception {
        Objects.requireNonNull(options, "options");
        Objects.requireNonNull(appSchema, "appSchema");
        long t0 = System.nanoTime();
        DevDataDirectory dir = DevDataDirectory.prepare(options.dataDir(), options.fresh());
        Map<String, Duration> timings = Collections.synchronizedMap(new LinkedHashMap<>());

        // S3Mock (Spring Boot, ~2-3 s) dominates; PostgreSQL (~1 s warm) and Mongo run beside it, not after it.
        ExecutorService pool = Executors.newFixedThreadPool(3, r -> {
            Thread t = new Thread(r, "silo-dev-start");
            t.setDaemon(true);
            return t;
        });
        CompletableFuture<DevPostgres> pgF;
        CompletableFuture<DevS3> s3F;
        CompletableFuture<DevMongo> mongoF;
        try {
            pgF = timed(pool, timings, "postgres",
                    () -> DevPostgres.start(dir.postgres(), options.host(), options.pgPort()));
            // With an external S3 (--s3-endpoint) no S3Mock is started: the stack only points Silo at it.
            s3F = options.externalS3() != null ? CompletableFuture.completedFuture(null)
                    : timed(pool, timings, "s3", () -> DevS3.start(dir.s3(), options.host(), options.s3Port(),
                            List.of(), List.of(DEV_KMS_KEY_ID)));
            mongoF = mongoLauncher == null
                    ? CompletableFuture.completedFuture(null)
                    : timed(pool, timings, "mongo",
                            () -> mongoLauncher.start(dir.mongo(), options.host(), options.mongoPort()));
        } finally {
            pool.shutdown(); // lets the running tasks finish; no new ones
        }

        LocalMasterKeyFile key = null;
        Exception failure = null;
        try {
            long k0 = System.nanoTime();
            key = LocalMasterKeyFile.loadOrCreate(dir.masterKey());
            timings.put("master-key", Duration.ofNanos(System.nanoTime() - k0));
        } catch (Exception e) {
            failure = e;
        }

        // Wait for all three, even after a failure, so nothing is left running unowned.
        DevPostgres pg = await(pgF);
        DevS3 s3 = await(s3F);
        DevMongo mongo = await(mongoF);
        for (CompletableFuture<?> f : List.of(pgF, s3F, mongoF)) {
            if (f.isCompletedExceptionally()) {
                Exception e = unwrap(f);
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        if (failure == null) {
            try (Connection c = pg.connect()) {
                long a0 = System.nanoTime();
                appSchema.createIfAbsent(c);
                timings.put("app-schema", Duration.ofNanos(System.nanoTime() - a0));
            } catch (Exception e) {
                failure = e;
            }
        }
        if (failure != null) {
            closeQuietly(mongo, s3, pg, failure);
            throw failure;
        }
        Duration total = Duration.ofNanos(System.nanoTime() - t0);
        DevStack stack = new DevStack(options, dir, pg, s3, mongo, key, appSchema, new LinkedHashMap<>(timings), total);
        LOG.info("Dev stack ready in {} ms ({})", total.toMillis(), stack.timingsSummary());
        return stack;
    }

    private static <T> CompletableFuture<T> timed(ExecutorService pool, Map<String, Duration> timings, String name,
                                                  Callable<T> start) {
        return CompletableFuture.supplyAsync(() -> {
            long t0 = System.nanoTime();
            try {
                T value = start.call();
                timings.put(name, Duration.ofNanos(System.nanoTime() - t0));
                return value;
            } catch (RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new CompletionException(e);
            }
        }, pool);
    }

    private static <T> T await(CompletableFuture<T> f) {
        try {
            return f.join();
        } catch (CompletionException | java.util.concurrent.CancellationException e) {
            return null;
        }
    }

    private static Exception unwrap(CompletableFuture<?> f) {
        try {
            f.join();
            return null;
        } catch (CompletionException e) {
            Throwable c = e.getCause() == null ? e : e.getCause();
            return c instanceof Exception ex ? ex : new IOException(c);
        }
    }

    private static void closeQuietly(DevMongo mongo, DevS3 s3, DevPostgres pg, Exception into) {
        for (AutoCloseable c : new AutoCloseable[] {mongo, s3, pg}) {
            if (c != null) {
                try {
                    c.close();
                } catch (Exception e) {
                    into.addSuppressed(e);
                }
            }
        }
    }

    public DevOptions options() {
        return options;
    }

    public DevDataDirectory dataDirectory() {
        return dataDirectory;
    }

    public DevPostgres postgres() {
        return postgres;
    }

    /** The in-process S3Mock, or {@code null} when the stack uses an external S3 ({@link #s3Endpoint()}). */
    public DevS3 s3() {
        return s3;
    }

    /** The S3 Silo and the demo seeder use: the external one given in the options, else the in-process S3Mock. */
    public S3Endpoint s3Endpoint() {
        if (options.externalS3() != null) {
            return options.externalS3();
        }
        return new S3Endpoint(java.net.URI.create(s3.endpoint()), s3.region(), s3.accessKeyId(), s3.secretAccessKey());
    }

    /** The MongoDB-wire server, or {@code null} if the stack was started without one. */
    public DevMongo mongo() {
        return mongo;
    }

    public LocalMasterKeyFile masterKey() {
        return masterKey;
    }

    public AppSchema appSchema() {
        return appSchema;
    }

    /** Wall time of each start-up step (postgres, s3, mongo, master-key, app-schema); the first three overlap. */
    public Map<String, Duration> startupTimings() {
        return startupTimings;
    }

    /** Wall time of {@link #start} as a whole. */
    public Duration startupTime() {
        return startupTime;
    }

    /** Seeds the demo estate into this stack (idempotent: does nothing if data is present). */
    public DemoSeeder.Result seedDemo(DemoSeeder.Options seedOptions, Consumer<String> progress) throws Exception {
        if (mongo == null) {
            throw new IllegalStateException("The demo needs MongoDB, but this dev stack was started without it");
        }
        DemoSeeder.Options o = seedOptions;
        if (!o.schema().tenantsTable().equals(appSchema.tenantsTable())
                || !o.schema().documentsTable().equals(appSchema.documentsTable())) {
            o = new DemoSeeder.Options(o.tenants(), o.patients(), o.objects(), o.seed(), o.bucket(), o.mongoDatabase(),
                    o.mongoCollection(), o.uploadConcurrency(), o.insertBatchSize(), appSchema);
        }
        try (S3AsyncClient client = s3Endpoint().asyncClient(o.uploadConcurrency())) {
            return new DemoSeeder(o, progress).seed(postgres::connect, mongo.connectionString(), client);
        }
    }

    /** The text {@code silo-server dev} prints: addresses, credentials and the key's path, never the key itself. */
    public String banner() {
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "Silo dev stack is running (started in %.1f s; %s)%n",
                startupTime.toMillis() / 1000.0, timingsSummary()));
        b.append("Data directory: ").append(dataDirectory.root()).append(" (kept across restarts; --fresh wipes it)\n\n");
        b.append("PostgreSQL ").append(postgres.host()).append(':').append(postgres.port()).append('\n');
        b.append("  JDBC URL:     ").append(postgres.jdbcUrl()).append('\n');
        b.append("  DATABASE_URL: ").append(postgres.uri()).append('\n');
        b.append("  User:         ").append(postgres.user()).append("  Password: ").append(postgres.password())
                .append("  (trust auth: any password works)\n");
        b.append("  App tables:   ").append(appSchema.tenantsTable()).append(", ").append(appSchema.documentsTable())
                .append('\n');
        b.append('\n');
        if (mongo != null) {
            b.append("MongoDB (wire-compatible dev server)\n");
            b.append("  Connection:   ").append(mongo.connectionString()).append('\n');
        } else {
            b.append("MongoDB        not started\n");
        }
        b.append('\n');
        if (s3 != null) {
            b.append("S3 (S3Mock)\n");
            b.append("  Endpoint:     ").append(s3.endpoint()).append("  (path-style)\n");
            b.append("  Region:       ").append(s3.region().id()).append('\n');
            b.append("  Access key:   ").append(s3.accessKeyId()).append("  Secret: ").append(s3.secretAccessKey())
                    .append("  (any credentials are accepted)\n");
            b.append("  KMS key id:   ").append(DEV_KMS_KEY_ID).append("  (valid for SSE-KMS requests)\n");
        } else {
            // Real credentials of someone else's S3: the access key id identifies them, the secret is never shown.
            S3Endpoint external = options.externalS3();
            b.append("S3 (external, --s3-endpoint)\n");
            b.append("  Endpoint:     ").append(external.endpoint()).append("  (path-style)\n");
            b.append("  Region:       ").append(external.region().id()).append('\n');
            b.append("  Access key:   ").append(external.accessKeyId()).append("  Secret: (not shown)\n");
        }
        b.append('\n');
        b.append("KMS provider local\n");
        b.append("  Master key:   ").append(masterKey.path()).append(masterKey.created() ? "  (created now, " : "  (")
                .append(LocalMasterKeyFile.KEY_LENGTH).append(" bytes, mode 0600)\n");
        b.append('\n');
        b.append("WARNING: dev mode. This is a development master key, stored unencrypted on local disk. Anything\n");
        b.append("encrypted under it is only as safe as that file. Do not use this stack for real data. PostgreSQL\n");
        b.append("runs with fsync off and trust authentication.\n");
        return b.toString();
    }

    private String timingsSummary() {
        StringBuilder s = new StringBuilder();
        startupTimings.forEach((k, v) -> {
            if (s.length() > 0) {
                s.append(", ");
            }
            s.append(k).append(' ').append(v.toMillis()).append(" ms");
        });
        return s.toString();
    }

    /** Stops MongoDB, S3 and PostgreSQL, in that order (reverse of dependency); data stays on disk. */
    @Override
    public void close() throws Exception {
        Exception failure = null;
        for (AutoCloseable c : new AutoCloseable[] {mongo, s3, postgres}) {
            if (c == null) {
                continue;
            }
            try {
                c.close();
            } catch (Exception e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }
}
