package io.silo.cli;

import static io.silo.cli.FakeMigrationService.completed;
import static io.silo.cli.FakeMigrationService.event;
import static io.silo.cli.FakeMigrationService.migration;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.util.JsonFormat;
import io.silo.api.v1.MigrationPhase;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.WatchMigrationRequest;
import io.silo.api.v1.WatchMigrationResponse;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class WatchCommandTest extends ServerTest {

  private static final MigrationState RUNNING = MigrationState.MIGRATION_STATE_RUNNING;
  private static final MigrationPhase MONGO = MigrationPhase.MIGRATION_PHASE_MONGO;

  @Test
  void watchByIdExitsAfterTheFinalEventEvenIfTheStreamStaysOpen() throws Exception {
    migrations.put(migration("m1", "acme", RUNNING, MONGO, 1, 2, 0));
    migrations.watchScripts.put("id:m1", List.of(
        event(migration("m1", "acme", RUNNING, MONGO, 1, 2, 0), false),
        event(completed("m1", "acme", 2, 0), true)));
    migrations.keepOpenAfterScript = true;
    CliRun run = silo("watch", "m1");
    assertThat(run.exitCode()).isZero();
    assertThat(migrations.requests).containsExactly(WatchMigrationRequest.newBuilder().setMigrationId("m1").build());
    assertThat(run.out()).isEqualTo("acme  RUNNING  MONGO 1/2 (50%)  250/s  eta 12s  failed 0\n"
        + "acme  COMPLETED  KEYS 1/1, MONGO 2/2  failed 0  migration m1\n");
    assertThat(migrations.watchCancelled.await(5, TimeUnit.SECONDS)).as("client cancelled the stream").isTrue();
  }

  @Test
  void watchNeedsExactlyOneSelector() {
    for (String[] args : new String[][] {{"watch"}, {"watch", "m1", "--all"}, {"watch", "--tenant", "acme", "--all"}}) {
      CliRun run = silo(args);
      assertThat(run.exitCode()).as(String.join(" ", args)).isEqualTo(2);
      assertThat(run.err()).startsWith("silo: Give exactly one of MIGRATION_ID, --tenant or --all");
    }
    assertThat(migrations.requests).isEmpty();
  }

  @Test
  void watchAllRunsUntilCtrlCThenCancelsTheStreamAndExits130() throws Exception {
    migrations.watchScripts.put("all", List.of(event(migration("m1", "acme", RUNNING, MONGO, 1, 2, 0), false)));
    CompletableFuture<CliRun> run = CompletableFuture.supplyAsync(() -> silo("watch", "--all"));
    assertThat(migrations.watchOpened.await(10, TimeUnit.SECONDS)).isTrue();
    // Running on past a final event would prove nothing; a short pause shows it does not exit on its own.
    Thread.sleep(300);
    assertThat(run).isNotDone();
    ServerStream.interruptOpen(); // what the Ctrl-C hook does
    CliRun done = run.get(10, TimeUnit.SECONDS);
    assertThat(done.exitCode()).isEqualTo(130);
    assertThat(done.out()).isEqualTo("acme  RUNNING  MONGO 1/2 (50%)  250/s  eta 12s  failed 0\n");
    assertThat(done.err()).isEqualTo("silo: interrupted: stopped watching; migrations keep running on the server\n");
    assertThat(migrations.watchCancelled.await(5, TimeUnit.SECONDS)).isTrue();
    assertThat(migrations.requests).containsExactly(WatchMigrationRequest.newBuilder().setAll(true).build());
  }

  @Test
  void watchTenantUntilDoneExitsOnceEveryMigrationSeenIsFinal() {
    migrations.watchScripts.put("tenant:acme", List.of(
        event(migration("m1", "acme", RUNNING, MONGO, 1, 2, 0), false),
        event(migration("m2", "acme", RUNNING, MONGO, 1, 2, 0), false),
        event(completed("m1", "acme", 2, 0), true),
        event(completed("m2", "acme", 2, 1), true)));
    CliRun run = silo("watch", "--tenant", "acme", "--until-done");
    assertThat(run.exitCode()).as("m2 has a failed item").isEqualTo(1);
    assertThat(migrations.requests).containsExactly(WatchMigrationRequest.newBuilder().setTenant("acme").build());
    assertThat(run.out()).contains("migration m1", "migration m2").endsWith("2 migrations final: 1 completed cleanly, 1 not\n");
    assertThat(run.err()).contains("silo report m2");
  }

  @Test
  void watchOfAnUnknownMigrationExitsOneWithNotFoundNamingTheField() {
    CliRun run = silo("watch", "nope");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.out()).isEmpty();
    assertThat(run.err()).isEqualTo("silo: NOT_FOUND: migration_id: migration 'nope' not found\n");
  }

  @Test
  void watchJsonPrintsEveryEventAsOneParseableLine() throws Exception {
    migrations.put(migration("m1", "acme", RUNNING, MONGO, 1, 3, 0));
    List<WatchMigrationResponse> script = List.of(
        event(migration("m1", "acme", RUNNING, MONGO, 1, 3, 0), false),
        event(migration("m1", "acme", RUNNING, MONGO, 2, 3, 0), false),
        event(completed("m1", "acme", 3, 0), true));
    migrations.watchScripts.put("id:m1", script);
    CliRun run = silo("-o", "json", "watch", "m1");
    assertThat(run.exitCode()).isZero();
    List<String> lines = run.out().lines().toList();
    assertThat(lines).hasSize(3).allSatisfy(l -> assertThat(l).startsWith("{\"event\":{").endsWith("}"));
    for (int i = 0; i < 3; i++) {
      WatchMigrationResponse.Builder parsed = WatchMigrationResponse.newBuilder();
      JsonFormat.parser().merge(lines.get(i), parsed);
      assertThat(parsed.build()).isEqualTo(script.get(i));
    }
  }
}
