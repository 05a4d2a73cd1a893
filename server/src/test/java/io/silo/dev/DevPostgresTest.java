package io.silo.dev;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DevPostgresTest {

    @TempDir
    Path dir;

    @Test
    void answersQueriesOverJdbcOnTheAdvertisedUrl() throws Exception {
        try (DevPostgres pg = DevPostgres.start(dir.resolve("pg"), "127.0.0.1", 0);
             Connection c = pg.connect();
             Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select 40 + 2, current_user, current_database()")) {
            assertThat(pg.jdbcUrl()).isEqualTo("jdbc:postgresql://127.0.0.1:" + pg.port() + "/postgres");
            assertThat(rs.next()).isTrue();
            assertThat(rs.getInt(1)).isEqualTo(42);
            assertThat(rs.getString(2)).isEqualTo(pg.user());
            assertThat(rs.getString(3)).isEqualTo(pg.database());
        }
    }

    /** Runs in a child JVM: starts PostgreSQL on the given data dir, says so, then waits to be killed. */
    public static final class Holder {
        public static void main(String[] args) throws Exception {
            DevPostgres pg = DevPostgres.start(Path.of(args[0]), "127.0.0.1", 0);
            System.out.println("STARTED " + pg.port());
            System.out.flush();
            Thread.sleep(120_000);
        }
    }

    @Test
    void restartAfterTheOwningJvmWasKilledStopsTheOrphanedServerAndStarts() throws Exception {
        Path pgDir = dir.resolve("pg");
        Process child = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), Holder.class.getName(), pgDir.toString())
                .redirectErrorStream(true)
                .start();
        try (BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), UTF_8))) {
            String line;
            while ((line = out.readLine()) != null && !line.startsWith("STARTED")) {
                // skip log lines
            }
            assertThat(line).as("child JVM started PostgreSQL").startsWith("STARTED");
            child.destroyForcibly(); // SIGKILL: no shutdown hook, the postmaster survives as an orphan
            child.waitFor();
        }
        long orphan = Long.parseLong(Files.readAllLines(pgDir.resolve("postmaster.pid")).get(0).strip());
        assertThat(ProcessHandle.of(orphan)).hasValueSatisfying(h -> assertThat(h.isAlive()).isTrue());

        try (DevPostgres pg = DevPostgres.start(pgDir, "127.0.0.1", 0);
             Connection c = pg.connect();
             Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select 1")) {
            assertThat(rs.next()).isTrue();
            assertThat(ProcessHandle.of(orphan).map(ProcessHandle::isAlive)).isNotEqualTo(Optional.of(true));
        }
    }

    @Test
    void restartWithTheSameDataDirectoryKeepsTablesAndRows() throws Exception {
        Path pgDir = dir.resolve("pg");
        try (DevPostgres pg = DevPostgres.start(pgDir, "127.0.0.1", 0)) {
            assertThat(pg.initializedNewCluster()).isTrue();
            try (Connection c = pg.connect(); Statement st = c.createStatement()) {
                st.execute("create table kept(v text)");
                st.execute("insert into kept values ('survives restart')");
            }
        }
        try (DevPostgres pg = DevPostgres.start(pgDir, "127.0.0.1", 0);
             Connection c = pg.connect();
             Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select v from kept")) {
            assertThat(pg.initializedNewCluster()).isFalse();
            assertThat(rs.next()).isTrue();
            assertThat(rs.getString(1)).isEqualTo("survives restart");
            assertThat(rs.next()).isFalse();
        }
    }
}
