package io.silo.cli;

import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationEvent;
import io.silo.api.v1.MigrationPhase;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.PhaseProgress;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;

/** The human view of migrations: short state and phase names, durations, rates, progress lines and tables. */
final class MigrationText {

  private static final Set<MigrationState> FINAL = EnumSet.of(
      MigrationState.MIGRATION_STATE_COMPLETED,
      MigrationState.MIGRATION_STATE_VERIFY_FAILED,
      MigrationState.MIGRATION_STATE_FAILED,
      MigrationState.MIGRATION_STATE_CANCELLED,
      MigrationState.MIGRATION_STATE_ROLLED_BACK);

  private MigrationText() {}

  /** Whether the migration will not move on by itself (the states the server marks final). */
  static boolean isFinal(MigrationState state) {
    return FINAL.contains(state);
  }

  /** Whether the event ends its migration: the server's flag, or a final state should the flag be missing. */
  static boolean isFinal(MigrationEvent event) {
    return event.getFinal() || isFinal(event.getMigration().getState());
  }

  /** The one outcome a script may treat as success: completed with no failed item. */
  static boolean isClean(Migration m) {
    return m.getState() == MigrationState.MIGRATION_STATE_COMPLETED && failed(m) == 0;
  }

  /** Failed items over every phase. */
  static long failed(Migration m) {
    return m.getProgressList().stream().mapToLong(PhaseProgress::getFailed).sum();
  }

  // The enum prefixes are noise in a column or a progress line; JSON keeps the full names.
  static String state(MigrationState state) {
    return shortName(state == MigrationState.UNRECOGNIZED ? "UNKNOWN" : state.name(), "MIGRATION_STATE_");
  }

  static String phase(MigrationPhase phase) {
    if (phase == MigrationPhase.MIGRATION_PHASE_UNSPECIFIED) {
      return null;
    }
    return shortName(phase == MigrationPhase.UNRECOGNIZED ? "UNKNOWN" : phase.name(), "MIGRATION_PHASE_");
  }

  private static String shortName(String name, String prefix) {
    return name.startsWith(prefix) ? name.substring(prefix.length()) : name;
  }

  /** The progress of the migration's current phase, or null if it has none yet. */
  static PhaseProgress current(Migration m) {
    for (PhaseProgress p : m.getProgressList()) {
      if (p.getPhase() == m.getPhase()) {
        return p;
      }
    }
    return null;
  }

  /** {@code done/total (pct)}, or {@code done/?} while the total is not counted yet. */
  static String counts(PhaseProgress p) {
    if (p.getTotal() <= 0) {
      return p.getDone() + "/?";
    }
    double pct = 100.0 * p.getDone() / p.getTotal();
    return p.getDone() + "/" + p.getTotal() + " (" + String.format(Locale.ROOT, "%.0f%%", Math.floor(pct)) + ")";
  }

  /**
   * A phase's total, or {@code ?} while it may still be counted: the contract's "0 when unknown" cannot be told from
   * an empty source until the migration has ended (a re-run after a purge finds nothing left to copy).
   */
  static String total(Migration m, PhaseProgress p) {
    return p.getTotal() > 0 || isFinal(m.getState()) ? Long.toString(p.getTotal()) : "?";
  }

  /** Items per second, with a decimal only where it matters. */
  static String rate(double perSecond) {
    if (perSecond <= 0 || Double.isNaN(perSecond)) {
      return null;
    }
    return (perSecond < 10 ? String.format(Locale.ROOT, "%.1f", perSecond) : String.format(Locale.ROOT, "%.0f", perSecond)) + "/s";
  }

  /** A compact duration for people: 42s, 4m12s, 1h02m. Null when unset. */
  static String duration(com.google.protobuf.Duration d) {
    if (d == null || (d.getSeconds() == 0 && d.getNanos() == 0)) {
      return null;
    }
    return duration(Math.max(1, d.getSeconds() + (d.getNanos() >= 500_000_000 ? 1 : 0)));
  }

  static String duration(long seconds) {
    if (seconds < 60) {
      return seconds + "s";
    }
    if (seconds < 3600) {
      return (seconds / 60) + "m" + String.format(Locale.ROOT, "%02ds", seconds % 60);
    }
    return (seconds / 3600) + "h" + String.format(Locale.ROOT, "%02dm", (seconds % 3600) / 60);
  }

