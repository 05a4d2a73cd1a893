package io.silo.cli;

import static io.silo.cli.FakeMigrationService.completed;
import static io.silo.cli.FakeMigrationService.migration;
import static org.assertj.core.api.Assertions.assertThat;

import io.silo.api.v1.MigrationEvent;
import io.silo.api.v1.MigrationPhase;
import io.silo.api.v1.MigrationState;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import me.tongfei.progressbar.DelegatingProgressBarConsumer;
import org.junit.jupiter.api.Test;

class ProgressViewTest {

  private static final MigrationState RUNNING = MigrationState.MIGRATION_STATE_RUNNING;
  private static final MigrationPhase MONGO = MigrationPhase.MIGRATION_PHASE_MONGO;

  private final StringWriter text = new StringWriter();
  private final AtomicLong clock = new AtomicLong();
  private final PlainProgressView view =
      new PlainProgressView(new PrintWriter(text), clock::get, Duration.ofSeconds(2));

  private static MigrationEvent mongo(String id, String tenant, long done) {
    return FakeMigrationService.event(migration(id, tenant, RUNNING, MONGO, done, 1000, 0), false).getEvent();
  }

  private void advanceMillis(long ms) {
    clock.addAndGet(ms * 1_000_000);
  }

  @Test
  void plainViewPrintsAtMostOneRoutineLineEveryIntervalPlusChangesAndTheFinal() {
    // 10 events a second for 5 seconds: 50 events, which must not become 50 lines.
    for (int i = 1; i <= 50; i++) {
      view.update(mongo("m1", "acme", i * 10));
      advanceMillis(100);
    }
    view.update(FakeMigrationService.event(completed("m1", "acme", 1000, 0), true).getEvent());
    assertThat(text.toString().lines().toList()).containsExactly(
        "acme  RUNNING  MONGO 10/1000 (1%)  250/s  eta 12s  failed 0",
        "acme  RUNNING  MONGO 210/1000 (21%)  250/s  eta 12s  failed 0",
        "acme  RUNNING  MONGO 410/1000 (41%)  250/s  eta 12s  failed 0",
        "acme  COMPLETED  KEYS 1/1, MONGO 1000/1000  failed 0  migration m1");
  }

  @Test
  void aPhaseTotalOfZeroIsUnknownWhileRunningAndZeroOnceTheMigrationHasEnded() {
    io.silo.api.v1.PhaseProgress empty = io.silo.api.v1.PhaseProgress.newBuilder()
        .setPhase(MigrationPhase.MIGRATION_PHASE_MONGO).build();
    io.silo.api.v1.Migration running = io.silo.api.v1.Migration.newBuilder().setId("m1").setTenant("acme")
        .setState(MigrationState.MIGRATION_STATE_RUNNING).addProgress(empty).build();
    io.silo.api.v1.Migration ended = running.toBuilder().setState(MigrationState.MIGRATION_STATE_COMPLETED).build();

    assertThat(MigrationText.counts(empty)).isEqualTo("0/?");
    assertThat(MigrationText.phases(running).render()).contains("?");
    assertThat(MigrationText.finalLine(ended)).contains("MONGO 0/0");
    assertThat(MigrationText.phases(ended).render()).doesNotContain("?");
  }

  @Test
  void plainViewPrintsAStateChangeAtOnce() {
    view.update(mongo("m1", "acme", 10));
    advanceMillis(10);
    view.update(FakeMigrationService.event(
        migration("m1", "acme", MigrationState.MIGRATION_STATE_PAUSED, MONGO, 11, 1000, 0), false).getEvent());
    // Rate and ETA of a paused migration would be stale, so they are left out.
    assertThat(text.toString().lines().toList()).containsExactly(
        "acme  RUNNING  MONGO 10/1000 (1%)  250/s  eta 12s  failed 0",
        "acme  PAUSED  MONGO 11/1000 (1%)  failed 0");
  }

  @Test
  void plainViewTickShowsAHeldBackUpdateOnceTheIntervalHasPassed() {
    view.update(mongo("m1", "acme", 10));
    advanceMillis(500);
    view.update(mongo("m1", "acme", 20));
    view.tick();
    assertThat(text.toString().lines()).hasSize(1);
    advanceMillis(1600);
    view.tick();
    view.tick();
    assertThat(text.toString().lines().toList()).containsExactly(
        "acme  RUNNING  MONGO 10/1000 (1%)  250/s  eta 12s  failed 0",
        "acme  RUNNING  MONGO 20/1000 (2%)  250/s  eta 12s  failed 0");
  }

  @Test
  void plainViewLimitsEachMigrationOnItsOwn() {
    view.update(mongo("m1", "acme", 10));
    view.update(mongo("m2", "globex", 10));
    advanceMillis(100);
    view.update(mongo("m1", "acme", 20));
    view.update(mongo("m2", "globex", 20));
    assertThat(text.toString().lines().toList()).containsExactly(
        "acme  RUNNING  MONGO 10/1000 (1%)  250/s  eta 12s  failed 0",
        "globex  RUNNING  MONGO 10/1000 (1%)  250/s  eta 12s  failed 0");
  }

  @Test
  void barViewDrawsOneBarPerMigrationAndAnOverallBar() {
    StringBuilder drawn = new StringBuilder();
    BarProgressView bars = new BarProgressView(2,
        () -> new DelegatingProgressBarConsumer(line -> {
          synchronized (drawn) {
            drawn.append(line).append('\n');
          }
        }, 120));
    bars.update(mongo("m1", "acme", 500));
    bars.update(FakeMigrationService.event(completed("m2", "globex", 10, 1), true).getEvent());
    bars.close();
    String all;
    synchronized (drawn) {
      all = drawn.toString();
    }
    assertThat(all).contains("acme", "MONGO 250/s failed 0", "500/1000", "globex", "COMPLETED failed 1",
        "all tenants", "1 final, 1 not clean");
  }

  @Test
  void migrationTextFormatsDurationsRatesAndCounts() {
    assertThat(MigrationText.duration(42)).isEqualTo("42s");
    assertThat(MigrationText.duration(252)).isEqualTo("4m12s");
    assertThat(MigrationText.duration(3720)).isEqualTo("1h02m");
    assertThat(MigrationText.duration(com.google.protobuf.Duration.getDefaultInstance())).isNull();
    assertThat(MigrationText.rate(2.25)).isEqualTo("2.3/s");
    assertThat(MigrationText.rate(1234.4)).isEqualTo("1234/s");
    assertThat(MigrationText.rate(0)).isNull();
    assertThat(MigrationText.counts(io.silo.api.v1.PhaseProgress.newBuilder().setDone(999).setTotal(1000).build()))
        .as("never rounds up to 100% before the end").isEqualTo("999/1000 (99%)");
    assertThat(MigrationText.counts(io.silo.api.v1.PhaseProgress.newBuilder().setDone(5).build())).isEqualTo("5/?");
  }
}
