package io.silo.cli;

import io.silo.api.v1.MigrationEvent;
import io.silo.api.v1.WatchMigrationResponse;
import java.io.PrintWriter;

/** Prints every event as one NDJSON line, in the shape of the stream's own message (WatchMigrationResponse). */
final class JsonProgressView implements ProgressView {
  private final PrintWriter out;

  JsonProgressView(PrintWriter out) {
    this.out = out;
  }

  @Override
  public void update(MigrationEvent event) {
    // Not rate-limited: a script wants every event, and the server already
    // coalesces snapshots for a reader that falls behind.
    Ndjson.print(out, WatchMigrationResponse.newBuilder().setEvent(event).build());
  }

  @Override
  public void close() {
    out.flush();
  }
}
