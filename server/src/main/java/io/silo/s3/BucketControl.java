package io.silo.s3;

/** The settings every tenant bucket gets, each applied and then read back by {@link BucketProvisioner}. */
public enum BucketControl {
    /** All four public access block flags true. */
    PUBLIC_ACCESS_BLOCK,
    /** Default encryption: AES256, or aws:kms with a key id and an S3 bucket key. */
    ENCRYPTION,
    /** Versioning Enabled. */
    VERSIONING,
    /** Noncurrent versions 30 d, documents/ to STANDARD_IA at 90 d, temp/ 1 d, incomplete uploads 7 d. */
    LIFECYCLE,
    /** Browser uploads from the configured origins. */
    CORS,
    /** Deny non-TLS access and uploads without the bucket's server-side encryption. */
    POLICY,
    /** Server access logs to the configured log bucket. */
    LOGGING,
    /** Tenant and cost-centre tags, for cost allocation. */
    TAGGING
}
