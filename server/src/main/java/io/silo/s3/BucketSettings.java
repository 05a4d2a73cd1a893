package io.silo.s3;

import java.util.List;
import java.util.Objects;
import software.amazon.awssdk.regions.Region;

/**
 * What every tenant bucket should look like, from configuration.
 *
 * @param region where buckets are created; outside us-east-1 CreateBucket carries a LocationConstraint
 * @param mode STRICT fails a bucket with any control not verified; DEV only warns
 * @param encryption the default encryption
 * @param corsOrigins browser origins allowed to upload directly (empty: no CORS rule, reported NOT_CONFIGURED)
 * @param logBucket where server access logs go, or null for none (reported NOT_CONFIGURED)
 * @param logPrefix prefix of the log objects; the bucket name and a slash are appended
 * @param maxNameAttempts how many names to try when others already own them
 */
public record BucketSettings(Region region, Mode mode, Encryption encryption, List<String> corsOrigins,
                             String logBucket, String logPrefix, int maxNameAttempts) {

    /** How a control that is not verified is treated. */
    public enum Mode {
        /** Any control not APPLIED_VERIFIED (or NOT_CONFIGURED) fails the bucket: the default outside dev. */
        STRICT,
        /** Such controls are logged as warnings and listed in the report. */
        DEV
    }

    /** Default bucket encryption: SSE-S3 (AES256), or SSE-KMS with a key id and an S3 bucket key. */
    public record Encryption(String algorithm, String kmsKeyId) {

        public static final String AES256 = "AES256";
        public static final String AWS_KMS = "aws:kms";

        public Encryption {
            Objects.requireNonNull(algorithm, "algorithm");
            if (AES256.equals(algorithm) && kmsKeyId != null) {
                throw new IllegalArgumentException("AES256 takes no KMS key id");
            }
            if (AWS_KMS.equals(algorithm) && (kmsKeyId == null || kmsKeyId.isBlank())) {
                throw new IllegalArgumentException("aws:kms needs a KMS key id");
            }
            if (!AES256.equals(algorithm) && !AWS_KMS.equals(algorithm)) {
                throw new IllegalArgumentException("encryption must be AES256 or aws:kms: " + algorithm);
            }
        }

        /** SSE-S3. */
        public static Encryption aes256() {
            return new Encryption(AES256, null);
        }

        /** SSE-KMS with {@code keyId} (id, alias or ARN) and an S3 bucket key, which saves ~99 % of KMS calls. */
        public static Encryption kms(String keyId) {
            return new Encryption(AWS_KMS, keyId);
        }

        public boolean isKms() {
            return AWS_KMS.equals(algorithm);
        }
    }

    public BucketSettings {
        Objects.requireNonNull(region, "region");
        Objects.requireNonNull(mode, "mode");
        Objects.requireNonNull(encryption, "encryption");
        corsOrigins = corsOrigins == null ? List.of() : List.copyOf(corsOrigins);
        logPrefix = logPrefix == null ? "s3-access/" : logPrefix;
        if (logBucket != null && !BucketNamer.violations(logBucket).isEmpty()) {
            throw new IllegalArgumentException("log bucket name is invalid: " + BucketNamer.violations(logBucket));
        }
        if (maxNameAttempts < 1) {
            throw new IllegalArgumentException("maxNameAttempts must be >= 1");
        }
    }

    /** Strict, AES256, no CORS origins, no access logging, five name attempts. */
    public static BucketSettings strict(Region region) {
        return new BucketSettings(region, Mode.STRICT, Encryption.aes256(), List.of(), null, null, 5);
    }

    public BucketSettings withMode(Mode newMode) {
        return new BucketSettings(region, newMode, encryption, corsOrigins, logBucket, logPrefix, maxNameAttempts);
    }

    public BucketSettings withEncryption(Encryption newEncryption) {
        return new BucketSettings(region, mode, newEncryption, corsOrigins, logBucket, logPrefix, maxNameAttempts);
    }

    public BucketSettings withCorsOrigins(List<String> origins) {
        return new BucketSettings(region, mode, encryption, origins, logBucket, logPrefix, maxNameAttempts);
    }

    public BucketSettings withLogging(String bucket, String prefix) {
        return new BucketSettings(region, mode, encryption, corsOrigins, bucket, prefix, maxNameAttempts);
    }
}
