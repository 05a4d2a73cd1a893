package io.silo.jobs;

/**
 * The stages of a migration job in the order it runs them. {@code KEYS}, {@code MONGO} and {@code S3} are work
 * phases (plug-ins); {@code VERIFY} checks every phase that ran and {@code DONE} means nothing is left. The same names
 * are in the {@code silo.migrations.phase} CHECK constraint and in the proto enum {@code MigrationPhase}.
 */
public enum PhaseName {
  KEYS, MONGO, S3, VERIFY, DONE;

  /** The definition's JSON key for this phase's part: {@code "mongo"}, {@code "s3"}. */
  public String key() {
    return name().toLowerCase(java.util.Locale.ROOT);
  }
}
