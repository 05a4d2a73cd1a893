package io.silo.dev;

import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.ServerVersion;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Measures dev-stack start-up: starts and stops the stack K times on one data directory and prints each start
 * time, the median of the warm starts and its ratio to the 5 s budget. Usage: {@code [K] [dataDir]}.
 */
public final class DevStackStartupBenchmark {

    static final Duration BUDGET = Duration.ofSeconds(5);

    private DevStackStartupBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        int k = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        Path dataDir = args.length > 1 ? Path.of(args[1]) : Files.createTempDirectory("silo-bench-");
        boolean dataExisted = Files.exists(dataDir.resolve(DevDataDirectory.MARKER));
        // Ephemeral ports: the benchmark must not collide with a running dev stack or other builds.
        DevOptions options = DevOptions.defaults().withDataDir(dataDir).withEphemeralPorts();

        // The first start in a JVM pays class loading and JIT (and, on a new data dir, initdb and binary unpacking);
        // it is reported on its own and kept out of the warm median.
        Duration first = startStop(options, "first start in this JVM" + (dataExisted ? " (data dir reused)"
                : " (new data dir: initdb)"));
        List<Long> warm = new ArrayList<>();
        for (int i = 1; i <= k; i++) {
            warm.add(startStop(options, "warm start " + i + "/" + k).toMillis());
        }
        if (warm.isEmpty()) {
            return;
        }
        List<Long> sorted = new ArrayList<>(warm);
        sorted.sort(null);
        double median = sorted.size() % 2 == 1 ? sorted.get(sorted.size() / 2)
                : (sorted.get(sorted.size() / 2 - 1) + sorted.get(sorted.size() / 2)) / 2.0;
        System.out.printf(Locale.ROOT, "first: %d ms; warm starts (ms): %s%n", first.toMillis(), warm);
        System.out.printf(Locale.ROOT, "median warm start: %.0f ms = %.2f x the %d s budget%n", median,
                median / BUDGET.toMillis(), BUDGET.toSeconds());
    }

    private static Duration startStop(DevOptions options, String label) throws Exception {
        DevStack stack = DevStack.start(options, DevStackStartupBenchmark::plainMongo);
        Duration d = stack.startupTime();
        System.out.printf(Locale.ROOT, "%-45s %5d ms  %s%n", label, d.toMillis(), stack.startupTimings());
        stack.close();
        return d;
    }

    /**
     * Stand-in until {@code io.silo.dev.mongo.DevMongoServer} is merged: plain mongo-java-server in memory, which
     * starts in about the same time but has no CSFLE translation and no persistence. Replace with an adapter over
     * {@code DevMongoServer.start(dataDir, host, port)}.
     */
    static DevMongo plainMongo(Path dataDir, String host, int port) {
        MongoServer server = new MongoServer(new MemoryBackend().version(ServerVersion.MONGO_5_0));
        server.bind(host, port);
        int bound = server.getLocalAddress().getPort();
        return new DevMongo() {
            @Override
            public String connectionString() {
                return "mongodb://" + host + ":" + bound;
            }

            @Override
            public int port() {
                return bound;
            }

            @Override
            public void close() {
                server.shutdownNow();
            }
        };
    }
}
