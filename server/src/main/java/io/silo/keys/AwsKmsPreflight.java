package io.silo.keys;

import io.silo.SiloException;
import io.vertx.core.Future;
import java.util.Optional;
import software.amazon.awssdk.services.kms.model.KeyMetadata;
import software.amazon.awssdk.services.kms.model.KeySpec;
import software.amazon.awssdk.services.kms.model.KeyState;
import software.amazon.awssdk.services.kms.model.KeyUsageType;

/**
 * Checks an AWS KMS key before Silo wraps a tenant's data key with it (every rewrap or create to aws) and before the
 * S3 phase encrypts a bucket with it (SSE-KMS): it exists, is enabled, is symmetric, is for encryption, lives in the
 * region asked for and is not pending deletion. A key that fails is a FAILED_PRECONDITION naming the problem, found
 * by one DescribeKey before anything is changed.
 */
public final class AwsKmsPreflight {

  private final AwsKms kms;

  public AwsKmsPreflight(AwsKms kms) {
    this.kms = kms;
  }

  /**
   * For SSE-KMS buckets: checks a key id, key ARN, alias name or alias ARN in {@code region} through the default aws
   * provider ({@code aws}, else the first {@code aws:<name>}) and the configured endpoint. Completes with the key's
   * ARN, or fails with a FAILED_PRECONDITION SiloException naming the problem.
   */
  public Future<String> check(String keyIdOrAliasOrArn, String region) {
    Optional<String> provider = kms.providers().defaultAwsProvider();
    if (provider.isEmpty()) {
      return Future.failedFuture(SiloException.precondition("no aws KMS provider is configured (kms.aws.region or "
          + "kms.aws.named), so AWS KMS key '" + keyIdOrAliasOrArn + "' cannot be checked"));
    }
    return check(new AwsLocation(provider.get(), region, kms.providers().awsEndpoint()), keyIdOrAliasOrArn);
  }

  /** Checks a key at one provider, region and endpoint; completes with its ARN. */
  public Future<String> check(AwsLocation at, String keyIdOrAliasOrArn) {
    String key = keyIdOrAliasOrArn == null ? "" : keyIdOrAliasOrArn.trim();
    if (key.isEmpty()) {
      return Future.failedFuture(SiloException.precondition("no AWS KMS key was named"));
    }
    // An ARN says its region: a mismatch needs no call (and AWS would answer it with a less helpful error).
    Optional<String> arnRegion = AwsKms.arnRegion(key);
    if (arnRegion.isPresent() && !arnRegion.get().equals(at.region())) {
      return Future.failedFuture(SiloException.precondition("AWS KMS key '" + key + "' is in region "
          + arnRegion.get() + ", not in " + at.region() + " as requested"));
    }
    String what = "checking AWS KMS key '" + key + "' (" + at + ")";
    return kms.describeKey(at, key, what)
        .recover(failure -> Future.failedFuture(refusal(failure, key, at)))
        .compose(found -> {
          if (found.isEmpty()) {
            return Future.failedFuture(SiloException.precondition("AWS KMS key '" + key + "' does not exist in "
                + at.region() + " (provider " + at.provider() + ")"));
          }
          String problem = problem(found.get(), at.region());
          return problem == null ? Future.succeededFuture(found.get().arn())
              : Future.failedFuture(SiloException.precondition("AWS KMS key '" + key + "'"
                  + (key.equals(found.get().arn()) ? "" : " (" + found.get().arn() + ")") + " " + problem));
        });
  }

  /** What makes a key unfit for wrapping data keys, or null when it is fit. */
  static String problem(KeyMetadata key, String region) {
    if (key.keyState() == KeyState.PENDING_DELETION || key.keyState() == KeyState.PENDING_REPLICA_DELETION) {
      return "is pending deletion" + (key.deletionDate() == null ? "" : " (scheduled for " + key.deletionDate() + ")")
          + "; cancel the deletion or choose another key";
    }
    if (!Boolean.TRUE.equals(key.enabled()) || key.keyState() == KeyState.DISABLED) {
      return "is disabled; enable it or choose another key";
    }
    if (key.keyState() != KeyState.ENABLED) {
      return "is in state " + key.keyStateAsString() + ", not Enabled";
    }
    if (key.keySpec() != KeySpec.SYMMETRIC_DEFAULT) {
      return "has key spec " + key.keySpecAsString() + "; CSFLE needs SYMMETRIC_DEFAULT (a symmetric AES key)";
    }
    if (key.keyUsage() != KeyUsageType.ENCRYPT_DECRYPT) {
      return "has key usage " + key.keyUsageAsString() + "; CSFLE needs ENCRYPT_DECRYPT";
    }
    Optional<String> actual = AwsKms.arnRegion(key.arn());
    if (actual.isPresent() && !actual.get().equals(region)) {
      return "is in region " + actual.get() + ", not in " + region + " as requested (does the endpoint of the "
          + "provider serve another region?)";
    }
    return null;
  }

  /** Failures of the DescribeKey itself that are answers about the key rather than an outage. */
  private static Throwable refusal(Throwable failure, String key, AwsLocation at) {
    String code = AwsKms.errorCode(failure);
    return switch (code) {
      case "AccessDeniedException" -> SiloException.precondition("the credentials of provider " + at.provider()
          + " may not describe AWS KMS key '" + key + "' in " + at.region() + " (AccessDeniedException)");
      case "InvalidArnException", "ValidationException" -> SiloException.precondition("'" + key
          + "' is not a valid AWS KMS key id, key ARN or alias (" + AwsKms.describe(failure) + ")");
      default -> failure;
    };
  }
}
