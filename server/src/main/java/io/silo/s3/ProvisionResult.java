package io.silo.s3;

/**
 * The tenant bucket after {@link BucketProvisioner#ensure}: its name, which naming attempt produced it (-1 for a
 * recorded name this namer would not produce), whether this call created it (false when it existed: a re-run, or
 * adopted after a crash), and the controls' report.
 */
public record ProvisionResult(String bucket, int attempt, boolean created, BucketReport report) {
}
