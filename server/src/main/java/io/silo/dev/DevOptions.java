package io.silo.dev;

import java.nio.file.Path;
import java.util.Objects;

/**
 * Settings of {@code silo-server dev}: where the data lives, whether to wipe it first, the ports (0 = any free
 * port) and host the embedded servers bind to, and an external S3 to use instead of S3Mock ({@code null}: S3Mock).
 */
public record DevOptions(Path dataDir, boolean fresh, int pgPort, int s3Port, int mongoPort, String host,
                         S3Endpoint externalS3) {

    public static final Path DEFAULT_DATA_DIR = Path.of(".silo-data");
    public static final int DEFAULT_MONGO_PORT = 27017;
    /** Loopback only: the dev stack has fixed, printed credentials and trust auth, so it must not face a network. */
    public static final String DEFAULT_HOST = "127.0.0.1";

    public DevOptions {
        Objects.requireNonNull(dataDir, "dataDir");
        Objects.requireNonNull(host, "host");
        requirePort("pgPort", pgPort);
        requirePort("s3Port", s3Port);
        requirePort("mongoPort", mongoPort);
    }

    /** {@code ./.silo-data}, not fresh, PostgreSQL 5433, S3 9090, MongoDB 27017, on 127.0.0.1. */
    public static DevOptions defaults() {
        return new DevOptions(DEFAULT_DATA_DIR, false, DevPostgres.DEFAULT_PORT, DevS3.DEFAULT_PORT,
                DEFAULT_MONGO_PORT, DEFAULT_HOST, null);
    }

    /** Same settings, every port ephemeral (tests, benchmarks, several stacks on one machine). */
    public DevOptions withEphemeralPorts() {
        return new DevOptions(dataDir, fresh, 0, 0, 0, host, externalS3);
    }

    public DevOptions withDataDir(Path dir) {
        return new DevOptions(dir, fresh, pgPort, s3Port, mongoPort, host, externalS3);
    }

    public DevOptions withFresh(boolean wipeFirst) {
        return new DevOptions(dataDir, wipeFirst, pgPort, s3Port, mongoPort, host, externalS3);
    }

    /** Same settings, with {@code s3} instead of the in-process S3Mock ({@code null}: S3Mock again). */
    public DevOptions withExternalS3(S3Endpoint s3) {
        return new DevOptions(dataDir, fresh, pgPort, s3Port, mongoPort, host, s3);
    }

    private static void requirePort(String name, int port) {
        if (port < 0 || port > 65_535) {
            throw new IllegalArgumentException(name + " must be 0..65535 (0 = any free port), got " + port);
        }
    }
}
