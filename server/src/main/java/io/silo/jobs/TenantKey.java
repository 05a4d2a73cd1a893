package io.silo.jobs;

import io.vertx.core.Future;
import java.util.UUID;
import java.util.function.Supplier;

/**
 * The data key a run is bound to, the KMS provider wrapping it ({@code local}, {@code aws:prod}, ...; null when not
 * known) and the KMS budget for its master key: {@code kmsPermit} is taken before each KMS request,
 * {@code onThrottled}/{@code onSuccess} feed the budget's rate back.
 */
public record TenantKey(UUID keyId, String provider, Supplier<Future<Void>> kmsPermit, Runnable onThrottled,
                        Runnable onSuccess) {

  public TenantKey(UUID keyId, Supplier<Future<Void>> kmsPermit) {
    this(keyId, null, kmsPermit, () -> { }, () -> { });
  }
}
