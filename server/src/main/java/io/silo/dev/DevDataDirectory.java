package io.silo.dev;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Instant;
import java.util.stream.Stream;

/**
 * The dev stack's data directory: its layout, and the marker file that proves a directory is ours before
 * {@code --fresh} deletes it.
 */
public final class DevDataDirectory {

    /** Present in every data directory the dev stack created; {@code --fresh} deletes nothing without it. */
    public static final String MARKER = ".silo-data-dir";

    private final Path root;

    private DevDataDirectory(Path root) {
        this.root = root;
    }

    /**
     * Prepares {@code dir} for use: wipes it first if {@code fresh}, then creates it (with the marker) if needed.
     *
     * @throws IOException if {@code dir} exists, is not empty and has no marker: it is someone else's directory
     */
    public static DevDataDirectory prepare(Path dir, boolean fresh) throws IOException {
        Path root = dir.toAbsolutePath().normalize();
        if (Files.exists(root, LinkOption.NOFOLLOW_LINKS)) {
            if (!Files.isDirectory(root, LinkOption.NOFOLLOW_LINKS)) {
                throw new IOException("Data directory " + root + " exists but is not a directory");
            }
            boolean empty = isEmpty(root);
            boolean marked = Files.isRegularFile(root.resolve(MARKER), LinkOption.NOFOLLOW_LINKS);
            if (!empty && !marked) {
                throw new IOException("Refusing to use " + root + " as the Silo data directory: it is not empty and"
                        + " has no " + MARKER + " marker, so it was not created by silo-server dev."
                        + " Choose another --data-dir" + (fresh ? "; nothing was deleted." : "."));
            }
            if (fresh && marked) {
                deleteTree(root);
            }
        }
        Files.createDirectories(root);
        Path marker = root.resolve(MARKER);
        if (!Files.exists(marker, LinkOption.NOFOLLOW_LINKS)) {
            Files.writeString(marker, "Silo dev data directory, created " + Instant.now()
                    + ".\n`silo-server dev --fresh` deletes this directory and everything in it.\n");
        }
        return new DevDataDirectory(root);
    }

    public Path root() {
        return root;
    }

    /** PostgreSQL cluster. */
    public Path postgres() {
        return root.resolve("pg");
    }

    /** S3Mock buckets and objects. */
    public Path s3() {
        return root.resolve("s3");
    }

    /** MongoDB-wire server data. */
    public Path mongo() {
        return root.resolve("mongo");
    }

    /** The {@code local} KMS master key. */
    public Path masterKey() {
        return root.resolve("master-key.bin");
    }

    /** The dev admin token (mode 0600), which the {@code silo} CLI reads when no --token or SILO_TOKEN is given. */
    public Path adminToken() {
        return root.resolve(ADMIN_TOKEN);
    }

    /** The admin token's file name inside the data directory; the CLI looks for the same name. */
    public static final String ADMIN_TOKEN = "admin-token";

    private static boolean isEmpty(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.findAny().isEmpty();
        }
    }

    /** Deletes depth-first without following symlinks, so a link inside the data dir cannot lead outside it. */
    private static void deleteTree(Path root) throws IOException {
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.delete(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path dir, IOException exc) throws IOException {
                if (exc != null) {
                    throw exc;
                }
                Files.delete(dir);
                return FileVisitResult.CONTINUE;
            }
        });
    }
}
