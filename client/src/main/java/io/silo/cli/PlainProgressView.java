package io.silo.cli;

import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationEvent;
import io.silo.api.v1.MigrationPhase;
import io.silo.api.v1.MigrationState;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * Progress as plain lines for logs and pipes. Per migration it prints a line when
 * the state or phase changes, one for the final event, and otherwise at most one
 * per {@link #INTERVAL}: the server may send several events a second, and a CI
 * log with a line for each would bury everything else.
 */
final class PlainProgressView implements ProgressView {

  /** Least time between two routine lines of the same migration. */
  static final Duration INTERVAL = Duration.ofSeconds(2);

  private final PrintWriter out;
  private final LongSupplier nanoClock;
  private final long intervalNanos;
  private final Map<String, Shown> shown = new HashMap<>();

  /** What was last printed for one migration, and the newest event not printed yet. */
  private static final class Shown {
    long printedAt;
    MigrationState state;
    MigrationPhase phase;
    MigrationEvent pending;
  }

  /** Creates a view printing to {@code out}; {@code nanoClock} is injectable so tests need not sleep. */
  PlainProgressView(PrintWriter out, LongSupplier nanoClock, Duration interval) {
    this.out = out;
    this.nanoClock = nanoClock;
    this.intervalNanos = interval.toNanos();
  }

  @Override
  public void update(MigrationEvent event) {
    Migration m = event.getMigration();
    Shown s = shown.get(m.getId());
    long now = nanoClock.getAsLong();
    boolean changed = s == null || s.state != m.getState() || s.phase != m.getPhase() || MigrationText.isFinal(event);
    if (changed || now - s.printedAt >= intervalNanos) {
      print(event, now);
    } else {
      s.pending = event;
    }
  }

  @Override
  public void tick() {
    long now = nanoClock.getAsLong();
    for (Shown s : shown.values()) {
      if (s.pending != null && now - s.printedAt >= intervalNanos) {
        print(s.pending, now);
      }
    }
  }

  private void print(MigrationEvent event, long now) {
    Migration m = event.getMigration();
    out.println(MigrationText.isFinal(event) ? MigrationText.finalLine(m) : MigrationText.progressLine(event));
    out.flush();
    Shown s = shown.computeIfAbsent(m.getId(), id -> new Shown());
    s.printedAt = now;
    s.state = m.getState();
    s.phase = m.getPhase();
    s.pending = null;
  }

  @Override
  public void close() {
    // An update held back by the rate limit is dropped on purpose: the final
    // line, or the command's own summary, says where things ended.
    out.flush();
  }
}
