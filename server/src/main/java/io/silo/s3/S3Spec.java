package io.silo.s3;

import io.silo.SiloException;
import io.silo.config.SiloConfig;
import io.silo.jobs.PhaseSpec;
import io.vertx.core.json.JsonObject;
import java.util.List;
import java.util.Set;

/**
 * The S3 phase's part of a migration definition: where documents are copied from, how tenant buckets are named and
 * encrypted, and how hard the copy pushes. Stored as JSON with every field, so a job keeps its plan when the
 * server's {@code s3.*} defaults change later.
 *
 * @param sharedBucket the pooled bucket documents move out of (its name is also in each documents row; rows that
 *     name another bucket are copied from where their row says)
 * @param bucketPrefix prefix of tenant bucket names ({@link BucketNamer})
 * @param encryption {@code AES256} or {@code aws:kms}: the buckets' default encryption and every copy's
 * @param kmsKeyId the KMS key for {@code aws:kms}, else null
 * @param bucketKey whether SSE-KMS uses an S3 bucket key (then copies make almost no KMS calls of their own)
 * @param copyConcurrency the most copy requests in flight (the adaptive window's ceiling); HeadObject lookups have
 *     a window of the same size beside it, as rclone's {@code --checkers} work beside its {@code --transfers}
 * @param batchSize documents per batch, checkpoint and PostgreSQL transaction
 * @param multipartThresholdBytes objects larger than this are copied with UploadPartCopy (CopyObject stops at 5 GiB)
 * @param partSizeBytes the part size of a multipart copy (S3: 5 MiB to 5 GiB)
 * @param strict whether a bucket control that is not verified fails the phase (FAILED_PRECONDITION) or only warns
 */
