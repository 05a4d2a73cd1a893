package io.silo.s3;

import io.vertx.core.Future;

/**
 * Resolves and preflights the AWS KMS key of an SSE-KMS tenant bucket; the keys capability supplies it when an aws
 * KMS provider is configured.
 */
@FunctionalInterface
public interface SseKmsKeys {

  /** The {@code kmsKeyId} that asks for the tenant's own CMK ({@code alias/silo/tenant-<slug>}) instead of one key. */
  String TENANT_KEY = "tenant";

  /**
   * The ARN of {@code kmsKeyId} in {@code region} (for {@value #TENANT_KEY}: the tenant's CMK, created first when
   * {@code create} and it is missing), after checking that it is enabled, symmetric and for encryption; fails with
   * FAILED_PRECONDITION naming the problem otherwise.
   */
  Future<String> resolve(String tenant, long tenantId, String kmsKeyId, String region, boolean create);
}
