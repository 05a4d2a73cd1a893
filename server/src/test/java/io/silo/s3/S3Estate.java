package io.silo.s3;

import io.silo.TestPostgres;
import io.silo.config.SiloConfig;
import io.silo.dev.AppSchema;
import io.silo.dev.DemoSeeder;
import io.silo.dev.DevS3;
import io.silo.dev.mongo.DevMongoServer;
import io.silo.jobs.Phase;
import io.silo.jobs.TenantScope;
import io.silo.store.Database;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.net.URI;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.async.AsyncRequestBody;
import software.amazon.awssdk.services.s3.S3AsyncClient;
import software.amazon.awssdk.services.s3.S3AsyncClientBuilder;

/**
 * A legacy estate for the S3 phase's tests and benchmark: a fresh PostgreSQL database with the application's
 * tenants and documents tables (and Silo's schema), an S3 endpoint (the in-process S3Mock of the dev stack unless
 * another is given) holding the shared bucket, and an {@link S3Phase} wired to them.
 */
final class S3Estate implements AutoCloseable {

    static final String SHARED = DemoSeeder.SHARED_BUCKET;
    static final String KMS_KEY_ID = "silo-test-kms-key";

    final Vertx vertx;
    final Map<String, Object> settings;
    /** The shared bucket documents are seeded into. */
    final String shared;
    final Database database;
    final DevS3 s3mock;
    /** A plain client straight to the endpoint (no faults), for setting up and checking. */
    final S3AsyncClient direct;
    private final String endpoint;
    private final StaticCredentialsProvider credentials;
    private final List<AutoCloseable> closeLater = new CopyOnWriteArrayList<>();

    private S3Estate(Vertx vertx, Map<String, Object> settings, Database database, DevS3 s3mock, String endpoint,
                     StaticCredentialsProvider credentials) {
        this.vertx = vertx;
        this.settings = settings;
        this.shared = (String) settings.getOrDefault("s3.sharedBucket", SHARED);
        this.database = database;
        this.s3mock = s3mock;
        this.endpoint = endpoint;
        this.credentials = credentials;
        this.direct = S3Clients.async(URI.create(endpoint), DevS3.REGION, credentials, 64, null);
    }

    /** An estate on the dev stack's S3Mock, started in {@code dir}. */
    static S3Estate onS3Mock(Path dir) throws Exception {
        // S3Mock registers KMS keys given as ARNs and then accepts their bare ids in requests.
        DevS3 s3 = DevS3.start(dir.resolve("s3"), "127.0.0.1", 0, List.of(SHARED),
                List.of("arn:aws:kms:us-east-1:000000000000:key/" + KMS_KEY_ID));
        try {
            return create(s3, s3.endpoint(), StaticCredentialsProvider.create(AwsBasicCredentials.create(
                    DevS3.ACCESS_KEY_ID, DevS3.SECRET_ACCESS_KEY)), Map.of());
        } catch (Exception e) {
            s3.close();
            throw e;
        }
    }

    /** An estate on another S3 endpoint (RGW); the shared bucket is created when missing. */
    static S3Estate on(String endpoint, StaticCredentialsProvider credentials, Map<String, Object> extra)
            throws Exception {
        return create(null, endpoint, credentials, extra);
    }

    private static S3Estate create(DevS3 s3mock, String endpoint, StaticCredentialsProvider credentials,
                                   Map<String, Object> extra) throws Exception {
        Map<String, Object> settings = new HashMap<>(TestPostgres.freshDatabase());
        settings.put("s3.endpoint", endpoint);
        settings.put("s3.pathStyle", true);
        settings.put("s3.strict", false);
        settings.put("s3.accessKeyId", credentials.resolveCredentials().accessKeyId());
        settings.put("s3.secretAccessKey", credentials.resolveCredentials().secretAccessKey());
        settings.put("s3.copyConcurrency", 16);
        settings.put("s3.batchSize", 20);
        settings.putAll(extra);
        try (Connection c = jdbc(settings)) {
            AppSchema.defaults().createIfAbsent(c);
        }
        Vertx vertx = Vertx.vertx();
        Database database = await(Database.open(vertx, SiloConfig.of(settings)));
        S3Estate estate = new S3Estate(vertx, settings, database, s3mock, endpoint, credentials);
        try {
            estate.direct.createBucket(b -> b.bucket(estate.shared)).exceptionally(e -> null).get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            estate.close();
            throw e;
        }
        return estate;
    }

    SiloConfig config() {
        return SiloConfig.of(settings);
    }

    String endpoint() {
        return endpoint;
    }

    /** The phase talking to {@code endpoint} (this estate's, or a fault proxy in front of it). */
    S3Phase phase(String viaEndpoint, Consumer<S3AsyncClientBuilder> extra) {
        URI uri = URI.create(viaEndpoint);
        S3AsyncClient control = S3Clients.async(uri, DevS3.REGION, credentials, 16, extra);
        S3AsyncClient data = S3Clients.dataPlane(uri, DevS3.REGION, credentials, 512, extra);
        S3Phase phase = new S3Phase(vertx, config(), database, control, data);
        closeLater.add(phase::close);
        return phase;
    }

