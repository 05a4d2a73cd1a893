package io.silo.dev;

/**
 * A running MongoDB-wire server of the dev stack, as {@link DevStack} sees it. Implemented by an adapter over
 * {@code io.silo.dev.mongo.DevMongoServer}, which lives in its own package.
 */
public interface DevMongo extends AutoCloseable {

    /** A {@code mongodb://} connection string clients can use as-is. */
    String connectionString();

    int port();

    @Override
    void close() throws Exception;

    /** Starts the MongoDB-wire server; {@link DevStack} calls it on its own thread, in parallel with the others. */
    @FunctionalInterface
    interface Launcher {
        /**
         * @param dataDir where the server keeps its data ({@code <dataDir>/mongo}), or {@code null} for memory only
         * @param port the port, or 0 for any free port
         */
        DevMongo start(java.nio.file.Path dataDir, String host, int port) throws Exception;
    }
}
