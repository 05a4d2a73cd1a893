package io.silo.cli;

import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationEvent;
import io.silo.api.v1.MigrationPhase;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.PhaseProgress;
import java.time.Duration;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Supplier;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarConsumer;

/**
 * Live progress bars for a person at a terminal: one per migration (the current
 * phase's done/total, with the server's rate and ETA) and, when several are
 * followed, an overall bar counting the ones that reached a final state.
 */
final class BarProgressView implements ProgressView {

  // Tenant slugs are at most 40 characters; padding the common lengths keeps the
  // bars of a migrate-all lined up without wasting a third of the screen.
  private static final int NAME_WIDTH = 16;

  private final Supplier<ProgressBarConsumer> consumers;
  private final Map<String, Bar> bars = new LinkedHashMap<>();
  private final Set<String> finals = new HashSet<>();
  private final ProgressBar overall;

  /**
   * Creates the view. {@code overallOf} > 0 adds an overall bar out of that many
   * migrations; {@code consumers} (null for the terminal) lets tests capture the text.
   */
  BarProgressView(int overallOf, Supplier<ProgressBarConsumer> consumers) {
    this.consumers = consumers;
    this.overall = overallOf > 0 ? builder(pad("all tenants"), overallOf).build() : null;
  }

  @Override
  public void update(MigrationEvent event) {
    Migration m = event.getMigration();
    bars.computeIfAbsent(m.getId(), id -> new Bar(m.getTenant())).show(event);
    if (MigrationText.isFinal(event)) {
      finals.add(m.getId());
    } else {
      finals.remove(m.getId());
    }
    if (overall != null) {
      overall.stepTo(finals.size());
      long unclean = bars.values().stream().filter(b -> b.isFinal && !b.isClean).count();
      overall.setExtraMessage(finals.size() + " final" + (unclean > 0 ? ", " + unclean + " not clean" : ""));
    }
  }

  @Override
  public void close() {
    // Closing renders each bar one last time, so the screen keeps the end state.
    bars.values().forEach(b -> b.bar.close());
    if (overall != null) {
      overall.close();
    }
  }

  private ProgressBarBuilder builder(String name, long max) {
    ProgressBarBuilder b = new ProgressBarBuilder()
        .setTaskName(name)
        .setInitialMax(max)
        .setUpdateIntervalMillis(250)
        .continuousUpdate();
    if (consumers != null) {
      b.setConsumer(consumers.get());
    }
    return b;
  }

  private static String pad(String name) {
    return name.length() >= NAME_WIDTH ? name : name + " ".repeat(NAME_WIDTH - name.length());
  }

  /** One migration's bar; it restarts at each phase, since done/total count that phase's items. */
  private final class Bar {
    final ProgressBar bar;
    // The bar's own ETA guesses from its start time; the server's figure knows the real rate.
    volatile Duration eta;
    MigrationPhase phase;
    boolean isFinal;
    boolean isClean;

    Bar(String tenant) {
      this.bar = builder(pad(MigrationText.sanitize(tenant)), -1)
          .setEtaFunction(state -> Optional.ofNullable(eta))
          .build();
    }

    void show(MigrationEvent event) {
      Migration m = event.getMigration();
      isFinal = MigrationText.isFinal(event);
      PhaseProgress p = MigrationText.current(m);
      if (p == null && isFinal && m.getProgressCount() > 0) {
        // Phase DONE has no counts; the last phase's are the ones worth showing.
        p = m.getProgress(m.getProgressCount() - 1);
      }
      isClean = MigrationText.isClean(m);
      // A final snapshot moves to phase DONE, which has no counts of its own;
      // restarting the bar then would wipe the last phase's figures and time.
      if (m.getPhase() != phase && !isFinal) {
        phase = m.getPhase();
        bar.reset();
      }
      if (p != null) {
        bar.maxHint(p.getTotal() > 0 ? Math.max(p.getTotal(), p.getDone()) : -1);
        bar.stepTo(p.getDone());
      }
      if (m.getState() == MigrationState.MIGRATION_STATE_COMPLETED && bar.getMax() > 0) {
        bar.stepTo(bar.getMax());
      }
      if (isFinal) {
        eta = Duration.ZERO;
      } else {
        eta = event.hasEta() && m.getState() == MigrationState.MIGRATION_STATE_RUNNING
            ? Duration.ofSeconds(event.getEta().getSeconds(), event.getEta().getNanos()) : null;
      }
      StringBuilder extra = new StringBuilder();
      String phaseName = MigrationText.phase(m.getPhase());
      extra.append(isFinal || phaseName == null ? MigrationText.state(m.getState()) : phaseName);
      if (m.getState() == MigrationState.MIGRATION_STATE_PAUSED) {
        extra.append(" (paused)");
      }
      String rate = m.getState() == MigrationState.MIGRATION_STATE_RUNNING ? MigrationText.rate(event.getRatePerSecond()) : null;
      if (rate != null) {
        extra.append(' ').append(rate);
      }
      extra.append(" failed ").append(MigrationText.failed(m));
      bar.setExtraMessage(MigrationText.sanitize(extra.toString()));
    }
  }
}
