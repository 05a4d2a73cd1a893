package io.silo.keys;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.grpc.ClientInterceptors;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import io.silo.TestServer;
import io.silo.api.v1.KeyServiceGrpc;
import io.silo.api.v1.MasterKey;
import io.silo.api.v1.RetireMasterKeyRequest;
import io.silo.auth.TokenRegistry;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A master key may wrap many tenants' keys, so only an admin token without a tenant scope may retire one. */
class RetireMasterKeyScopeTest {

  private static final String SCOPED_ADMIN = "scoped-admin-token-for-retire-test";
  private static final String ADMIN = "admin-token-for-retire-test";

  @TempDir
  Path dir;

  @Test
  void anAdminTokenLimitedToOneTenantMayNotRetireAMasterKey() throws Exception {
    try (TestServer server = TestServer.startWithMongo(Map.of("auth.tokens", List.of(
        "acme-admin:admin:acme-co:" + TokenRegistry.hashHex(SCOPED_ADMIN),
        "root:admin:" + TokenRegistry.hashHex(ADMIN))), dir)) {
      RetireMasterKeyRequest request = RetireMasterKeyRequest.newBuilder()
          .setMasterKey(MasterKey.newBuilder().setProvider("aws").setDescriptorJson("{\"key\":\"alias/shared\"}"))
          .setPendingWindowDays(7).setConfirm("alias/shared").build();

      StatusRuntimeException scoped = catchThrowableOfType(StatusRuntimeException.class,
          () -> keys(server, SCOPED_ADMIN).retireMasterKey(request));
      assertThat(scoped.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
      assertThat(scoped.getStatus().getDescription()).contains("master_key", "limited to one tenant");

      // The unscoped admin gets past authorization; this server has no aws provider, which it then says.
      StatusRuntimeException admin = catchThrowableOfType(StatusRuntimeException.class,
          () -> keys(server, ADMIN).retireMasterKey(request));
      assertThat(admin.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
      assertThat(admin.getStatus().getDescription()).contains("master_key.provider");
    }
  }

  private static KeyServiceGrpc.KeyServiceBlockingStub keys(TestServer server, String token) {
    Metadata headers = new Metadata();
    headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
    return KeyServiceGrpc.newBlockingStub(ClientInterceptors.intercept(server.channel,
        MetadataUtils.newAttachHeadersInterceptor(headers))).withDeadlineAfter(30, TimeUnit.SECONDS);
  }
}