    S3Phase phase() {
        return phase(endpoint, null);
    }

    S3Spec spec() {
        return S3Spec.defaults(config());
    }

    static Connection jdbc(Map<String, Object> settings) throws SQLException {
        return DriverManager.getConnection("jdbc:postgresql://localhost:" + settings.get("postgres.port") + "/"
                + settings.get("postgres.database"), "postgres", "postgres");
    }

    Connection jdbc() throws SQLException {
        return jdbc(settings);
    }

    /** Seeds the dev stack's demo estate (tenants, documents rows and objects with hostile names). */
    DemoSeeder.Result seedDemo(int tenants, int objects) throws Exception {
        try (DevMongoServer mongo = DevMongoServer.start(null, "127.0.0.1", 0)) {
            DemoSeeder.Options options = DemoSeeder.Options.defaults().withCounts(tenants, 0, objects);
            return new DemoSeeder(options, line -> { }).seed(this::jdbc, mongo.connectionString(), direct);
        }
    }

    /** Inserts a tenant row; returns its id. */
    long tenant(String slug) throws SQLException {
        try (Connection c = jdbc(); PreparedStatement ps = c.prepareStatement(
                "INSERT INTO public.tenants (name, slug) VALUES (?, ?) RETURNING id")) {
            ps.setString(1, slug);
            ps.setString(2, slug);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    /** Uploads {@code body} to the shared bucket at {@code key} and records a documents row; returns its id. */
    long document(long tenantId, String filename, String key, byte[] body, String contentType,
                  Map<String, String> metadata) throws Exception {
        direct.putObject(b -> b.bucket(shared).key(key).contentType(contentType).metadata(metadata),
                AsyncRequestBody.fromBytes(body)).get(60, TimeUnit.SECONDS);
        try (Connection c = jdbc(); PreparedStatement ps = c.prepareStatement("INSERT INTO public.documents"
                + " (tenant_id, filename, s3_bucket, s3_key, size_bytes, content_type) VALUES (?, ?, ?, ?, ?, ?)"
                + " RETURNING id")) {
            ps.setLong(1, tenantId);
            ps.setString(2, filename);
            ps.setString(3, shared);
            ps.setString(4, key);
            ps.setLong(5, body.length);
            ps.setString(6, contentType);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    /** A fresh run of the tenant's S3 phase (a new migration id, no checkpoint). */
    TestRunContext run(String tenant, S3Spec spec) {
        return new TestRunContext(UUID.randomUUID(), tenant, spec, vertx.getOrCreateContext(), database.pool(), null);
    }

    /** The scope of verify, rollback and purge; findings go to {@code findings}. */
    TenantScope scope(String tenant, S3Spec spec, List<io.silo.jobs.Finding> findings) {
        return new TenantScope(tenant, UUID.randomUUID(), spec, null, null, new TenantScope.FindingSink() {
            @Override
            public void finding(io.silo.jobs.Finding finding) {
                findings.add(finding);
            }

            @Override
            public void checked(long soFar) {
            }
        }, () -> false);
    }

    byte[] get(String bucket, String key) throws Exception {
        return BucketContents.get(direct, bucket, key);
    }

    /** Every key in {@code bucket}. */
    List<String> keys(String bucket) throws Exception {
        return BucketContents.keys(direct, bucket);
    }

    /** Versions (and delete markers) per key in {@code bucket}. */
    Map<String, Integer> versions(String bucket) throws Exception {
        return BucketContents.versions(direct, bucket);
    }

    /** The first column of every row of {@code sql}. */
    List<Object> column(String sql) throws SQLException {
        List<Object> out = new ArrayList<>();
        try (Connection c = jdbc(); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            while (rs.next()) {
                out.add(rs.getObject(1));
            }
        }
        return out;
    }

    Object one(String sql) throws SQLException {
        List<Object> col = column(sql);
        return col.isEmpty() ? null : col.get(0);
    }

    void sql(String statement) throws SQLException {
        try (Connection c = jdbc(); Statement st = c.createStatement()) {
            st.execute(statement);
        }
    }

    /** The tenant's bucket as Silo recorded it. */
    String bucketOf(String tenant) throws SQLException {
        return (String) one("SELECT bucket FROM silo.tenant_buckets WHERE tenant_slug = '" + tenant
                + "' AND purpose = 'TENANT' AND state <> 'DELETED'");
    }

    static <T> T await(Future<T> f) throws Exception {
        return f.toCompletionStage().toCompletableFuture().get(300, TimeUnit.SECONDS);
    }

    static Phase.Outcome run(S3Phase phase, TestRunContext run) throws Exception {
        return await(phase.run(run));
    }

    void closeLater(AutoCloseable c) {
        closeLater.add(c);
    }

    @Override
    public void close() throws Exception {
        for (AutoCloseable c : closeLater) {
            try {
                c.close();
            } catch (Exception ignored) {
                // best effort: the test is over
            }
        }
        direct.close();
        database.close();
        await(vertx.close());
        if (s3mock != null) {
            s3mock.close();
        }
    }
}
