package io.silo.dev;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** A real PostgreSQL 14 server (zonky embedded binaries) whose data directory survives restarts, for the dev stack. */
public final class DevPostgres implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(DevPostgres.class);

    /** Default port: one above PostgreSQL's own, so a locally installed server on 5432 does not collide. */
    public static final int DEFAULT_PORT = 5433;
    public static final String USER = "postgres";
    /** initdb runs with {@code -A trust}: any password is accepted. Dev only. */
    public static final String PASSWORD = "postgres";
    public static final String DATABASE = "postgres";

    private final EmbeddedPostgres pg;
    private final String host;
    private final Path dataDirectory;
    private final boolean initialized;

    private DevPostgres(EmbeddedPostgres pg, String host, Path dataDirectory, boolean initialized) {
        this.pg = pg;
        this.host = host;
        this.dataDirectory = dataDirectory;
        this.initialized = initialized;
    }

    /**
     * Starts PostgreSQL with its cluster in {@code dataDirectory} (created by initdb on first use, reused later).
     *
     * @param port TCP port, or 0 for an ephemeral one
     */
    public static DevPostgres start(Path dataDirectory, String host, int port) throws IOException {
        Objects.requireNonNull(dataDirectory, "dataDirectory");
        Objects.requireNonNull(host, "host");
        Path dir = dataDirectory.toAbsolutePath();
        Files.createDirectories(dir);
        stopOrphanedPostmaster(dir);
        // zonky runs initdb only when postgresql.conf is missing, so this tells us if this start creates the cluster.
        boolean fresh = !Files.exists(dir.resolve("postgresql.conf"));
        // As root, zonky wraps initdb/pg_ctl in `unshare -U` itself: PostgreSQL refuses to run as uid 0, and in the
        // new user namespace the process (and the root-owned data files) appear as the overflow uid, so both the
        // "not root" and the "data directory owned by me" checks pass. Nothing to do here beyond not fighting it.
        EmbeddedPostgres pg;
        try {
            pg = EmbeddedPostgres.builder()
                .setDataDirectory(dir)
                // The default deletes the cluster on close; the dev stack keeps its data across restarts.
                .setCleanDataDirectory(false)
                .setPort(port)
                .setServerConfig("listen_addresses", host)
                .setPGStartupWait(Duration.ofSeconds(30))
                .start();
        } catch (IOException | RuntimeException e) {
            String hint = "root".equals(System.getProperty("user.name"))
                    ? " PostgreSQL refuses to run as root; as root the embedded binaries are started through"
                      + " `unshare -U`, which needs user namespaces (check that `unshare -U true` works here),"
                      + " or run Silo as a non-root user."
                    : "";
            throw new IOException("PostgreSQL failed to start on " + host + ":" + port + " with data directory "
                    + dir + ": " + e.getMessage() + "." + hint, e);
        }
        DevPostgres dev = new DevPostgres(pg, host, dir, fresh);
        LOG.info("PostgreSQL listening on {}:{} (data {}{})", host, dev.port(), dir, fresh ? ", new cluster" : "");
        return dev;
    }

    /**
     * The postmaster is a separate OS process, so when the JVM that owned it is killed (SIGKILL, OOM) it keeps
     * running and holds the data directory: the next start would wait 30 s and fail with "connection refused".
     * If {@code postmaster.pid} names a live postgres process serving this very directory, ask it to shut down
     * (SIGTERM, a "smart" shutdown; the dead JVM's sessions are already gone) and wait for it.
     */
    private static void stopOrphanedPostmaster(Path dir) throws IOException {
        Path pidFile = dir.resolve("postmaster.pid");
        if (!Files.isRegularFile(pidFile)) {
            return;
        }
        List<String> lines = Files.readAllLines(pidFile);
        long pid;
        try {
            pid = Long.parseLong(lines.get(0).strip());
        } catch (RuntimeException e) {
            return; // unreadable: leave it to PostgreSQL, which checks stale pid files itself
        }
        Optional<ProcessHandle> handle = ProcessHandle.of(pid);
        if (handle.isEmpty() || !handle.get().isAlive()) {
            return; // stale file; PostgreSQL removes it on start
        }
        String command = handle.get().info().commandLine().orElse("");
        // Guard against pid reuse: only a postgres serving exactly this data directory is ours to stop.
        if (!command.contains("postgres") || !command.contains(dir.toString())) {
            return;
        }
        LOG.warn("A PostgreSQL left over from an earlier dev stack (pid {}) still holds {}; stopping it", pid, dir);
        handle.get().destroy();
        try {
            handle.get().onExit().get(15, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            throw new IOException("PostgreSQL pid " + pid + " from an earlier dev stack still holds " + dir
                    + " and did not stop within 15 s; stop it (kill " + pid + ") and retry");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("Interrupted while stopping PostgreSQL pid " + pid, e);
        } catch (ExecutionException e) {
            throw new IOException("Could not wait for PostgreSQL pid " + pid, e);
        }
    }

    public String host() {
        return host;
    }

    public int port() {
        return pg.getPort();
    }

    public String database() {
        return DATABASE;
    }

    public String user() {
        return USER;
    }

    public String password() {
        return PASSWORD;
    }

    /** The cluster directory ({@code <dataDir>/pg}). */
    public Path dataDirectory() {
        return dataDirectory;
    }

    /** Whether this start ran initdb (the data directory held no cluster before). */
    public boolean initializedNewCluster() {
        return initialized;
    }

    /** JDBC URL without credentials; pass {@link #user()} and {@link #password()} separately. */
    public String jdbcUrl() {
        return "jdbc:postgresql://" + hostForUrl() + ":" + port() + "/" + DATABASE;
    }

    /** libpq-style URI, e.g. for {@code psql} or vertx-pg-client's {@code PgConnectOptions.fromUri}. */
    public String uri() {
        return "postgresql://" + USER + ":" + PASSWORD + "@" + hostForUrl() + ":" + port() + "/" + DATABASE;
    }

    /** Opens a new JDBC connection as the superuser. */
    public Connection connect() throws SQLException {
        return DriverManager.getConnection(jdbcUrl(), USER, PASSWORD);
    }

    private String hostForUrl() {
        return host.indexOf(':') >= 0 ? "[" + host + "]" : host;
    }

    /** Stops the postmaster (fast shutdown); the data directory stays. */
    @Override
    public void close() throws IOException {
        pg.close();
    }
}
