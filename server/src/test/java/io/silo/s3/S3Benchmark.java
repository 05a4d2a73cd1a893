package io.silo.s3;

import io.silo.jobs.Phase;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.async.AsyncRequestBody;
import software.amazon.awssdk.services.s3.S3AsyncClient;
import software.amazon.awssdk.services.s3.model.MetadataDirective;

/**
 * Times the S3 phase's copy against (a) the seed's sequential CopyObject loop, (b) the raw SDK making the same
 * requests at the same concurrency without tracking (the ceiling) and (c) rclone's server-side copy with the same
 * {@code --transfers}, on the dev stack's S3 (S3Mock) in this JVM, then again with a fixed latency added to every
 * S3 request by a proxy. Informational: prints PASS or BELOW-TARGET per ratio and exits 0 whatever the numbers. Run
 * it with {@code src/scripts/s3-benchmark --help}; the name does not end in "Test", so Surefire never picks it up.
 */
public final class S3Benchmark {

    private static final double TARGET_VS_CEILING = 0.8;
    private static final double TARGET_VS_RCLONE = 1.0;
    private static final double TARGET_VS_SEQUENTIAL_LATENCY = 20.0;

    /** Command-line settings. */
    record Options(int objects, int concurrency, long latencyMs, int sequentialLimit, boolean rclone, boolean rgw) {
    }

    /** One timed method: objects and bytes copied in {@code seconds}. */
    record Timing(String name, long objects, long bytes, double seconds, String note) {
        double objectsPerSecond() {
            return objects / seconds;
        }

        double megabytesPerSecond() {
            return bytes / 1e6 / seconds;
        }
    }

    private record Source(long id, String key, String filename, long size) {
    }

    private final Options options;
    private S3Estate estate;
    private StaticCredentialsProvider credentials;
    private String encryption;
    private String backend;
    private String prefix;
    private final List<Source> sources = new ArrayList<>();
    private long totalBytes;
    private int targets;

    private S3Benchmark(Options options) {
        this.options = options;
    }

    public static void main(String[] args) throws Exception {
        Options options = parse(args);
        if (options == null) {
            return;
        }
        new S3Benchmark(options).run();
        System.exit(0);
    }

