package io.silo.mongo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import com.sun.jna.Platform;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CryptLibraryTest {

    @Test
    void ensureBundledLibraryLoadsTheJarsCopyAndIsIdempotent() {
        CryptLibrary.ensureBundledLibrary();
        String first = CryptLibrary.loadedFrom();
        CryptLibrary.ensureBundledLibrary();

        assertThat(first).endsWith(System.mapLibraryName("mongocrypt")).contains("mongocrypt-");
        assertThat(CryptLibrary.loadedFrom()).isEqualTo(first);
    }

    /**
     * Simulates Debian's libmongocrypt0 with a fake, too-old libmongocrypt.so on LD_LIBRARY_PATH, which JNA's plain
     * dlopen("libmongocrypt.so") finds before the jar's copy, exactly like the system package does.
     */
    @Test
    void bundledLibraryWinsOverAnOlderLibmongocryptOnTheLinkerPath(@TempDir Path tmp) throws Exception {
        assumeTrue(Platform.isLinux(), "needs Linux");
        Path fakeDir = Files.createDirectories(tmp.resolve("system-lib"));
        Path source = tmp.resolve("fake.c");
        Files.writeString(source, "const char *mongocrypt_version(void *len) { return \"1.7.2-fake\"; }\n");
        Process gcc;
        try {
            gcc = new ProcessBuilder("gcc", "-shared", "-fPIC", "-o", fakeDir.resolve("libmongocrypt.so").toString(),
                    source.toString()).inheritIO().start();
        } catch (IOException e) {
            assumeTrue(false, "gcc not available");
            return;
        }
        assumeTrue(gcc.waitFor(60, TimeUnit.SECONDS) && gcc.exitValue() == 0, "gcc failed");

        assertThat(probe("driver-only", fakeDir, tmp)).startsWith("PROBE-FAILED");
        assertThat(probe("silo", fakeDir, tmp)).startsWith("PROBE-OK").doesNotContain(fakeDir.toString());
        assertThat(probe("silo-too-late", fakeDir, tmp))
                .startsWith("PROBE-FAILED java.lang.IllegalStateException")
                                // Which check fires (symbol lookup or the driver binding) depends on whether GC dropped JNA's cache.
                .contains("apt-get remove libmongocrypt0");
    }

    private static String probe(String mode, Path fakeLibDir, Path tmp) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        ProcessBuilder pb = new ProcessBuilder(List.of(java, "-cp", cp,
                "-D" + CryptLibrary.DIR_PROPERTY + "=" + tmp.resolve("native"),
                "-Dlogback.configurationFile=/nonexistent", CryptLibraryProbe.class.getName(), mode))
                .redirectErrorStream(true);
        pb.environment().put("LD_LIBRARY_PATH", fakeLibDir.toString());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        return out.lines().filter(l -> l.startsWith("PROBE-")).findFirst().orElse("NO PROBE OUTPUT:\n" + out);
    }
}
