package io.silo.dev;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.util.Base64;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.services.s3.S3Client;

class DevStackTest {

    @TempDir
    Path dir;

    @Test
    void startsAllServicesCreatesAppTablesAndPrintsABannerWithoutKeyBytes() throws Exception {
        Path data = dir.resolve("data");
        DevOptions options = DevOptions.defaults().withDataDir(data).withEphemeralPorts();
        byte[] key;
        try (DevStack stack = DevStack.start(options, io.silo.dev.mongo.DevMongoLauncher::start)) {
            key = stack.masterKey().keyBytes();
            try (Connection c = stack.postgres().connect();
                 ResultSet rs = c.createStatement().executeQuery(
                         "select count(*) from information_schema.tables where table_name in ('tenants','documents')")) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(2);
            }
            try (S3Client s3 = stack.s3().syncClient()) {
                assertThat(s3.listBuckets().buckets()).isEmpty();
            }
            String banner = stack.banner();
            assertThat(banner).contains(stack.postgres().jdbcUrl(), stack.s3().endpoint(),
                    stack.mongo().connectionString(), data.resolve("master-key.bin").toAbsolutePath().toString());
            assertThat(banner).containsIgnoringCase("development master key");
            assertThat(banner).doesNotContain(Base64.getEncoder().encodeToString(key).substring(0, 12));
            assertThat(banner.toLowerCase()).doesNotContain(HexFormat.of().formatHex(key).substring(0, 12));
            assertThat(stack.startupTimings()).containsKeys("postgres", "s3", "mongo", "master-key", "app-schema");
        }
        // Restart on the same data dir: same master key, marker kept.
        try (DevStack stack = DevStack.start(options, io.silo.dev.mongo.DevMongoLauncher::start)) {
            assertThat(stack.masterKey().keyBytes()).isEqualTo(key);
            assertThat(stack.masterKey().created()).isFalse();
        }
        // --fresh wipes it: a new key.
        try (DevStack stack = DevStack.start(options.withFresh(true), io.silo.dev.mongo.DevMongoLauncher::start)) {
            assertThat(stack.masterKey().created()).isTrue();
            assertThat(stack.masterKey().keyBytes()).isNotEqualTo(key);
        }
    }

    @Test
    void freshRefusesToDeleteADirectoryWithoutTheSiloMarker() throws Exception {
        Path notOurs = dir.resolve("home-ish");
        Files.createDirectories(notOurs);
        Path precious = Files.writeString(notOurs.resolve("thesis.tex"), "do not delete");

        assertThatThrownBy(() -> DevDataDirectory.prepare(notOurs, true))
                .isInstanceOf(IOException.class)
                .hasMessageContaining(notOurs.toAbsolutePath().toString())
                .hasMessageContaining(DevDataDirectory.MARKER);
        assertThat(precious).hasContent("do not delete");
    }

    @Test
    void freshDeletesAMarkedDirectoryButNotWhatASymlinkInsidePointsTo() throws Exception {
        Path outside = Files.createDirectories(dir.resolve("outside"));
        Path keep = Files.writeString(outside.resolve("keep.txt"), "outside");
        DevDataDirectory d = DevDataDirectory.prepare(dir.resolve("data"), false);
        Files.writeString(d.root().resolve("old.txt"), "old");
        Files.createSymbolicLink(d.root().resolve("link"), outside);

        DevDataDirectory again = DevDataDirectory.prepare(dir.resolve("data"), true);
        assertThat(again.root().resolve("old.txt")).doesNotExist();
        assertThat(again.root().resolve(DevDataDirectory.MARKER)).exists();
        assertThat(keep).hasContent("outside");
    }
}
