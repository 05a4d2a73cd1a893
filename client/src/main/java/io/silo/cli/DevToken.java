package io.silo.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The admin token {@code silo-server dev} saves in its data directory ({@code ./.silo-data/admin-token}), used when
 * neither --token nor SILO_TOKEN is given so the dev flow works without copying the token around.
 */
final class DevToken {

  /** Where {@code silo-server dev} keeps its data by default, relative to the directory both are run from. */
  static final String DATA_DIR_PROPERTY = "silo.devDataDir";
  static final String FILE = "admin-token";

  private DevToken() {
  }

  /**
   * The dev admin token, or null when there is none. Only for a loopback server: a dev token must never be sent to
   * a server on another machine just because the file happens to be in the current directory.
   */
  static String find(ServerAddress address) {
    if (!address.isLoopback()) {
      return null;
    }
    Path file = Path.of(System.getProperty(DATA_DIR_PROPERTY, ".silo-data")).resolve(FILE);
    try {
      if (!Files.isRegularFile(file)) {
        return null;
      }
      String token = Files.readString(file, StandardCharsets.UTF_8).trim();
      return token.isEmpty() ? null : token;
    } catch (IOException | SecurityException e) {
      // An unreadable file is the same as none: the server then says UNAUTHENTICATED, naming --token.
      return null;
    }
  }
}
