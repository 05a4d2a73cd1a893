package io.silo.cli;

import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationEvent;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.WatchMigrationResponse;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.function.LongSupplier;

/**
 * Reads WatchMigration events into a {@link ProgressView} and keeps the latest
 * snapshot of each migration, to tell when to stop and what the outcome was.
 * Either it tracks a fixed set of migrations (those a start returned, or one id)
 * and ignores the rest of the stream, or it follows whatever the stream shows.
 */
final class MigrationFollower {

  /** How long to wait for an event before letting the view catch up on a held-back line. */
  static final Duration TICK = Duration.ofMillis(500);

  /**
   * How long a tracked migration may stay absent from the stream before it is
   * looked up directly. A migration that finished between StartMigration and the
   * watch subscription may not be among the watch's snapshots; without the
   * lookup, migrate-all --follow would wait for it forever.
   */
  static final Duration LOOKUP_AFTER = Duration.ofSeconds(3);

  private final ProgressView view;
  private final Set<String> tracked;
  private final Function<String, Migration> lookup;
  private final LongSupplier nanoClock;
  private final Map<String, Migration> latest = new LinkedHashMap<>();
  private final Set<String> finals = new HashSet<>();
  private final Set<String> seenInStream = new HashSet<>();

  private MigrationFollower(ProgressView view, Set<String> tracked, Function<String, Migration> lookup, LongSupplier nanoClock) {
    this.view = view;
    this.tracked = tracked;
    this.lookup = lookup;
    this.nanoClock = nanoClock;
  }

  /**
   * Tracks exactly {@code started}. Those already final are shown at once (as
   * their final event), so every tracked migration gets exactly one final line;
   * {@code lookup} fetches one migration (GetMigration) for the ones the stream
   * never mentions.
   */
  static MigrationFollower tracking(List<Migration> started, ProgressView view, Function<String, Migration> lookup) {
    Set<String> ids = new LinkedHashSet<>();
    started.forEach(m -> ids.add(m.getId()));
    MigrationFollower f = new MigrationFollower(view, ids, lookup, System::nanoTime);
    for (Migration m : started) {
      f.latest.put(m.getId(), m);
      if (MigrationText.isFinal(m.getState())) {
        f.accept(finalEvent(m));
      }
    }
    return f;
  }

  /** Follows every migration that appears in the stream (watch --tenant or --all). */
  static MigrationFollower open(ProgressView view) {
    return new MigrationFollower(view, null, null, System::nanoTime);
  }

  /**
   * Reads the stream until every tracked migration (or, without a fixed set,
   * every migration seen so far, at least one) is final, if {@code stopWhenFinal};
   * otherwise until the server ends the stream. Returns whether everything
   * watched is final at the end.
   */
  boolean follow(ServerStream<WatchMigrationResponse> stream, boolean stopWhenFinal) {
    long openedAt = nanoClock.getAsLong();
    boolean looked = false;
    while (!(stopWhenFinal && allFinal())) {
      if (!looked && tracked != null && nanoClock.getAsLong() - openedAt >= LOOKUP_AFTER.toNanos()) {
        lookUpMissing();
        looked = true;
        continue;
      }
      WatchMigrationResponse response = stream.next(TICK);
      if (response == null) {
        if (stream.done()) {
          break;
        }
        view.tick();
        continue;
      }
      seenInStream.add(response.getEvent().getMigration().getId());
      accept(response.getEvent());
    }
    return allFinal();
  }

  private void accept(MigrationEvent event) {
    String id = event.getMigration().getId();
    if (tracked != null && (!tracked.contains(id) || finals.contains(id))) {
      // Another tenant's migration (watch all=true filtered to ours), or a late
      // duplicate after the final event, which must not print a second final line.
      return;
    }
    latest.put(id, event.getMigration());
    if (MigrationText.isFinal(event)) {
      finals.add(id);
    } else {
      // An open-ended watch can see a FAILED migration resumed; it is live again.
      finals.remove(id);
    }
    view.update(event);
  }

  private void lookUpMissing() {
    for (String id : tracked) {
      if (!finals.contains(id) && !seenInStream.contains(id)) {
        Migration m = lookup.apply(id);
        if (MigrationText.isFinal(m.getState())) {
          accept(finalEvent(m));
        }
      }
    }
  }

  // A migration known to be final from a unary answer is shown as the final
  // event the stream would have sent, so views and NDJSON readers see one shape.
  private static MigrationEvent finalEvent(Migration m) {
    return MigrationEvent.newBuilder().setMigration(m).setFinal(true).build();
  }

  /** Whether everything watched is final: all tracked ones, or all seen (and at least one) without a fixed set. */
  boolean allFinal() {
    if (tracked != null) {
      return finals.containsAll(tracked);
    }
    return !latest.isEmpty() && finals.containsAll(latest.keySet());
  }

  /** The latest snapshot of every migration watched, in the order first seen. */
  Collection<Migration> migrations() {
    return latest.values();
  }

  /** The ids of watched migrations that are not final yet. */
  List<String> unfinished() {
    List<String> ids = new ArrayList<>();
    for (String id : tracked != null ? tracked : latest.keySet()) {
      if (!finals.contains(id)) {
        ids.add(id);
      }
    }
    return ids;
  }

  /**
   * Exit code over the watched migrations: 0 only when every one completed with
   * no failed item; 1 otherwise, after telling on {@code err} what is wrong with
   * each and the command that shows more.
   */
  static int outcome(Collection<Migration> migrations, PrintWriter err) {
    int code = SiloCommand.OK;
    for (Migration m : migrations) {
      if (MigrationText.isClean(m)) {
        continue;
      }
      code = SiloCommand.FAILED;
      String who = "migration " + m.getId() + " of tenant " + m.getTenant();
      long failed = MigrationText.failed(m);
      MigrationState state = m.getState();
      String what = switch (state) {
        case MIGRATION_STATE_COMPLETED -> " completed with " + failed + " failed item" + (failed == 1 ? "" : "s");
        case MIGRATION_STATE_FAILED -> " FAILED" + (m.getLastError().isEmpty() ? "" : ": " + m.getLastError());
        case MIGRATION_STATE_VERIFY_FAILED -> " finished, but VERIFY FAILED"
            + (m.getLastError().isEmpty() ? "" : ": " + m.getLastError());
        default -> " ended " + MigrationText.state(state) + (failed > 0 ? " with " + failed + " failed items" : "");
      };
      err.println(MigrationText.sanitize("silo: " + who + what));
      List<String> hints = new ArrayList<>();
      if (failed > 0 || state == MigrationState.MIGRATION_STATE_FAILED) {
        hints.add("list the failed items with 'silo report " + m.getId() + "'");
      }
      if (state == MigrationState.MIGRATION_STATE_FAILED) {
        hints.add("continue from the last checkpoint with 'silo resume " + m.getId() + "'");
      }
      if (state == MigrationState.MIGRATION_STATE_VERIFY_FAILED) {
        hints.add("see the findings with 'silo verify " + m.getTenant() + "', then re-sync with 'silo migrate "
            + m.getTenant() + "'");
      }
      if (state == MigrationState.MIGRATION_STATE_CANCELLED) {
        hints.add("remove the migrated data with 'silo rollback " + m.getTenant() + " --migration " + m.getId() + "'");
      }
      for (String hint : hints) {
        err.println(MigrationText.sanitize("silo: hint: " + hint));
      }
    }
    err.flush();
    return code;
  }
}
