package io.silo.cli;

import io.silo.api.v1.GetMigrationRequest;
import io.silo.api.v1.Migration;
import io.silo.api.v1.WatchMigrationRequest;
import io.silo.api.v1.WatchMigrationResponse;
import java.util.List;

/** Base of the commands that watch migrations (migrate --follow, migrate-all --follow, watch): streaming, display, outcome. */
abstract class FollowingCommand extends SiloCommand {

  /** What a follow ended with: the migrations' latest snapshots and whether all of them were final. */
  record Followed(MigrationFollower follower, boolean allFinal) {}

  /**
   * Watches {@code request} until {@code started} (or, if null, whatever the
   * stream shows) is final, or the stream ends when {@code stopWhenFinal} is
   * false. {@code interruptMessage} tells the user what Ctrl-C leaves running.
   */
  protected Followed follow(WatchMigrationRequest request, List<Migration> started, boolean stopWhenFinal,
      String interruptMessage) {
    int overallOf = started != null && started.size() > 1 ? started.size() : 0;
    try (ProgressView view = ProgressView.create(root().output(), interactive(), out(), overallOf)) {
      MigrationFollower follower = started == null
          ? MigrationFollower.open(view)
          : MigrationFollower.tracking(started, view, this::getMigration);
      if (stopWhenFinal && follower.allFinal()) {
        // Nothing left to wait for (e.g. a retry with the same idempotency key
        // after the migrations finished): no stream at all.
        return new Followed(follower, true);
      }
      try (ServerStream<WatchMigrationResponse> stream =
          ServerStream.open(connection().migrationStreams()::watchMigration, request, interruptMessage)) {
        return new Followed(follower, follower.follow(stream, stopWhenFinal));
      }
    }
  }

  /**
   * Turns a finished follow into the exit code: a stream that ended before
   * every migration was final is a failure (the outcome is unknown); otherwise
   * the migrations' outcome decides. Table output also gets a one-line tally
   * when several migrations were followed.
   */
  protected int finish(Followed followed, String watchAgain) {
    if (!followed.allFinal()) {
      List<String> open = followed.follower().unfinished();
      err().println(open.isEmpty()
          ? "silo: the server ended the watch before any migration appeared"
          : "silo: the server ended the watch before every migration was final (still open: " + String.join(", ", open) + ")");
      err().println("silo: hint: watch again with '" + watchAgain + "'");
      err().flush();
      return FAILED;
    }
    var migrations = followed.follower().migrations();
    if (migrations.size() > 1) {
      long clean = migrations.stream().filter(MigrationText::isClean).count();
      printer().note(migrations.size() + " migrations final: " + clean + " completed cleanly, "
          + (migrations.size() - clean) + " not");
    }
    return MigrationFollower.outcome(migrations, err());
  }

  private Migration getMigration(String id) {
    return connection().migrations().getMigration(GetMigrationRequest.newBuilder().setMigrationId(id).build()).getMigration();
  }
}
