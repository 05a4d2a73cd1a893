package io.silo.keys;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Base64;
import java.util.EnumSet;
import java.util.Set;

/** The 96-byte master key of the MongoDB {@code local} KMS provider, kept in a 0600 file or passed in base64. */
public final class LocalMasterKeyFile {

    /** libmongocrypt's {@code local} provider demands exactly 96 bytes. */
    public static final int KEY_LENGTH = 96;

    private static final Set<PosixFilePermission> OWNER_ONLY =
            EnumSet.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE);

    private static final Set<PosixFilePermission> GROUP_OR_OTHER = EnumSet.of(
            PosixFilePermission.GROUP_READ, PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_EXECUTE,
            PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_WRITE, PosixFilePermission.OTHERS_EXECUTE);

    private final byte[] key;
    private final Path path;
    private final boolean created;

    private LocalMasterKeyFile(byte[] key, Path path, boolean created) {
        this.key = key;
        this.path = path;
        this.created = created;
    }

    /**
     * Loads the key at {@code path}, or creates it with fresh random bytes when the file does not exist.
     *
     * @throws IOException if the file has the wrong length or is readable/writable by group or others
     */
    public static LocalMasterKeyFile loadOrCreate(Path path) throws IOException {
        if (!Files.exists(path, LinkOption.NOFOLLOW_LINKS)) {
            try {
                return create(path);
            } catch (FileAlreadyExistsException raced) {
                // Another process created it between our check and CREATE_NEW: fall through and load theirs.
            }
        }
        return load(path);
    }

    /** Loads an existing key file, refusing one that is not exactly 96 bytes or not private to its owner. */
    public static LocalMasterKeyFile load(Path path) throws IOException {
        if (!Files.isRegularFile(path)) {
            throw new IOException("Master key file " + path + " does not exist or is not a regular file");
        }
        checkPermissions(path);
        long size = Files.size(path);
        if (size != KEY_LENGTH) {
            throw new IOException("Master key file " + path + " has " + size + " bytes; a local master key must be exactly "
                    + KEY_LENGTH + " bytes. Restore the right file, or move it away to generate a new key"
                    + " (data encrypted under the old key then becomes unreadable).");
        }
        byte[] bytes = Files.readAllBytes(path);
        if (bytes.length != KEY_LENGTH) { // the file changed under us
            Arrays.fill(bytes, (byte) 0);
            throw new IOException("Master key file " + path + " changed while it was being read");
        }
        return new LocalMasterKeyFile(bytes, path, false);
    }

    /** Decodes a key given as base64 text (for example from an environment variable); it must decode to 96 bytes. */
    public static LocalMasterKeyFile fromBase64(String base64) {
        if (base64 == null || base64.isBlank()) {
            throw new IllegalArgumentException("Master key is empty; expected base64 of " + KEY_LENGTH + " bytes");
        }
        byte[] bytes;
        try {
            bytes = Base64.getDecoder().decode(base64.strip());
        } catch (IllegalArgumentException e) {
            // Do not echo the input: it is (almost) a secret.
            throw new IllegalArgumentException("Master key is not valid base64");
        }
        if (bytes.length != KEY_LENGTH) {
            int n = bytes.length;
            Arrays.fill(bytes, (byte) 0);
            throw new IllegalArgumentException("Master key decodes to " + n + " bytes; expected exactly " + KEY_LENGTH);
        }
        return new LocalMasterKeyFile(bytes, null, false);
    }

    private static LocalMasterKeyFile create(Path path) throws IOException {
        Path parent = path.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        byte[] bytes = new byte[KEY_LENGTH];
        new SecureRandom().nextBytes(bytes);
        // The permission attribute is applied by open(2) itself (mode argument, then umask can only remove bits),
        // so there is no moment when the file exists with wider permissions. CREATE_NEW refuses to reuse a file
        // or follow a planted symlink.
        FileAttribute<Set<PosixFilePermission>> ownerOnly = PosixFilePermissions.asFileAttribute(OWNER_ONLY);
        try (FileChannel ch = FileChannel.open(path,
                EnumSet.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE), ownerOnly);
             OutputStream out = Channels.newOutputStream(ch)) {
            out.write(bytes);
            ch.force(true);
        } catch (UnsupportedOperationException e) {
            throw new IOException("Cannot create master key file " + path
                    + " with owner-only permissions: the file system does not support POSIX permissions", e);
        } catch (FileAlreadyExistsException e) {
            Arrays.fill(bytes, (byte) 0);
            throw e;
        } catch (IOException e) {
            Arrays.fill(bytes, (byte) 0);
            throw new IOException("Cannot create master key file " + path + ": " + e.getMessage(), e);
        }
        return new LocalMasterKeyFile(bytes, path, true);
    }

    private static void checkPermissions(Path path) throws IOException {
        Set<PosixFilePermission> perms;
        try {
            perms = Files.getPosixFilePermissions(path);
        } catch (UnsupportedOperationException e) {
            return; // non-POSIX file system (Windows): nothing to check here
        }
        Set<PosixFilePermission> loose = EnumSet.noneOf(PosixFilePermission.class);
        loose.addAll(perms);
        loose.retainAll(GROUP_OR_OTHER);
        if (!loose.isEmpty()) {
            throw new IOException("Master key file " + path + " has permissions " + PosixFilePermissions.toString(perms)
                    + "; it must not be accessible by group or others. Run: chmod 600 " + path);
        }
    }

    /** A copy of the 96 key bytes, for the driver's {@code kmsProviders} map. Never log or print it. */
    public byte[] keyBytes() {
        return key.clone();
    }

    /** Where the key came from, or {@code null} when it was given as base64. */
    public Path path() {
        return path;
    }

    /** Whether this call created the file (first run) rather than loading an existing one. */
    public boolean created() {
        return created;
    }

    /** Never shows the key bytes. */
    @Override
    public String toString() {
        return "LocalMasterKeyFile[" + (path == null ? "from base64" : path.toString()) + ", " + KEY_LENGTH + " bytes]";
    }
}
