package io.silo.dev.mongo;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;

import de.bwaldvogel.mongo.MongoBackend;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.ServerVersion;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Silo's MongoDB-wire dev server: mongo-java-server on a private loopback port behind a {@link WireTranslatingProxy}, so CSFLE
 * ciphertext (subtype 6) and UUIDs (subtype 4) survive storage byte for byte.
 *
 * <p>For development and tests only. It does not enforce partial indexes (use unique sparse indexes instead) and has no
 * authentication or TLS; production deployments bring a real MongoDB 4.2 or later.
 */
public final class DevMongoServer implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(DevMongoServer.class);

    /** File name of the H2 MVStore under the data directory. */
    static final String STORE_FILE = "mongo.mv.db";

    private final MongoServer backendServer;
    private final MongoBackend backend;
    private final WireTranslatingProxy proxy;
    private final String host;

    private DevMongoServer(MongoServer backendServer, MongoBackend backend, WireTranslatingProxy proxy, String host) {
        this.backendServer = backendServer;
        this.backend = backend;
        this.proxy = proxy;
        this.host = host;
    }

    /**
     * Starts the server. {@code dataDirOrNull == null} keeps everything in memory; otherwise data lives in an H2 MVStore
     * file under that directory and survives a restart. {@code port == 0} picks an ephemeral port.
     */
    public static DevMongoServer start(Path dataDirOrNull, String host, int port) {
        long t0 = System.nanoTime();
        MongoBackend backend;
        if (dataDirOrNull == null) {
            backend = new MemoryBackend();
        } else {
            try {
                Files.createDirectories(dataDirOrNull);
            } catch (IOException e) {
                throw new UncheckedIOException("Cannot create dev Mongo data directory " + dataDirOrNull, e);
            }
            backend = new H2Backend(dataDirOrNull.resolve(STORE_FILE).toAbsolutePath().toString());
        }
        backend.version(ServerVersion.MONGO_5_0);
        MongoServer server = new MongoServer(backend);
        WireTranslatingProxy proxy;
        try {
            // The backend is reachable only through the proxy; clients talking to it directly would store unwrapped data.
            InetSocketAddress backendAddress = server.bind();
            proxy = WireTranslatingProxy.start(host, port, backendAddress);
        } catch (RuntimeException e) {
            server.shutdownNow();
            throw e;
        }
        DevMongoServer dev = new DevMongoServer(server, backend, proxy, host);
        LOG.info("Dev MongoDB (mongo-java-server {} behind Silo's subtype-translating proxy) listening on {}:{} ({}) in {} ms",
                dataDirOrNull == null ? "memory" : "H2", host, proxy.port(),
                dataDirOrNull == null ? "in-memory" : dataDirOrNull, (System.nanoTime() - t0) / 1_000_000);
        return dev;
    }

    /** Connection string for the driver; wire compression is disabled because the proxy cannot translate OP_COMPRESSED. */
    public String connectionString() {
        String h = host.contains(":") && !host.startsWith("[") ? "[" + host + "]" : host;
        return "mongodb://" + h + ":" + port() + "/?directConnection=true&compressors=";
    }

    /** The port clients connect to (the proxy's). */
    public int port() {
        return proxy.port();
    }

    /** The untranslated backend's address; only for tests that inspect how data is stored. */
    InetSocketAddress backendAddress() {
        return proxy.backend();
    }

    @Override
    public void close() {
        try {
            proxy.close();
        } finally {
            // shutdownNow() closes the backend too, which commits and closes the H2 store.
            backendServer.shutdownNow();
            if (backend instanceof H2Backend h2 && !h2.getMvStore().isClosed()) {
                h2.close();
            }
        }
    }
}
