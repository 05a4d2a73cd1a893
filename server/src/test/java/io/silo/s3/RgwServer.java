package io.silo.s3;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3AsyncClient;

/**
 * The Ceph RGW that S3 integration tests run against: the one {@code .ci/run} started (SILO_TEST_RGW_* variables),
 * else one this JVM starts with {@code src/scripts/rgw-dev.sh} when the Ceph packages are installed, else the test
 * is skipped with a message that names the packages.
 */
final class RgwServer {

    static final String PACKAGES = "radosgw ceph-mon ceph-osd ceph-common";
    private static final List<String> BINARIES = List.of("radosgw", "radosgw-admin", "ceph-mon", "ceph-osd", "ceph");

    private static RgwServer instance;
    private static String unavailable;

    private final URI endpoint;
    private final Region region;
    private final StaticCredentialsProvider userA;
    private final StaticCredentialsProvider userB;
    private final String kmsKeyId;

    private RgwServer(Map<String, String> env) {
        this.endpoint = URI.create(env.get("SILO_TEST_RGW_ENDPOINT"));
        this.region = Region.of(env.getOrDefault("SILO_TEST_RGW_REGION", "us-east-1"));
        this.userA = StaticCredentialsProvider.create(AwsBasicCredentials.create(
                env.get("SILO_TEST_RGW_ACCESS_KEY"), env.get("SILO_TEST_RGW_SECRET_KEY")));
        this.userB = StaticCredentialsProvider.create(AwsBasicCredentials.create(
                env.get("SILO_TEST_RGW_ACCESS_KEY_B"), env.get("SILO_TEST_RGW_SECRET_KEY_B")));
        this.kmsKeyId = env.getOrDefault("SILO_TEST_RGW_KMS_KEY_ID", "silo-test-key");
    }

    /** The shared RGW; skips the calling test (JUnit assumption) when there is none and none can be started. */
    static synchronized RgwServer require() {
        if (instance == null && unavailable == null) {
            try {
                instance = locate();
            } catch (IOException | RuntimeException e) {
                unavailable = "could not start Ceph RGW: " + e.getMessage();
            }
        }
        Assumptions.assumeTrue(instance != null, () -> unavailable);
        return instance;
    }

    private static RgwServer locate() throws IOException {
        Map<String, String> env = System.getenv();
        if (env.get("SILO_TEST_RGW_ENDPOINT") != null) {
            return new RgwServer(env);
        }
        List<String> missing = BINARIES.stream().filter(b -> !onPath(b)).toList();
        if (!missing.isEmpty()) {
            unavailable = "Ceph RGW is not available (" + String.join(", ", missing) + " not found): install it with "
                    + "`apt-get install -y " + PACKAGES + "`, or start one with src/scripts/rgw-dev.sh and export "
                    + "its SILO_TEST_RGW_* variables";
            return null;
        }
        return new RgwServer(startWithScript());
    }

    private static Map<String, String> startWithScript() throws IOException {
        Path script = findScript();
        Path dir = Files.createTempDirectory("silo-rgw-");
        Process p = new ProcessBuilder("bash", script.toString(), "start", dir.toString())
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String out;
        try {
            out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(180, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new IOException("rgw-dev.sh start failed (logs in " + dir + "/log)");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while starting RGW", e);
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                boolean stopped = new ProcessBuilder("bash", script.toString(), "stop", dir.toString()).inheritIO()
                        .start().waitFor(30, TimeUnit.SECONDS);
                if (stopped) {
                    deleteTree(dir);
                }
            } catch (IOException | InterruptedException ignored) {
                // The JVM is exiting; the daemons' PIDs stay in the directory for a manual stop.
            }
        }, "rgw-stop"));
        Map<String, String> env = new HashMap<>();
        for (String line : out.split("\n")) {
            if (line.startsWith("export ") && line.contains("=")) {
                String kv = line.substring("export ".length());
                env.put(kv.substring(0, kv.indexOf('=')), kv.substring(kv.indexOf('=') + 1).trim());
            }
        }
        return env;
    }

    private static void deleteTree(Path dir) throws IOException {
        try (var paths = Files.walk(dir)) {
            for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    private static Path findScript() throws IOException {
        for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
            Path s = d.resolve("src/scripts/rgw-dev.sh");
            if (Files.isRegularFile(s)) {
                return s;
            }
        }
        throw new IOException("src/scripts/rgw-dev.sh not found above " + Path.of("").toAbsolutePath());
    }

    private static boolean onPath(String binary) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, binary))) {
                return true;
            }
        }
        return false;
    }

    URI endpoint() {
        return endpoint;
    }

    Region region() {
        return region;
    }

    /** The key id of RGW's "testing" SSE-KMS backend (RGW 16.2 has no SSE-S3). */
    String kmsKeyId() {
        return kmsKeyId;
    }

    StaticCredentialsProvider credentialsA() {
        return userA;
    }

    StaticCredentialsProvider credentialsB() {
        return userB;
    }

    /** A client for user A, the tenant side. The caller closes it. */
    S3AsyncClient clientA() {
        return S3Clients.async(endpoint, region, userA, 16, null);
    }

    /** A client for user B, a stranger to user A's buckets. The caller closes it. */
    S3AsyncClient clientB() {
        return S3Clients.async(endpoint, region, userB, 16, null);
    }
}
