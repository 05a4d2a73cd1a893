package io.silo.keys;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Base64;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LocalMasterKeyFileTest {

    @TempDir
    Path dir;

    @Test
    void firstRunCreates96RandomBytesWithMode0600() throws Exception {
        Path path = dir.resolve("sub/master-key.bin");
        LocalMasterKeyFile key = LocalMasterKeyFile.loadOrCreate(path);

        assertThat(key.created()).isTrue();
        assertThat(key.keyBytes()).hasSize(96);
        assertThat(key.keyBytes()).isNotEqualTo(new byte[96]);
        assertThat(Files.readAllBytes(path)).isEqualTo(key.keyBytes());
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(path))).isEqualTo("rw-------");
    }

    @Test
    void secondLoadReusesTheExistingKey() throws Exception {
        Path path = dir.resolve("master-key.bin");
        byte[] first = LocalMasterKeyFile.loadOrCreate(path).keyBytes();
        LocalMasterKeyFile again = LocalMasterKeyFile.loadOrCreate(path);

        assertThat(again.created()).isFalse();
        assertThat(again.keyBytes()).isEqualTo(first);
    }

    @Test
    void twoFreshFilesGetDifferentKeys() throws Exception {
        byte[] a = LocalMasterKeyFile.loadOrCreate(dir.resolve("a.bin")).keyBytes();
        byte[] b = LocalMasterKeyFile.loadOrCreate(dir.resolve("b.bin")).keyBytes();
        assertThat(a).isNotEqualTo(b);
    }

    @Test
    void rejectsAFileOfTheWrongLengthNamingThePath() throws Exception {
        Path path = dir.resolve("master-key.bin");
        Files.write(path, new byte[95]);
        Files.setPosixFilePermissions(path, PosixFilePermissions.fromString("rw-------"));

        assertThatThrownBy(() -> LocalMasterKeyFile.loadOrCreate(path))
                .isInstanceOf(IOException.class)
                .hasMessageContaining(path.toString())
                .hasMessageContaining("95 bytes")
                .hasMessageContaining("96");
    }

    @Test
    void rejectsAFileReadableByGroupOrOthersNamingThePath() throws Exception {
        Path path = dir.resolve("master-key.bin");
        LocalMasterKeyFile.loadOrCreate(path);
        Files.setPosixFilePermissions(path, PosixFilePermissions.fromString("rw-r--r--"));

        assertThatThrownBy(() -> LocalMasterKeyFile.loadOrCreate(path))
                .isInstanceOf(IOException.class)
                .hasMessageContaining(path.toString())
                .hasMessageContaining("rw-r--r--")
                .hasMessageContaining("chmod 600");
    }

    @Test
    void fromBase64AcceptsExactly96BytesAndNeverEchoesTheInput() {
        byte[] raw = new byte[96];
        for (int i = 0; i < raw.length; i++) {
            raw[i] = (byte) i;
        }
        String b64 = Base64.getEncoder().encodeToString(raw);
        LocalMasterKeyFile key = LocalMasterKeyFile.fromBase64(b64);
        assertThat(key.keyBytes()).isEqualTo(raw);
        assertThat(key.path()).isNull();
        assertThat(key.toString()).doesNotContain(b64.substring(0, 16));

        String short64 = Base64.getEncoder().encodeToString(new byte[64]);
        assertThatThrownBy(() -> LocalMasterKeyFile.fromBase64(short64))
                .hasMessageContaining("64 bytes")
                .hasMessageNotContaining(short64);
        assertThatThrownBy(() -> LocalMasterKeyFile.fromBase64("not base64 !!"))
                .hasMessageNotContaining("not base64 !!");
    }
}
