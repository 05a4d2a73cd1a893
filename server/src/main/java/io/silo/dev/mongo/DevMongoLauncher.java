package io.silo.dev.mongo;

import io.silo.dev.DevMongo;
import java.nio.file.Path;

/** Adapts DevMongoServer to the dev stack's DevMongo interface, so DevStack starts it beside PostgreSQL and S3. */
public final class DevMongoLauncher {

  private DevMongoLauncher() {
  }

  /** A {@link DevMongo.Launcher} target: starts the translating dev server on the given data dir, host and port. */
  public static DevMongo start(Path dataDir, String host, int port) {
    DevMongoServer server = DevMongoServer.start(dataDir, host, port);
    return new DevMongo() {
      @Override
      public String connectionString() {
        return server.connectionString();
      }

      @Override
      public int port() {
        return server.port();
      }

      @Override
      public void close() {
        server.close();
      }
    };
  }
}
