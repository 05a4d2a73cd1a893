package io.silo.cli;

import io.silo.api.v1.MigrationEvent;
import java.io.PrintWriter;

/**
 * Shows migration progress events as they arrive. Three renderings: live bars
 * for a person at a terminal, rate-limited plain lines for logs and pipes, and
 * NDJSON for scripts.
 */
interface ProgressView extends AutoCloseable {

  /** Shows (or, if it is too soon, remembers) one event. */
  void update(MigrationEvent event);

  /** Called about twice a second while no event arrives, so a remembered update can still be shown. */
  default void tick() {}

  /** Ends the display (closes bars); prints nothing of its own. */
  @Override
  void close();

  /**
   * Picks the rendering: JSON output gets every event as NDJSON, an interactive
   * table gets bars (plus an overall bar when {@code overallOf} > 0 migrations
   * are followed), anything else plain lines.
   */
  static ProgressView create(OutputFormat format, boolean interactive, PrintWriter out, int overallOf) {
    if (format == OutputFormat.JSON) {
      return new JsonProgressView(out);
    }
    if (interactive) {
      return new BarProgressView(overallOf, null);
    }
    return new PlainProgressView(out, System::nanoTime, PlainProgressView.INTERVAL);
  }
}