  /**
   * One plain progress line: {@code acme  RUNNING  MONGO 1200/5000 (24%)  350/s  eta 11s  failed 0}.
   * Parts that are unknown are left out rather than printed as placeholders.
   */
  static String progressLine(MigrationEvent event) {
    Migration m = event.getMigration();
    StringBuilder sb = new StringBuilder();
    sb.append(m.getTenant()).append("  ").append(state(m.getState()));
    String phase = phase(m.getPhase());
    PhaseProgress p = current(m);
    if (phase != null) {
      sb.append("  ").append(phase);
      if (p != null) {
        sb.append(' ').append(counts(p));
      }
    }
    // Rate and ETA describe a phase in motion; on a paused migration they are stale.
    if (m.getState() == MigrationState.MIGRATION_STATE_RUNNING) {
      appendPart(sb, rate(event.getRatePerSecond()), "");
      appendPart(sb, duration(event.hasEta() ? event.getEta() : null), "eta ");
    }
    sb.append("  failed ").append(failed(m));
    return sanitize(sb.toString());
  }

  /**
   * The line for a migration that reached its final state, with its id (needed
   * for {@code silo report}) and every phase's counts:
   * {@code acme  COMPLETED  KEYS 1/1, MONGO 5000/5000  failed 0  migration <id>}.
   */
  static String finalLine(Migration m) {
    StringBuilder sb = new StringBuilder();
    sb.append(m.getTenant()).append("  ").append(state(m.getState()));
    StringBuilder phases = new StringBuilder();
    for (PhaseProgress p : m.getProgressList()) {
      String name = phase(p.getPhase());
      if (name == null) {
        continue;
      }
      if (phases.length() > 0) {
        phases.append(", ");
      }
      phases.append(name).append(' ').append(p.getDone()).append('/').append(total(m, p));
    }
    appendPart(sb, phases.length() == 0 ? null : phases.toString(), "");
    sb.append("  failed ").append(failed(m)).append("  migration ").append(m.getId());
    appendPart(sb, m.getLastError().isEmpty() ? null : m.getLastError(), "error: ");
    appendPart(sb, m.getNotice().isEmpty() ? null : m.getNotice(), "note: ");
    return sanitize(sb.toString());
  }

  private static void appendPart(StringBuilder sb, String value, String label) {
    if (value != null) {
      sb.append("  ").append(label).append(value);
    }
  }

  // Tenant slugs and error texts come from the server; a control character in one
  // would break the line (or a terminal escape mislead the reader).
  static String sanitize(String text) {
    StringBuilder sb = new StringBuilder(text.length());
    text.codePoints().forEach(cp -> sb.appendCodePoint(Character.isISOControl(cp) ? '?' : cp));
    return sb.toString();
  }

  /** MIGRATION, TENANT, STATE, PHASE, PROGRESS, FAILED, UPDATED: one row per migration. */
  static Table table(Iterable<Migration> migrations) {
    Table table = new Table("MIGRATION", "TENANT", "STATE", "PHASE", "PROGRESS", "FAILED", "UPDATED");
    for (Migration m : migrations) {
      PhaseProgress p = current(m);
      table.row(
          m.getId(),
          m.getTenant(),
          state(m.getState()),
          phase(m.getPhase()),
          p == null ? null : counts(p),
          Long.toString(failed(m)),
          TenantTable.time(m.hasUpdateTime() ? m.getUpdateTime() : m.hasCreateTime() ? m.getCreateTime() : null));
    }
    return table;
  }

  /** PHASE, DONE, TOTAL, FAILED, BYTES: one row per phase of one migration. */
  static Table phases(Migration m) {
    Table table = new Table("PHASE", "DONE", "TOTAL", "FAILED", "BYTES");
    for (PhaseProgress p : m.getProgressList()) {
      table.row(
          phase(p.getPhase()),
          Long.toString(p.getDone()),
          total(m, p),
          Long.toString(p.getFailed()),
          Long.toString(p.getBytes()));
    }
    return table;
  }
}
