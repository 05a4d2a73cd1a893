package io.silo.dev;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
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
