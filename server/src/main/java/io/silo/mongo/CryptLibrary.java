package io.silo.mongo;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Map;

import com.mongodb.crypt.capi.MongoCryptException;
import com.sun.jna.Function;
import com.sun.jna.Library;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Platform;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes sure the libmongocrypt bundled in the mongodb-crypt jar, not an older system copy, backs CSFLE.
 *
 * <p>How mongodb-crypt 5.6.5 finds the library: {@code com.mongodb.internal.crypt.capi.CAPI} runs
 * {@code Native.register(CAPI.class, "mongocrypt")} in its static initialiser, i.e. JNA's
 * {@code NativeLibrary.getInstance("mongocrypt", {classloader: CAPI's loader})}. JNA (5.11 here) then tries, in order:
 * <ol>
 *   <li>a file {@code libmongocrypt.so} in the per-library search paths ({@link NativeLibrary#addSearchPath}) and in
 *       {@code jna.library.path};</li>
 *   <li>if no such file exists, {@code dlopen("libmongocrypt.so")}, which consults {@code LD_LIBRARY_PATH} and the
 *       system linker cache, so Debian's {@code libmongocrypt0}/{@code libmongocrypt-dev} (1.7.2) wins here;</li>
 *   <li>the system paths ({@code jna.platform.library.path});</li>
 *   <li>only as a last resort the classpath resource {@code <Platform.RESOURCE_PREFIX>/libmongocrypt.so}
 *       (e.g. {@code linux-x86-64/libmongocrypt.so}, libmongocrypt 1.15.1), extracted to a temp file.</li>
 * </ol>
 * The driver 5.6 calls {@code mongocrypt_setopt_enable_multiple_collinfo}, which 1.7.2 lacks, so step 2 breaks it with
 * an {@link UnsatisfiedLinkError}. This class does step 4 itself, deliberately, and registers the extracted file for step 1
 * via {@link NativeLibrary#addSearchPath}; that is scoped to "mongocrypt", unlike the global {@code jna.library.path}.
 * It then loads the library under the very cache key CAPI uses and checks the symbol, so if CAPI had already bound a
 * system copy, start-up fails with instructions instead of failing later inside an encryption call.
 */
public final class CryptLibrary {

    private static final Logger LOG = LoggerFactory.getLogger(CryptLibrary.class);

    /** System property naming the directory to extract the native library into (default: a per-user temp directory). */
    public static final String DIR_PROPERTY = "silo.native.dir";

    /** A symbol the 5.6 driver needs and libmongocrypt before 1.13 does not export. */
    static final String REQUIRED_SYMBOL = "mongocrypt_setopt_enable_multiple_collinfo";

    private static final String LIBRARY = "mongocrypt";

    /** The driver-internal class whose static initialiser binds the native library (see the class comment). */
    private static final String DRIVER_BINDING_CLASS = "com.mongodb.internal.crypt.capi.CAPI";

    private static final String REMEDY = "A system libmongocrypt shadows the one bundled in the mongodb-crypt jar. Remove it"
            + " (Debian/Ubuntu: apt-get remove libmongocrypt0 libmongocrypt-dev), or make sure"
            + " CryptLibrary.ensureBundledLibrary() runs before anything else touches CSFLE, or start the JVM with"
            + " -Djna.library.path=<directory holding libmongocrypt 1.13 or later>.";

    private static volatile String loadedFrom;

    private CryptLibrary() {
    }

    /**
     * Extracts and registers the bundled libmongocrypt, loads it and verifies it; idempotent and thread-safe. Call before
     * creating any {@code ClientEncryption} or auto-encrypting client.
     *
     * @throws IllegalStateException if an incompatible libmongocrypt is (or was already) loaded instead
     */
    public static void ensureBundledLibrary() {
        if (loadedFrom != null) {
            return;
        }
        synchronized (CryptLibrary.class) {
            if (loadedFrom != null) {
                return;
            }
            ClassLoader cryptLoader = MongoCryptException.class.getClassLoader();
            String resource = Platform.RESOURCE_PREFIX + "/" + System.mapLibraryName(LIBRARY);
            Path extracted = extract(cryptLoader, resource);
            if (extracted != null) {
                NativeLibrary.addSearchPath(LIBRARY, extracted.getParent().toString());
            } else {
                LOG.warn("mongodb-crypt has no bundled libmongocrypt for platform {}; relying on the system library",
                        Platform.RESOURCE_PREFIX);
            }
            // Same name and options as CAPI's Native.register, so this returns CAPI's instance if it is still cached.
            NativeLibrary library = NativeLibrary.getInstance(LIBRARY, Map.of(Library.OPTION_CLASSLOADER, cryptLoader));
            String file = describeFile(library);
            String version = version(library);
            try {
                library.getFunction(REQUIRED_SYMBOL);
            } catch (UnsatisfiedLinkError e) {
                throw new IllegalStateException("libmongocrypt " + version + " loaded from " + file
                        + " is too old for MongoDB driver 5.6 (missing " + REQUIRED_SYMBOL + "). " + REMEDY, e);
            }
            // JNA caches libraries through weak references, so the check above can miss a binding the driver made earlier
            // against another copy. Initialising the driver's binding class now settles it: either it binds to the
            // library just verified, or its earlier failure resurfaces here rather than inside the first encrypt call.
            try {
                Class.forName(DRIVER_BINDING_CLASS, true, cryptLoader);
            } catch (ClassNotFoundException e) {
                LOG.debug("{} not found; skipping the binding check (driver layout changed?)", DRIVER_BINDING_CLASS);
            } catch (LinkageError e) {
                throw new IllegalStateException("The MongoDB driver's libmongocrypt binding failed to initialise ("
                        + e + "); it was probably initialised before CryptLibrary.ensureBundledLibrary() and bound an"
                        + " older libmongocrypt. " + REMEDY, e);
            }
            if (extracted != null && !file.equals(extracted.toString())) {
                LOG.warn("libmongocrypt {} loaded from {} instead of the bundled copy {}", version, file, extracted);
            }
            LOG.info("libmongocrypt {} loaded from {}", version, file);
            loadedFrom = file;
        }
    }

    /** Path of the loaded library, or {@code null} before {@link #ensureBundledLibrary()} succeeded. */
    public static String loadedFrom() {
        return loadedFrom;
    }

    /**
     * JNA reports a bare name resolved against the working directory when the dynamic linker found the file, so on Linux
     * the mapped file is looked up in /proc/self/maps instead.
     */
    private static String describeFile(NativeLibrary library) {
        java.io.File f = library.getFile();
        if (f != null && f.isFile()) {
            return f.getAbsolutePath();
        }
        Path maps = Path.of("/proc/self/maps");
        if (Files.isReadable(maps)) {
            String name = System.mapLibraryName(LIBRARY);
            try (var lines = Files.lines(maps)) {
                var hit = lines.map(l -> l.substring(l.lastIndexOf(' ') + 1))
                        .filter(p -> p.startsWith("/") && p.contains("/" + name)).findFirst();
                if (hit.isPresent()) {
                    return hit.get();
                }
            } catch (IOException | java.io.UncheckedIOException e) {
                // fall through
            }
        }
        return library.getName() + " (found by the dynamic linker)";
    }

    private static String version(NativeLibrary library) {
        try {
            // const char *mongocrypt_version(uint32_t *len); len may be NULL.
            Function f = library.getFunction("mongocrypt_version");
            return String.valueOf(f.invoke(String.class, new Object[] {null}));
        } catch (UnsatisfiedLinkError e) {
            return "(unknown version)";
        }
    }

    /** Copies the resource to a content-addressed file, so concurrent JVMs and different jar versions never clash. */
    private static Path extract(ClassLoader loader, String resource) {
        byte[] bytes;
        try (InputStream in = loader.getResourceAsStream(resource)) {
            if (in == null) {
                return null;
            }
            bytes = in.readAllBytes();
        } catch (IOException e) {
            throw new IllegalStateException("Cannot read " + resource + " from the mongodb-crypt jar", e);
        }
        String digest = sha256(bytes).substring(0, 16);
        String base = System.getProperty(DIR_PROPERTY);
        Path root = base != null ? Path.of(base)
                : Path.of(System.getProperty("java.io.tmpdir"), "silo-native-" + System.getProperty("user.name", "user"));
        Path dir = root.resolve("mongocrypt-" + digest);
        Path target = dir.resolve(System.mapLibraryName(LIBRARY));
        try {
            if (Files.isRegularFile(target) && Arrays.equals(Files.readAllBytes(target), bytes)) {
                return target;
            }
            Files.createDirectories(dir);
            Path tmp = Files.createTempFile(dir, "extract", ".tmp");
            Files.write(tmp, bytes);
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
            return target;
        } catch (IOException e) {
            throw new IllegalStateException("Cannot extract the bundled libmongocrypt to " + dir
                    + "; set -D" + DIR_PROPERTY + "=<writable directory>", e);
        }
    }

    private static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
