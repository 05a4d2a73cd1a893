package io.silo.auth;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.silo.SiloServer;
import io.silo.config.ConfigException;
import io.silo.config.SiloConfig;
import io.vertx.core.Vertx;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Tokens are configured as hashes only, matched exactly, and a server without any refuses to start. */
class AccessConfigurationTest {

  private static AccessControl access(List<String> tokens) {
    return AccessControl.from(SiloConfig.of(Map.of("auth.tokens", tokens)));
  }

  @Test
  void aTokenIsRecognisedByItsHashWithItsRoleAndTenant() {
    AccessControl access = access(AuthTestSupport.TOKENS);
    assertThat(access.principal("Bearer " + AuthTestSupport.SCOPED)).contains(
        new Principal("acme-ops", Role.OPERATOR, AuthTestSupport.OWN));
    assertThat(access.principal("bearer " + AuthTestSupport.ADMIN)).contains(new Principal("root", Role.ADMIN, null));
    assertThat(access.principal("Bearer " + AuthTestSupport.ADMIN + "x")).isEmpty();
    assertThat(access.principal(AuthTestSupport.ADMIN)).as("the Bearer scheme is required").isEmpty();
    assertThat(access.principal("Bearer ")).isEmpty();
    assertThat(access.principal(null)).isEmpty();
  }

  @Test
  void aPlaintextTokenInPlaceOfAHashIsRefusedWithoutEchoingIt() {
    assertThatThrownBy(() -> access(List.of("ci:admin:my-plain-secret-token")))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("auth.tokens[0] (ci)").hasMessageContaining("SHA-256")
        .hasMessageNotContaining("my-plain-secret-token");
  }

  @Test
  void malformedEntriesAreRefusedNamingTheEntry() {
    String hash = TokenRegistry.hashHex("t");
    assertThatThrownBy(() -> access(List.of("ci:root:" + hash))).hasMessageContaining("viewer, operator or admin");
    assertThatThrownBy(() -> access(List.of("ci:viewer:Not_A_Slug:" + hash))).hasMessageContaining("tenant");
    assertThatThrownBy(() -> access(List.of("a:viewer:" + hash, "a:admin:" + TokenRegistry.hashHex("u"))))
        .hasMessageContaining("auth.tokens[1] (a)").hasMessageContaining("name");
    assertThatThrownBy(() -> access(List.of("a:viewer:" + hash, "b:admin:" + hash)))
        .hasMessageContaining("configured twice");
  }

  @Test
  void rolesIncludeTheRolesBelowThem() {
    AccessControl access = access(AuthTestSupport.TOKENS);
    String viewer = "Bearer " + AuthTestSupport.VIEWER;
    assertThat(access.decide("silo.v1.TenantService/ListTenants", viewer).allowed()).isTrue();
    assertThat(access.decide("silo.v1.MigrationService/StartMigration", viewer).refusal())
        .isEqualTo(AccessControl.Refusal.PERMISSION_DENIED);
    assertThat(access.decide("silo.v1.MigrationService/StartMigration", "Bearer " + AuthTestSupport.OPERATOR)
        .allowed()).isTrue();
    assertThat(access.decide("silo.v1.MigrationService/PurgeSource", "Bearer " + AuthTestSupport.OPERATOR)
        .refusal()).isEqualTo(AccessControl.Refusal.PERMISSION_DENIED);
    assertThat(access.decide("silo.v1.NewService/Anything", "Bearer " + AuthTestSupport.OPERATOR).refusal())
        .as("an RPC nobody classified is admin-only").isEqualTo(AccessControl.Refusal.PERMISSION_DENIED);
    assertThat(access.decide("grpc.health.v1.Health/Check", null).allowed()).isTrue();
    assertThat(access.decide("grpc.reflection.v1.ServerReflection/ServerReflectionInfo", null).allowed()).isTrue();
  }

  @Test
  void reflectionAndMetricsFollowTheirSettings() {
    AccessControl strict = AccessControl.from(SiloConfig.of(Map.of("auth.tokens", AuthTestSupport.TOKENS,
        "auth.reflectionRequireToken", true)));
    assertThat(strict.decide("grpc.reflection.v1.ServerReflection/ServerReflectionInfo", null).refusal())
        .isEqualTo(AccessControl.Refusal.UNAUTHENTICATED);
    assertThat(strict.decideMetrics(null).allowed()).as("metrics need a token by default").isFalse();
    AccessControl open = AccessControl.from(SiloConfig.of(Map.of("auth.tokens", AuthTestSupport.TOKENS,
        "auth.metricsRequireToken", false)));
    assertThat(open.decideMetrics(null).allowed()).isTrue();
  }

  @Test
  void aServerWithoutTokensRefusesToStartUnlessAuthenticationIsExplicitlyDisabled() throws Exception {
    Vertx vertx = Vertx.vertx();
    try {
      assertThatThrownBy(() -> SiloServer.start(vertx, SiloConfig.of(Map.of("grpc.port", 0)))
          .toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS))
          .isInstanceOf(ExecutionException.class)
          .hasRootCauseInstanceOf(ConfigException.class)
          .rootCause().hasMessageContaining("auth.tokens").hasMessageContaining("auth.disabled");
      assertThat(AccessControl.from(SiloConfig.of(Map.of("auth.disabled", true))).decide(
          "silo.v1.KeyService/ShredTenantKey", null).principal()).isEqualTo(Principal.UNRESTRICTED);
    } finally {
      vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }
}
