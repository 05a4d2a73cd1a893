package io.silo.dev;

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
        DevStack stack = DevStack.start(options, io.silo.dev.mongo.DevMongoLauncher::start);
        Duration d = stack.startupTime();
        System.out.printf(Locale.ROOT, "%-45s %5d ms  %s%n", label, d.toMillis(), stack.startupTimings());
        stack.close();
        return d;
    }
}
