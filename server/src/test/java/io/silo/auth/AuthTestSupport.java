package io.silo.auth;

import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationState;
import io.silo.jobs.MigrationFixture;
import java.time.Duration;
import java.util.List;
import java.util.Set;

/** Tokens, their configuration entries and token-carrying channels shared by the authentication tests. */
final class AuthTestSupport {

  static final String ADMIN = "admin-token-for-tests-0001";
  static final String OPERATOR = "operator-token-for-tests-0002";
  static final String VIEWER = "viewer-token-for-tests-0003";
  /** An operator limited to tenant {@link #OWN}. */
  static final String SCOPED = "scoped-operator-token-0004";
  static final String OWN = "acme-co";
  static final String OTHER = "globex-co";

  /** The auth.tokens entries for the tokens above, as hashes only. */
  static final List<String> TOKENS = List.of(
      "root:admin:" + TokenRegistry.hashHex(ADMIN),
      "ops:operator:" + TokenRegistry.hashHex(OPERATOR),
      "look:viewer:" + TokenRegistry.hashHex(VIEWER),
      "acme-ops:operator:" + OWN + ":" + TokenRegistry.hashHex(SCOPED));

  private static final Set<MigrationState> FINAL = Set.of(MigrationState.MIGRATION_STATE_COMPLETED,
      MigrationState.MIGRATION_STATE_VERIFY_FAILED, MigrationState.MIGRATION_STATE_FAILED,
      MigrationState.MIGRATION_STATE_CANCELLED, MigrationState.MIGRATION_STATE_ROLLED_BACK);

  private AuthTestSupport() {
  }

  /** Polls the migration as admin until it reaches a final state. */
  static Migration awaitFinal(Channel channel, String id) throws InterruptedException {
    return MigrationFixture.await(as(channel, ADMIN), id, Duration.ofSeconds(120), m -> FINAL.contains(m.getState()),
        "a final state");
  }

  /** {@code channel} sending {@code authorization: Bearer token}, or nothing when {@code token} is null. */
  static Channel as(Channel channel, String token) {
    if (token == null) {
      return channel;
    }
    Metadata headers = new Metadata();
    headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
    return ClientInterceptors.intercept(channel, MetadataUtils.newAttachHeadersInterceptor(headers));
  }

  /** The status a call ends with: OK when it returns, else its error status. */
  static Status statusOf(Runnable call) {
    try {
      call.run();
      return Status.OK;
    } catch (StatusRuntimeException e) {
      return e.getStatus();
    }
  }
}
