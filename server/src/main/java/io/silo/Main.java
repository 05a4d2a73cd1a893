package io.silo;

import io.silo.config.ConfigException;
import io.silo.config.ConfigLoader;
import io.silo.config.SiloConfig;
import io.vertx.core.Vertx;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Entry point of silo-server: `serve` (the default) runs against configured stores, `dev` runs the embedded dev stack. */
@Command(name = "silo-server", mixinStandardHelpOptions = true, version = "silo-server 0.1.0",
    description = "Silo control-plane server: moves tenants from pooled to isolated storage.",
    subcommands = {Main.Serve.class})
public final class Main implements Callable<Integer> {

  @Option(names = "--config", description = "Config file (YAML or JSON); env: SILO_CONFIG.")
  Path config;

  /** The dev stack's command, which the production distribution leaves out together with the embedded servers. */
  static final String DEV_COMMAND = "io.silo.DevCommand";

  public static void main(String[] args) {
    int code = commandLine().execute(args);
    if (code != 0) {
      System.exit(code);
    }
  }

  /** The command line with {@code dev} when the dev stack is on the class path, else a {@code dev} that says why not. */
  static CommandLine commandLine() {
    CommandLine line = new CommandLine(new Main()).setCaseInsensitiveEnumValuesAllowed(true);
    Object dev;
    try {
      dev = Class.forName(DEV_COMMAND).getDeclaredConstructor().newInstance();
    } catch (ClassNotFoundException absent) {
      dev = new DevAbsent();
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException("cannot create " + DEV_COMMAND, e);
    }
    return line.addSubcommand("dev", dev);
  }

  @Override
  public Integer call() throws Exception {
    return new Serve().withConfig(config).call();
  }

  /** {@code dev} in the production distribution, which ships without the embedded dev servers. */
  @Command(name = "dev", description = "Not in this distribution: run the dev stack from a checkout.")
  static final class DevAbsent implements Callable<Integer> {
    @Override
    public Integer call() {
      System.err.println("silo-server: the dev stack (embedded PostgreSQL, MongoDB-wire and S3 servers) is not in"
          + " this distribution; run it from a checkout with src/scripts/silo-server dev, or use serve with real"
          + " stores");
      return 2;
    }
  }

  /** Runs the server against the stores named in the configuration until SIGTERM/SIGINT. */
  @Command(name = "serve", description = "Run the server against configured PostgreSQL, MongoDB, S3 and KMS.")
  static final class Serve implements Callable<Integer> {
    @Option(names = "--config", description = "Config file (YAML or JSON); env: SILO_CONFIG.")
    Path config;

    Serve withConfig(Path path) {
      this.config = path;
      return this;
    }

    @Override
    public Integer call() throws Exception {
      Path file = config != null ? config
          : System.getenv("SILO_CONFIG") != null ? Path.of(System.getenv("SILO_CONFIG")) : null;
      Vertx vertx = Vertx.vertx();
      SiloConfig loaded;
      try {
        loaded = ConfigLoader.load(vertx, file, System.getenv());
      } catch (ConfigException e) {
        System.err.println("silo-server: " + e.getMessage());
        vertx.close();
        return 2;
      }
      return runUntilSignal(vertx, loaded, null, started -> { }, () -> { });
    }
  }

  /** Applies logging settings; must run before the first logger is created. */
  static void configureLogging(SiloConfig config) {
    System.setProperty("silo.log.format", config.string("log.format"));
    System.setProperty("silo.log.level", config.string("log.level").toUpperCase());
    // Vert.x may have initialised logback before the settings were known, so re-read logback.xml now.
    if (org.slf4j.LoggerFactory.getILoggerFactory() instanceof ch.qos.logback.classic.LoggerContext context) {
      context.reset();
      try {
        new ch.qos.logback.classic.util.ContextInitializer(context).autoConfig();
      } catch (Exception e) {
        System.err.println("silo-server: cannot configure logging: " + e.getMessage());
      }
    }
  }

  /**
   * Starts the server, runs {@code whenReady} once it listens, blocks until a shutdown signal, then shuts down
   * gracefully and closes {@code alsoClose} (e.g. the dev stack) after Vert.x. With a {@code notReadyReason} the
   * server listens NOT_SERVING until {@code whenReady} calls {@link SiloServer#markReady()}.
   */
  static int runUntilSignal(Vertx vertx, SiloConfig config, String notReadyReason,
                            java.util.function.Consumer<SiloServer> whenReady, AutoCloseable alsoClose)
      throws Exception {
    configureLogging(config);
    SiloServer server;
    try {
      server = SiloServer.start(vertx, config, notReadyReason).toCompletionStage().toCompletableFuture().get(120, TimeUnit.SECONDS);
    } catch (Exception e) {
      Throwable cause = e.getCause() != null ? e.getCause() : e;
      System.err.println("silo-server: start-up failed: " + cause.getMessage());
      vertx.close();
      alsoClose.close();
      return 1;
    }
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        server.shutdown().toCompletionStage().toCompletableFuture()
            .get(config.integer("grpc.shutdownGraceSeconds") + 5L, TimeUnit.SECONDS);
      } catch (Exception ignored) {
        // Shutdown is best effort once the grace period is over; the stores still close below.
      }
      try {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        alsoClose.close();
      } catch (Exception e) {
        System.err.println("silo-server: error while stopping: " + e.getMessage());
      } finally {
        stopped.countDown();
      }
    }, "silo-shutdown"));
    whenReady.accept(server);
    System.out.println("silo-server ready: gRPC on " + config.string("grpc.host") + ":" + server.port());
    stopped.await();
    return 0;
  }
}