public record S3Spec(String sharedBucket, String bucketPrefix, String encryption, String kmsKeyId, boolean bucketKey,
                     int copyConcurrency, int batchSize, long multipartThresholdBytes, long partSizeBytes,
                     boolean strict) implements PhaseSpec {

    /** S3's smallest part (all but the last). */
    public static final long MIN_PART_BYTES = 5L * 1024 * 1024;
    /** S3's largest single CopyObject, and largest part. */
    public static final long MAX_COPY_BYTES = 5L * 1024 * 1024 * 1024;

    private static final Set<String> FIELDS = Set.of("sharedBucket", "bucketPrefix", "encryption", "kmsKeyId",
            "bucketKey", "copyConcurrency", "batchSize", "multipartThresholdBytes", "partSizeBytes", "strict");

    public S3Spec {
        List<String> bucketProblems = BucketNamer.violations(sharedBucket);
        if (!bucketProblems.isEmpty()) {
            throw SiloException.invalid("s3.sharedBucket", String.join("; ", bucketProblems));
        }
        try {
            new BucketNamer(bucketPrefix);
        } catch (IllegalArgumentException | NullPointerException e) {
            throw SiloException.invalid("s3.bucketPrefix", String.valueOf(e.getMessage()));
        }
        kmsKeyId = kmsKeyId == null || kmsKeyId.isBlank() ? null : kmsKeyId;
        try {
            new BucketSettings.Encryption(encryption, kmsKeyId);
        } catch (IllegalArgumentException | NullPointerException e) {
            throw SiloException.invalid(kmsKeyId == null && BucketSettings.Encryption.AWS_KMS.equals(encryption)
                    ? "s3.kmsKeyId" : "s3.encryption", String.valueOf(e.getMessage()));
        }
        if (copyConcurrency < 1 || copyConcurrency > 512) {
            throw SiloException.invalid("s3.copyConcurrency", "must be 1-512, got " + copyConcurrency);
        }
        if (batchSize < 1 || batchSize > 10_000) {
            throw SiloException.invalid("s3.batchSize", "must be 1-10000, got " + batchSize);
        }
        if (partSizeBytes < MIN_PART_BYTES || partSizeBytes > MAX_COPY_BYTES) {
            throw SiloException.invalid("s3.partSizeBytes", "must be 5 MiB to 5 GiB, got " + partSizeBytes);
        }
        if (multipartThresholdBytes < 1 || multipartThresholdBytes > MAX_COPY_BYTES) {
            throw SiloException.invalid("s3.multipartThresholdBytes",
                    "must be 1 byte to 5 GiB (CopyObject's limit), got " + multipartThresholdBytes);
        }
    }

    /** The server's defaults, from the {@code s3.*} settings. */
    public static S3Spec defaults(SiloConfig config) {
        String kms = config.string("s3.kmsKeyId");
        return new S3Spec(config.string("s3.sharedBucket"), config.string("s3.bucketPrefix"),
                config.string("s3.encryption"), kms.isEmpty() ? null : kms, config.bool("s3.bucketKey"),
                config.integer("s3.copyConcurrency"), config.integer("s3.batchSize"),
                config.integer("s3.multipartThresholdMb") * 1024L * 1024, config.integer("s3.partSizeMb") * 1024L * 1024,
                config.bool("s3.strict"));
    }

    /**
     * Reads a definition's {@code s3} part: fields it names override {@code defaults}, unknown fields and values of
     * the wrong type are INVALID_ARGUMENT naming the field.
     */
    public static S3Spec fromJson(JsonObject json, S3Spec defaults) {
        JsonObject j = json == null ? new JsonObject() : json;
        for (String field : j.fieldNames()) {
            if (!FIELDS.contains(field)) {
                throw SiloException.invalid("s3." + field, "unknown field (known: " + String.join(", ",
                        FIELDS.stream().sorted().toList()) + ")");
            }
        }
        return new S3Spec(
                string(j, "sharedBucket", defaults.sharedBucket()),
                string(j, "bucketPrefix", defaults.bucketPrefix()),
                string(j, "encryption", defaults.encryption()),
                j.containsKey("kmsKeyId") ? string(j, "kmsKeyId", null)
                        : j.containsKey("encryption") ? null : defaults.kmsKeyId(),
                bool(j, "bucketKey", defaults.bucketKey()),
                integer(j, "copyConcurrency", defaults.copyConcurrency()),
                integer(j, "batchSize", defaults.batchSize()),
                number(j, "multipartThresholdBytes", defaults.multipartThresholdBytes()),
                number(j, "partSizeBytes", defaults.partSizeBytes()),
                bool(j, "strict", defaults.strict()));
    }

    @Override
    public JsonObject toJson() {
        JsonObject json = new JsonObject()
                .put("sharedBucket", sharedBucket)
                .put("bucketPrefix", bucketPrefix)
                .put("encryption", encryption);
        if (kmsKeyId != null) {
            json.put("kmsKeyId", kmsKeyId);
        }
        return json.put("bucketKey", bucketKey)
                .put("copyConcurrency", copyConcurrency)
                .put("batchSize", batchSize)
                .put("multipartThresholdBytes", multipartThresholdBytes)
                .put("partSizeBytes", partSizeBytes)
                .put("strict", strict);
    }

    /** This spec with {@code kmsKeyId} replaced, e.g. by the ARN a key id, alias or {@code tenant} resolved to. */
    public S3Spec withKmsKeyId(String resolved) {
        return new S3Spec(sharedBucket, bucketPrefix, encryption, resolved, bucketKey, copyConcurrency, batchSize,
                multipartThresholdBytes, partSizeBytes, strict);
    }

    /** {@code s3://<shared bucket>}: the source, as data-audit rows and purge records name it. */
    @Override
    public String source() {
        return "s3://" + sharedBucket;
    }

    /**
     * {@code s3://<prefix>-*}: every tenant's bucket has its own name (the tenant's bucket is in
     * {@code silo.tenant_buckets}), so the target a definition names is the family of names.
     */
    @Override
    public String target() {
        return "s3://" + bucketPrefix + "-*";
    }

    /** The default encryption of tenant buckets. */
    public BucketSettings.Encryption bucketEncryption() {
        return new BucketSettings.Encryption(encryption, kmsKeyId);
    }

    public boolean kms() {
        return BucketSettings.Encryption.AWS_KMS.equals(encryption);
    }

    private static String string(JsonObject j, String field, String fallback) {
        if (!j.containsKey(field) || j.getValue(field) == null) {
            return fallback;
        }
        if (!(j.getValue(field) instanceof String s)) {
            throw SiloException.invalid("s3." + field, "must be a string");
        }
        return s;
    }

    private static boolean bool(JsonObject j, String field, boolean fallback) {
        if (!j.containsKey(field) || j.getValue(field) == null) {
            return fallback;
        }
        if (!(j.getValue(field) instanceof Boolean b)) {
            throw SiloException.invalid("s3." + field, "must be true or false");
        }
        return b;
    }

    private static int integer(JsonObject j, String field, int fallback) {
        long n = number(j, field, fallback);
        if (n < Integer.MIN_VALUE || n > Integer.MAX_VALUE) {
            throw SiloException.invalid("s3." + field, "out of range: " + n);
        }
        return (int) n;
    }

    private static long number(JsonObject j, String field, long fallback) {
        if (!j.containsKey(field) || j.getValue(field) == null) {
            return fallback;
        }
        Object v = j.getValue(field);
        if (!(v instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue())
                || Math.abs(n.doubleValue()) > Long.MAX_VALUE / 2.0) {
            throw SiloException.invalid("s3." + field, "must be an integer");
        }
        return n.longValue();
    }
}
