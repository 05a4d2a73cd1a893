package io.silo.s3;

import java.util.List;

/**
 * The S3 phase's dry run for one tenant ({@code Phase.Estimate.detail}): the target bucket and whether it exists,
 * the work, and each bucket control's state as read back now (empty when the bucket does not exist yet: every
 * control will be applied and read back when it is created).
 *
 * @param bucket the tenant's recorded bucket, or the name the first attempt would give a new one
 * @param bucketExists whether that bucket exists now
 * @param createdBySilo whether Silo created it (rollback deletes only such buckets)
 * @param objects the tenant's documents
 * @param bytes their total size as the documents table records it
 * @param multipartObjects documents above the multipart threshold (UploadPartCopy)
 * @param alreadyCopied documents recorded as copied (a re-run checks them and copies only what changed)
 * @param sourceBucket the shared bucket
 * @param encryption the buckets' and copies' encryption, with the KMS key id for aws:kms
 * @param strict whether a control that is not verified fails the phase
 * @param controls each control's state, when the bucket exists
 */
public record S3Plan(String bucket, boolean bucketExists, boolean createdBySilo, long objects, long bytes,
                     long multipartObjects, long alreadyCopied, String sourceBucket, String encryption,
                     boolean strict, List<ControlResult> controls) {
    public S3Plan {
        controls = controls == null ? List.of() : List.copyOf(controls);
    }
}
