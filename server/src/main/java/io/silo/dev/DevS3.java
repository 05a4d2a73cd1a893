package io.silo.dev;

import ch.qos.logback.classic.Level;
import com.adobe.testing.s3mock.S3MockApplication;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.http.nio.netty.NettyNioAsyncHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3AsyncClient;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.S3Configuration;

/** An in-process S3 server (Adobe S3Mock) that keeps its buckets under a data directory, plus SDK v2 clients for it. */
public final class DevS3 implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(DevS3.class);

    public static final int DEFAULT_PORT = 9090;
    public static final Region REGION = Region.US_EAST_1;
    /** S3Mock does not check signatures, so any pair works; these are only here so clients have something to sign with. */
    public static final String ACCESS_KEY_ID = "silo-dev";
    public static final String SECRET_ACCESS_KEY = "silo-dev-secret";

    /**
     * Spring Boot auto-configures a MongoDB client (to localhost:27017) as soon as the driver is on the classpath,
     * which it is for Silo. S3Mock needs none of it. The data/flyway ones are excluded for the same reason: their
     * classes exist on our classpath even though S3Mock never uses them.
     */
    static final String AUTOCONFIG_EXCLUDES = String.join(",",
            "org.springframework.boot.autoconfigure.mongo.MongoAutoConfiguration",
            "org.springframework.boot.autoconfigure.mongo.MongoReactiveAutoConfiguration",
            "org.springframework.boot.autoconfigure.data.mongo.MongoDataAutoConfiguration",
            "org.springframework.boot.autoconfigure.data.mongo.MongoReactiveDataAutoConfiguration",
            "org.springframework.boot.autoconfigure.data.mongo.MongoRepositoriesAutoConfiguration",
            "org.springframework.boot.autoconfigure.data.mongo.MongoReactiveRepositoriesAutoConfiguration",
            "org.springframework.boot.autoconfigure.flyway.FlywayAutoConfiguration");

    /** Spring Boot's switch for its logging system; "none" keeps it from resetting the JVM-wide logback context. */
    static final String SPRING_LOGGING_SYSTEM_PROPERTY = "org.springframework.boot.logging.LoggingSystem";

    private static final List<java.util.logging.Logger> QUIETED_JUL_LOGGERS =
            new java.util.concurrent.CopyOnWriteArrayList<>();

    private final S3MockApplication app;
    private final String host;
    private final Path rootDirectory;

    private DevS3(S3MockApplication app, String host, Path rootDirectory) {
        this.app = app;
        this.host = host;
        this.rootDirectory = rootDirectory;
    }

    /**
     * Starts S3Mock on {@code host:httpPort} (0 = ephemeral) with its store in {@code rootDirectory}.
     *
     * @param initialBuckets buckets to create if they do not exist yet
     * @param validKmsKeys KMS key ids (bare ids, not ARNs) that SSE-KMS requests may name
     */
    public static DevS3 start(Path rootDirectory, String host, int httpPort, List<String> initialBuckets,
                              List<String> validKmsKeys) throws IOException {
        Objects.requireNonNull(rootDirectory, "rootDirectory");
        Path root = rootDirectory.toAbsolutePath();
        Files.createDirectories(root);

        keepSpringOffOurLogging();

        Map<String, Object> props = new HashMap<>();
        props.put(S3MockApplication.PROP_HTTP_PORT, httpPort);
        // server.port is S3Mock's HTTPS connector; we only advertise HTTP, so let it take any free port.
        props.put(S3MockApplication.PROP_HTTPS_PORT, 0);
        props.put(S3MockApplication.PROP_SILENT, true);
        props.put(S3MockApplication.PROP_ROOT_DIRECTORY, root.toString());
        // Without this S3Mock deletes its root directory on shutdown (it assumes a temp dir).
        props.put("com.adobe.testing.s3mock.store.retainFilesOnExit", true);
        // Silo stops S3Mock itself, after the gRPC server drained; Spring's own exit hook would race that.
        props.put("spring.main.register-shutdown-hook", false);
        if (initialBuckets != null && !initialBuckets.isEmpty()) {
            props.put(S3MockApplication.PROP_INITIAL_BUCKETS, String.join(",", initialBuckets));
        }
        if (validKmsKeys != null && !validKmsKeys.isEmpty()) {
            props.put("com.adobe.testing.s3mock.store.validKmsKeys", String.join(",", validKmsKeys));
        }
        props.put("spring.autoconfigure.exclude", AUTOCONFIG_EXCLUDES);
        // Spring Boot's "Starting ... / No active profile set" lines would be logged under the JVM's main class.
        props.put("spring.main.log-startup-info", false);
        // server.address binds only S3Mock's main (HTTPS) connector; S3MockBindAddress, added to S3Mock's
        // Spring context as an extra source, binds the HTTP connector, which is the one we advertise.
        props.put("server.address", host);
        props.put(S3MockBindAddress.PROPERTY, host);
        props.put("spring.main.sources", S3MockBindAddress.class.getName());

        S3MockApplication app;
        try {
            app = S3MockApplication.start(props);
        } catch (RuntimeException e) {
            throw new IOException("S3Mock failed to start on " + host + ":" + httpPort + ": " + rootCause(e), e);
        }
        DevS3 dev = new DevS3(app, host, root);
        LOG.info("S3 (S3Mock) listening on {} (data {})", dev.endpoint(), root);
        return dev;
    }

    /**
     * S3Mock is a Spring Boot app. By default Spring Boot's LoggingSystem re-initialises logback for the whole JVM
     * (its own console pattern, and with {@code silent} the root level WARN), which would silence Silo's INFO logs
     * and drop our appenders. Setting the LoggingSystem to "none" (unless the operator chose something) leaves the
     * existing logback configuration alone; we then quieten the chatty Spring/Tomcat/S3Mock loggers ourselves.
     */
    private static void keepSpringOffOurLogging() {
        if (System.getProperty(SPRING_LOGGING_SYSTEM_PROPERTY) == null) {
            System.setProperty(SPRING_LOGGING_SYSTEM_PROPERTY, "none");
        }
        // Tomcat logs through java.util.logging (Spring Boot would have bridged it to SLF4J). JUL holds loggers
        // weakly, so the configured ones are kept in a static list or the level would be lost on the next GC.
        for (String name : List.of("org.apache.catalina", "org.apache.coyote", "org.apache.tomcat")) {
            java.util.logging.Logger jul = java.util.logging.Logger.getLogger(name);
            if (jul.getLevel() == null) {
                jul.setLevel(java.util.logging.Level.WARNING);
            }
            QUIETED_JUL_LOGGERS.add(jul);
        }
        if (LoggerFactory.getILoggerFactory() instanceof ch.qos.logback.classic.LoggerContext ctx) {
            for (String name : List.of("org.springframework", "org.apache.catalina", "org.apache.coyote",
                    "org.apache.tomcat", "com.adobe.testing.s3mock", "org.hibernate.validator")) {
                ch.qos.logback.classic.Logger logger = ctx.getLogger(name);
                if (logger.getLevel() == null) { // respect an explicit level from logback.xml
                    logger.setLevel(Level.WARN);
                }
            }
        }
    }

    private static String rootCause(Throwable t) {
        Throwable c = t;
        while (c.getCause() != null && c.getCause() != c) {
            c = c.getCause();
        }
        return c.getClass().getSimpleName() + ": " + c.getMessage();
    }

    public String host() {
        return host;
    }

    public int port() {
        return app.getHttpPort();
    }

    /** The HTTP endpoint URL, e.g. {@code http://127.0.0.1:9090}. */
    public String endpoint() {
        String h = host.indexOf(':') >= 0 ? "[" + host + "]" : host;
        return "http://" + h + ":" + port();
    }

    public Region region() {
        return REGION;
    }

    public String accessKeyId() {
        return ACCESS_KEY_ID;
    }

    public String secretAccessKey() {
        return SECRET_ACCESS_KEY;
    }

    /** Where S3Mock keeps buckets and objects ({@code <dataDir>/s3}). */
    public Path rootDirectory() {
        return rootDirectory;
    }

    /** A synchronous SDK v2 client for this server. The caller closes it. */
    public S3Client syncClient() {
        return S3Client.builder()
                .endpointOverride(URI.create(endpoint()))
                .region(REGION)
                .credentialsProvider(credentials())
                .serviceConfiguration(s3Config())
                // S3Mock predates the SDK's default CRC checksums on every request; only send/validate when required.
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                .build();
    }

    /** An async SDK v2 client (Netty) for this server, allowing {@code maxConcurrency} connections. The caller closes it. */
    public S3AsyncClient asyncClient(int maxConcurrency) {
        return S3AsyncClient.builder()
                .endpointOverride(URI.create(endpoint()))
                .region(REGION)
                .credentialsProvider(credentials())
                .serviceConfiguration(s3Config())
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                .httpClientBuilder(NettyNioAsyncHttpClient.builder()
                        .maxConcurrency(maxConcurrency)
                        .connectionAcquisitionTimeout(Duration.ofSeconds(60)))
                .build();
    }

    private static StaticCredentialsProvider credentials() {
        return StaticCredentialsProvider.create(AwsBasicCredentials.create(ACCESS_KEY_ID, SECRET_ACCESS_KEY));
    }

    private static S3Configuration s3Config() {
        // Path-style: virtual-host style would need <bucket>.127.0.0.1 to resolve.
        return S3Configuration.builder().pathStyleAccessEnabled(true).build();
    }

    /** Stops S3Mock; buckets and objects stay on disk. */
    @Override
    public void close() {
        try {
            app.stop();
        } catch (IllegalStateException alreadyClosed) {
            // On JVM exit Spring Boot's own shutdown hook may have stopped S3Mock first; it is down either way.
        }
    }
}
