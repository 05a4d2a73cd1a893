package io.silo.s3;

/** What became of one {@link BucketControl} on one bucket. */
public enum ControlState {
    /** Applied, read back, and the read-back equals what was asked for. */
    APPLIED_VERIFIED,
    /**
     * Nothing was asked for, by configuration (no log bucket, no browser origins). Listed so the report shows it;
     * strict mode accepts it because it is the operator's choice, not the endpoint's.
     */
    NOT_CONFIGURED,
    /** The endpoint refused the call as unknown (501, 405, or a 400 NotImplemented/InvalidArgument). */
    UNSUPPORTED_BY_ENDPOINT,
    /** The endpoint accepted the setting but reads back something else. */
    MISMATCH,
    /** Any other error (permissions, network after retries, a malformed answer). */
    FAILED;

    /** Whether strict mode accepts a bucket with a control in this state. */
    public boolean acceptableInStrictMode() {
        return this == APPLIED_VERIFIED || this == NOT_CONFIGURED;
    }
}
