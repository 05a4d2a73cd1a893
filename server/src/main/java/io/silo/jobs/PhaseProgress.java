package io.silo.jobs;

import io.vertx.core.json.JsonObject;
import java.time.OffsetDateTime;

/** One phase's counters and checkpoint within a migration, as {@code silo.migration_phases} stores them. */
public record PhaseProgress(PhaseName phase, long total, long totalBytes, long done, long failed, long bytes,
                            String checkpoint, OffsetDateTime startedAt, OffsetDateTime endedAt, String detail) {

  static PhaseProgress fromJson(JsonObject j) {
    return new PhaseProgress(PhaseName.valueOf(j.getString("phase")), j.getLong("total", 0L),
        j.getLong("total_bytes", 0L), j.getLong("done", 0L), j.getLong("failed", 0L), j.getLong("bytes", 0L),
        j.getString("checkpoint"), time(j.getString("started_at")), time(j.getString("ended_at")),
        j.getString("detail"));
  }

  private static OffsetDateTime time(String text) {
    return text == null ? null : OffsetDateTime.parse(text);
  }

  /** Items not done or failed yet (0 when the total is unknown). */
  public long left() {
    return Math.max(0, total - done - failed);
  }
}