    private static Options parse(String[] args) {
        int objects = 5_000;
        int concurrency = 64;
        long latency = 30;
        int sequentialLimit = 300;
        boolean rclone = true;
        boolean rgw = System.getenv("SILO_TEST_RGW_ENDPOINT") != null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--quick" -> {
                    objects = 400;
                    sequentialLimit = 60;
                }
                case "--objects" -> objects = Integer.parseInt(args[++i].replace("_", "").replace(",", ""));
                case "--concurrency" -> concurrency = Integer.parseInt(args[++i]);
                case "--latency" -> latency = Long.parseLong(args[++i].replace("ms", ""));
                case "--skip-latency" -> latency = 0;
                case "--skip-rclone" -> rclone = false;
                case "--s3mock" -> rgw = false;
                case "--help", "-h" -> {
                    System.out.println("""
                            Usage: src/scripts/s3-benchmark [--objects 5000] [--concurrency 64] [--latency 30ms]
                                                            [--skip-latency] [--skip-rclone] [--s3mock] [--quick]
                            Copies the same objects (mixed sizes: 85 % 1-20 KB, 12 % 20-100 KB, 3 % 100 KB-1 MB) from the
                            shared bucket into fresh buckets, on the Ceph RGW named by SILO_TEST_RGW_* when set (start one
                            with: eval "$(src/scripts/rgw-dev.sh start /tmp/silo-rgw)"), else (or with --s3mock) on the
                            dev stack's S3Mock in this JVM, which slows down as a bucket fills (it rewrites the bucket's
                            index on every write), so use a few hundred objects there. Methods:
                              silo        the S3 phase (preflight, bucket with controls, copies, PostgreSQL tracking)
                              raw-sdk     the same S3 requests at the same concurrency, no tracking (the ceiling)
                              copy-only   CopyObject alone at the same concurrency (keeps no metadata or filename)
                              rclone      rclone copy, server-side, --transfers and --checkers = concurrency
                              sequential  one CopyObject after another (the seed's loop)
                            then silo, rclone and sequential again with --latency added to every S3 request by a
                            proxy (sequential on at most 300 objects there: its rate is what counts).
                            --quick: 400 objects, 60 for the sequential loop with latency; seconds, for CI.""");
                    return null;
                }
                default -> throw new IllegalArgumentException("unknown option " + args[i] + " (try --help)");
            }
        }
        return new Options(objects, concurrency, latency, sequentialLimit, rclone, rgw);
    }

    private void run() throws Exception {
        Path dir = Files.createTempDirectory("silo-s3-bench-");
        String run = Long.toString(System.currentTimeMillis() % 1_000_000, 36);
        if (options.rgw()) {
            Map<String, String> env = System.getenv();
            credentials = StaticCredentialsProvider.create(AwsBasicCredentials.create(
                    env.get("SILO_TEST_RGW_ACCESS_KEY"), env.get("SILO_TEST_RGW_SECRET_KEY")));
            // RGW 16.2 has no SSE-S3; its testing KMS backend takes this key. RGW outlives the benchmark: names of
            // this run's own.
            encryption = "aws:kms";
            estate = S3Estate.on(env.get("SILO_TEST_RGW_ENDPOINT"), credentials, Map.of(
                    "s3.sharedBucket", "bench-shared-" + run, "s3.encryption", "aws:kms",
                    "s3.kmsKeyId", env.getOrDefault("SILO_TEST_RGW_KMS_KEY_ID", "silo-test-key")));
            backend = "Ceph RGW 16.2 (own processes)";
        } else {
            credentials = StaticCredentialsProvider.create(AwsBasicCredentials.create(
                    io.silo.dev.DevS3.ACCESS_KEY_ID, io.silo.dev.DevS3.SECRET_ACCESS_KEY));
            encryption = "AES256";
            estate = S3Estate.onS3Mock(dir);
            backend = "S3Mock 4.7 in this JVM";
        }
        prefix = "bench-" + run;
        estate.settings.put("s3.copyConcurrency", options.concurrency());
        estate.settings.put("s3.batchSize", 200);
        try {
            seed();
            System.out.printf(Locale.ROOT, "%n%,d objects, %.1f MB, concurrency %d, %s, %d cores%n",
                    sources.size(), totalBytes / 1e6, options.concurrency(), backend,
                    Runtime.getRuntime().availableProcessors());
            warmUp();
            Map<String, Timing> local = new LinkedHashMap<>();
            local.put("raw-sdk", rawSdk(estate.endpoint(), sources, false));
            local.put("silo", silo(estate.endpoint(), prefix + "-silo"));
            local.put("copy-only", rawSdk(estate.endpoint(), sources, true));
            if (options.rclone()) {
                local.put("rclone", rclone(estate.endpoint()));
            }
            local.put("sequential", sequential(estate.endpoint(), sources.size()));
            print("Local (loopback)", local);
            verdict("silo / raw-sdk", local, "silo", "raw-sdk", TARGET_VS_CEILING);
            verdict("silo / rclone", local, "silo", "rclone", TARGET_VS_RCLONE);
            verdict("silo / sequential", local, "silo", "sequential", 0);

            if (options.latencyMs() > 0) {
                try (FaultProxy proxy = FaultProxy.start(estate.vertx, estate.endpoint(), 0, options.latencyMs(), 1)) {
                    Map<String, Timing> slow = new LinkedHashMap<>();
                    slow.put("silo", counted(proxy, silo(proxy.endpoint(), prefix + "-silo-latency")));
                    if (options.rclone()) {
                        slow.put("rclone", counted(proxy, rclone(proxy.endpoint())));
                    }
                    slow.put("sequential", counted(proxy, sequential(proxy.endpoint(),
                            Math.min(options.sequentialLimit(), sources.size()))));
                    print("With " + options.latencyMs() + " ms added to every S3 request", slow);
                    verdict("silo / sequential", slow, "silo", "sequential", TARGET_VS_SEQUENTIAL_LATENCY);
                    verdict("silo / rclone", slow, "silo", "rclone", TARGET_VS_RCLONE);
                }
            }
        } finally {
            estate.close();
        }
    }

    // ---- estate ----

    private void seed() throws Exception {
        long tenant = estate.tenant("bench");
        long warm = estate.tenant(prefix + "-warm-up");
        Random random = new Random(20261202L);
        Semaphore permits = new Semaphore(64);
        List<CompletableFuture<?>> puts = new ArrayList<>();
        List<String[]> rows = new ArrayList<>();
        for (int i = 0; i < options.objects(); i++) {
            int tier = random.nextInt(100);
            int size = tier < 85 ? 1_024 + random.nextInt(19 * 1_024)
                    : tier < 97 ? 20 * 1_024 + random.nextInt(80 * 1_024) : 100 * 1_024 + random.nextInt(924 * 1_024);
            String filename = "report " + i + " (Q" + (1 + i % 4) + ").pdf";
            String key = "uploads/bench/" + i + "-" + filename;
            byte[] body = new byte[size];
            random.nextBytes(body);
            permits.acquire();
            puts.add(estate.direct.putObject(b -> b.bucket(estate.shared).key(key).contentType("application/pdf")
                    .metadata(Map.of("uploaded-by", "bench")), AsyncRequestBody.fromBytes(body))
                    .whenComplete((r, e) -> permits.release()));
            rows.add(new String[] {filename, key, Integer.toString(size)});
            totalBytes += size;
        }
        CompletableFuture.allOf(puts.toArray(CompletableFuture[]::new)).get(30, TimeUnit.MINUTES);
        try (Connection c = estate.jdbc(); PreparedStatement ps = c.prepareStatement("INSERT INTO public.documents"
                + " (tenant_id, filename, s3_bucket, s3_key, size_bytes, content_type) VALUES (?, ?, ?, ?, ?,"
                + " 'application/pdf') RETURNING id")) {
            for (String[] row : rows) {
                ps.setLong(1, tenant);
                ps.setString(2, row[0]);
                ps.setString(3, estate.shared);
                ps.setString(4, row[1]);
                ps.setLong(5, Long.parseLong(row[2]));
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    sources.add(new Source(rs.getLong(1), row[1], row[0], Long.parseLong(row[2])));
                }
            }
            // The warm-up tenant's documents point at the first 200 objects.
            for (String[] row : rows.subList(0, Math.min(200, rows.size()))) {
                ps.setLong(1, warm);
                ps.setString(2, row[0]);
                ps.setString(3, estate.shared);
                ps.setString(4, row[1]);
                ps.setLong(5, Long.parseLong(row[2]));
                ps.executeQuery().close();
            }
        }
    }

    /** JIT and connection pools warm for every Java method, outside the timings. */
    private void warmUp() throws Exception {
        estate.phase().run(estate.run(prefix + "-warm-up", estate.spec())).toCompletionStage().toCompletableFuture()
                .get(30, TimeUnit.MINUTES);
        rawSdk(estate.endpoint(), sources.subList(0, Math.min(200, sources.size())), false);
    }

    /**
     * A new bucket for one baseline, versioned like every tenant bucket: a versioned write costs the server more
     * (README, S3 benchmark), and every method should copy into the same kind of bucket. Silo's own also has its
     * other controls (public access block, policy, lifecycle, ...).
     */
    private String freshBucket(String method) throws Exception {
        String bucket = prefix + "-" + method + "-" + (++targets);
        estate.direct.createBucket(b -> b.bucket(bucket)).get(60, TimeUnit.SECONDS);
        estate.direct.putBucketVersioning(b -> b.bucket(bucket).versioningConfiguration(v -> v
                .status(software.amazon.awssdk.services.s3.model.BucketVersioningStatus.ENABLED)))
                .get(60, TimeUnit.SECONDS);
        return bucket;
    }

    private S3AsyncClient client(String endpoint) {
        // The phase's own data-plane set-up, so the baselines lose nothing to it.
        return S3Clients.dataPlane(URI.create(endpoint), io.silo.dev.DevS3.REGION, credentials,
                2 * options.concurrency(), null);
    }

    // ---- methods ----

    private Timing silo(String endpoint, String tenantLabel) throws Exception {
        // A tenant of its own per measurement, so each one copies into a new bucket.
        long tenant = estate.tenant(tenantLabel);
        estate.sql("INSERT INTO public.documents (tenant_id, filename, s3_bucket, s3_key, size_bytes, content_type)"
                + " SELECT " + tenant + ", filename, s3_bucket, s3_key, size_bytes, content_type FROM public.documents"
                + " WHERE tenant_id = (SELECT id FROM public.tenants WHERE slug = 'bench') ORDER BY id");
        S3Phase phase = estate.phase(endpoint, null);
        TestRunContext run = estate.run(tenantLabel, estate.spec());
        long t0 = System.nanoTime();
        Phase.Outcome outcome = phase.run(run).toCompletionStage().toCompletableFuture().get(60, TimeUnit.MINUTES);
        double seconds = (System.nanoTime() - t0) / 1e9;
        if (outcome != Phase.Outcome.COMPLETE || !run.failures.isEmpty()) {
            throw new IllegalStateException("the S3 phase did not complete cleanly: " + outcome + ", "
                    + run.failures.size() + " failed");
        }
        return new Timing("silo", run.done(), run.totalBytes, seconds,
                "incl. preflight, bucket + 8 controls, tracking in PostgreSQL");
    }

    /**
     * The same copy requests as the phase (HeadObject of the source, then CopyObject with REPLACE, the source's
     * metadata, Content-Disposition and encryption) with as many in flight, or CopyObject alone at the concurrency:
     * worker loops over a shared list, no windows, no retries, no tracking.
     */
    private Timing rawSdk(String endpoint, List<Source> objects, boolean copyOnly) throws Exception {
        String bucket = freshBucket(copyOnly ? "copy-only" : "raw");
        AtomicInteger next = new AtomicInteger();
        // The phase keeps a window of lookups beside its window of copies: twice the workers, each HeadObject then
        // CopyObject, keep as many requests in flight.
        int workers = copyOnly ? options.concurrency() : 2 * options.concurrency();
        try (S3AsyncClient s3 = client(endpoint)) {
            long t0 = System.nanoTime();
            List<CompletableFuture<Void>> loops = new ArrayList<>();
            for (int w = 0; w < workers; w++) {
                loops.add(worker(s3, objects, next, bucket, copyOnly));
            }
            CompletableFuture.allOf(loops.toArray(CompletableFuture[]::new)).get(60, TimeUnit.MINUTES);
            double seconds = (System.nanoTime() - t0) / 1e9;
            long bytes = objects.stream().mapToLong(Source::size).sum();
            return new Timing(copyOnly ? "copy-only" : "raw-sdk", objects.size(), bytes, seconds,
                    copyOnly ? "no metadata, no filename, no ETag check" : "same requests as silo, no tracking");
        }
    }

    private CompletableFuture<Void> worker(S3AsyncClient s3, List<Source> objects, AtomicInteger next, String bucket,
                                           boolean copyOnly) {
        int i = next.getAndIncrement();
        if (i >= objects.size()) {
            return CompletableFuture.completedFuture(null);
        }
        Source o = objects.get(i);
        String key = FilenameSanitizer.key(Long.toString(o.id()), o.filename());
        CompletableFuture<?> one = copyOnly
                ? s3.copyObject(b -> b.sourceBucket(estate.shared).sourceKey(o.key())
                .destinationBucket(bucket).destinationKey(key))
                : s3.headObject(b -> b.bucket(estate.shared).key(o.key())).thenCompose(head -> {
                    Map<String, String> meta = new HashMap<>(head.metadata());
                    meta.put(ObjectCopier.SOURCE_ETAG_META, ObjectCopier.etag(head.eTag()));
                    return s3.copyObject(b -> b.sourceBucket(estate.shared).sourceKey(o.key())
                            .copySourceIfMatch(head.eTag()).destinationBucket(bucket).destinationKey(key)
                            .metadataDirective(MetadataDirective.REPLACE).contentType(head.contentType())
                            .contentDisposition(ObjectCopier.contentDisposition(o.filename()))
                            .metadata(meta).serverSideEncryption(encryption)
                            .ssekmsKeyId("aws:kms".equals(encryption) ? estate.spec().kmsKeyId() : null));
                });
        return one.thenCompose(r -> worker(s3, objects, next, bucket, copyOnly));
    }

    /** The seed's loop: one CopyObject after another, each waited for. */
    private Timing sequential(String endpoint, int count) throws Exception {
        String bucket = freshBucket("sequential");
        long bytes = 0;
        try (S3AsyncClient s3 = client(endpoint)) {
            long t0 = System.nanoTime();
            for (Source o : sources.subList(0, count)) {
                String key = FilenameSanitizer.key(Long.toString(o.id()), o.filename());
                s3.copyObject(b -> b.sourceBucket(estate.shared).sourceKey(o.key()).destinationBucket(bucket)
                        .destinationKey(key)).get(60, TimeUnit.SECONDS);
                bytes += o.size();
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            return new Timing("sequential", count, bytes, seconds,
                    count < sources.size() ? "first " + count + " objects" : "");
        }
    }

    /** rclone's server-side copy of the same objects into a fresh bucket; its own S3 client, its own process. */
    private Timing rclone(String endpoint) throws Exception {
        String bucket = freshBucket("rclone");
        Map<String, String> env = new HashMap<>();
        env.put("RCLONE_CONFIG_SILO_TYPE", "s3");
        env.put("RCLONE_CONFIG_SILO_PROVIDER", "Other");
        env.put("RCLONE_CONFIG_SILO_ENDPOINT", endpoint);
        env.put("RCLONE_CONFIG_SILO_REGION", "us-east-1");
        env.put("RCLONE_CONFIG_SILO_ACCESS_KEY_ID", credentials.resolveCredentials().accessKeyId());
        env.put("RCLONE_CONFIG_SILO_SECRET_ACCESS_KEY", credentials.resolveCredentials().secretAccessKey());
        env.put("RCLONE_CONFIG_SILO_FORCE_PATH_STYLE", "true");
        List<String> command = List.of("rclone", "copy", "silo:" + estate.shared + "/uploads/bench", "silo:" + bucket,
                "--transfers", Integer.toString(options.concurrency()),
                "--checkers", Integer.toString(options.concurrency()),
                "--s3-no-check-bucket", "--stats", "0", "--log-level", "ERROR");
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
        // rclone is configured by the RCLONE_CONFIG_SILO_* variables alone: an AWS_* setting of the caller's shell
        // (a profile, a CA bundle for another endpoint) would reach its AWS SDK and change what is measured.
        pb.environment().keySet().removeIf(k -> k.startsWith("AWS_"));
        pb.environment().putAll(env);
        long t0 = System.nanoTime();
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            return new Timing("rclone", 0, 0, Double.NaN, "rclone is not installed: apt-get install rclone"
                    + " (Debian package rclone)");
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.MINUTES) || p.exitValue() != 0) {
            throw new IllegalStateException("rclone failed: " + out);
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        int copied = estate.keys(bucket).size();
        if (copied != sources.size()) {
            throw new IllegalStateException("rclone copied " + copied + " of " + sources.size() + " objects: " + out);
        }
        return new Timing("rclone", copied, totalBytes, seconds, "server-side copy, --transfers "
                + options.concurrency() + " (process start and listing included)");
    }

    private long requestsSoFar;

    /** The timing with the S3 requests per object that went through {@code proxy} for it. */
    private Timing counted(FaultProxy proxy, Timing t) {
        long requests = proxy.requests.get() - requestsSoFar;
        requestsSoFar = proxy.requests.get();
        String perObject = String.format(Locale.ROOT, "%.2f requests/object", (double) requests / t.objects());
        return new Timing(t.name(), t.objects(), t.bytes(), t.seconds(), perObject
                + (t.note().isEmpty() ? "" : "; " + t.note()));
    }

    // ---- report ----

    private static void print(String title, Map<String, Timing> timings) {
        System.out.printf(Locale.ROOT, "%n%s%n  %-11s %9s %10s %9s %8s  %s%n", title, "method", "objects", "seconds",
                "objects/s", "MB/s", "");
        for (Timing t : timings.values()) {
            System.out.printf(Locale.ROOT, "  %-11s %9d %10.2f %9.1f %8.2f  %s%n", t.name(), t.objects(), t.seconds(),
                    t.objectsPerSecond(), t.megabytesPerSecond(), t.note());
        }
    }

    private static void verdict(String label, Map<String, Timing> timings, String a, String b, double target) {
        Timing x = timings.get(a);
        Timing y = timings.get(b);
        if (x == null || y == null || Double.isNaN(y.seconds())) {
            System.out.printf(Locale.ROOT, "  %-20s n/a (%s)%n", label, y == null ? b + " not run" : y.note());
            return;
        }
        Function<Timing, Double> rate = Timing::objectsPerSecond;
        double ratio = rate.apply(x) / rate.apply(y);
        String verdict = target <= 0 ? "" : ratio >= target ? "PASS (target >= " + target + "x)"
                : "BELOW-TARGET (target >= " + target + "x)";
        System.out.printf(Locale.ROOT, "  %-20s %6.2fx objects/s  %s%n", label, ratio, verdict);
    }
}
