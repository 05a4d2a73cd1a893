package io.silo.auth;

import static io.silo.auth.AuthTestSupport.ADMIN;
import static io.silo.auth.AuthTestSupport.as;
import static io.silo.auth.AuthTestSupport.statusOf;
import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.TlsChannelCredentials;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthGrpc;
import io.silo.SiloServer;
import io.silo.TestServer;
import io.silo.api.v1.GetTenantRequest;
import io.silo.api.v1.ListTenantsRequest;
import io.silo.api.v1.RegisterTenantRequest;
import io.silo.api.v1.TenantServiceGrpc;
import io.silo.cli.SiloCli;
import io.silo.config.SiloConfig;
import io.vertx.core.Vertx;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import picocli.CommandLine;

/**
 * TLS and mutual TLS on Silo's port with certificates made by openssl: grpc-java and the silo CLI complete the
 * handshake, a plaintext client gets nothing, client certificate subjects map to roles and tenants, and start-up
 * refuses a private key others can read and plaintext on a non-loopback address without grpc.insecure.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TransportSecurityTest {

  private static final String OPS_SUBJECT = "CN=ops-bot,O=Silo Test";

  private OpensslPki pki;
  private TestServer tls;
  private TestServer mutual;

  @BeforeAll
  void start() throws Exception {
    pki = new OpensslPki(Files.createTempDirectory("silo-tls"))
        .client("ops", "/O=Silo Test/CN=ops-bot")
        .client("acme", "/CN=acme-bot")
        .client("stranger", "/CN=stranger");
    Map<String, Object> serverTls = Map.of("auth.tokens", AuthTestSupport.TOKENS,
        "grpc.tls.certFile", pki.cert("server").toString(), "grpc.tls.keyFile", pki.key("server").toString());
    tls = TestServer.start(serverTls);
    Map<String, Object> withClients = new HashMap<>(serverTls);
    withClients.put("grpc.tls.caFile", pki.ca().toString());
    // Written in another spacing and order of case than the certificate: subjects compare in canonical form.
    withClients.put("auth.clientCertificates", List.of("cn=ops-bot, o=Silo Test:viewer",
        "CN=acme-bot:operator:" + AuthTestSupport.OWN));
    mutual = TestServer.start(withClients);
  }

  @AfterAll
  void stop() throws Exception {
    for (TestServer server : new TestServer[] {tls, mutual}) {
      if (server != null) {
        server.close();
      }
    }
  }

  @Test
  void grpcJavaTrustingTheCaCallsOverTlsWhileAPlaintextClientGetsNoAnswer() throws Exception {
    ManagedChannel channel = channel(tls, TlsChannelCredentials.newBuilder().trustManager(pki.ca().toFile()).build());
    try {
      assertThat(TenantServiceGrpc.newBlockingStub(as(channel, ADMIN)).listTenants(
          ListTenantsRequest.getDefaultInstance()).getTenantsCount()).isZero();
    } finally {
      channel.shutdownNow();
    }
    // TestServer's own channel speaks plaintext HTTP/2 to the TLS port.
    Status plaintext = statusOf(() -> HealthGrpc.newBlockingStub(tls.channel).withDeadlineAfter(10, TimeUnit.SECONDS)
        .check(HealthCheckRequest.getDefaultInstance()));
    assertThat(plaintext.getCode()).as("plaintext to a TLS port: %s", plaintext).isEqualTo(Status.Code.UNAVAILABLE);
  }

  @Test
  void clientCertificateSubjectsMapToTheirRoleAndTenant() throws Exception {
    ManagedChannel ops = channel(mutual, clientCredentials("ops"));
    ManagedChannel acme = channel(mutual, clientCredentials("acme"));
    try {
      var opsTenants = TenantServiceGrpc.newBlockingStub(ops);
      assertThat(statusOf(() -> opsTenants.listTenants(ListTenantsRequest.getDefaultInstance())).getCode())
          .as("a viewer certificate lists tenants without a token").isEqualTo(Status.Code.OK);
      Status register = statusOf(() -> opsTenants.registerTenant(RegisterTenantRequest.newBuilder()
          .setSlug("new-co").setDisplayName("New").build()));
      assertThat(register.getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
      assertThat(register.getDescription()).contains("needs the admin role")
          .contains("client certificate '" + OPS_SUBJECT + "' has viewer");

      Status other = statusOf(() -> TenantServiceGrpc.newBlockingStub(acme).getTenant(GetTenantRequest.newBuilder()
          .setSlug(AuthTestSupport.OTHER).build()));
      assertThat(other.getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
      assertThat(other.getDescription()).contains("client certificate 'CN=acme-bot' is limited to tenant '"
          + AuthTestSupport.OWN + "'");
    } finally {
      ops.shutdownNow();
      acme.shutdownNow();
    }
  }

  @Test
  void anUnmappedCertificateNeedsATokenAndNoCertificateGetsNoHandshake() throws Exception {
    ManagedChannel stranger = channel(mutual, clientCredentials("stranger"));
    ManagedChannel none = channel(mutual, TlsChannelCredentials.newBuilder().trustManager(pki.ca().toFile()).build());
    try {
      Status unmapped = statusOf(() -> TenantServiceGrpc.newBlockingStub(stranger).listTenants(
          ListTenantsRequest.getDefaultInstance()));
      assertThat(unmapped.getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
      assertThat(unmapped.getDescription()).contains("client certificate 'CN=stranger' is not mapped in"
          + " auth.clientCertificates");
      assertThat(statusOf(() -> TenantServiceGrpc.newBlockingStub(as(stranger, ADMIN)).listTenants(
          ListTenantsRequest.getDefaultInstance())).getCode()).as("a token decides when one is sent")
          .isEqualTo(Status.Code.OK);
      Status noCertificate = statusOf(() -> HealthGrpc.newBlockingStub(none).withDeadlineAfter(10, TimeUnit.SECONDS)
          .check(HealthCheckRequest.getDefaultInstance()));
      assertThat(noCertificate.getCode()).as("grpc.tls.clientAuth defaults to required: %s", noCertificate)
          .isEqualTo(Status.Code.UNAVAILABLE);
    } finally {
      stranger.shutdownNow();
      none.shutdownNow();
    }
  }

  @Test
  void theCliTrustsACaFileAndPresentsItsClientCertificate() {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cli = SiloCli.commandLine();
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    int code = cli.execute("--server", "localhost:" + mutual.server.port(), "--ca-file", pki.ca().toString(),
        "--cert-file", pki.cert("ops").toString(), "--key-file", pki.key("ops").toString(), "--token", "",
        "-o", "json", "tenants", "list");
    assertThat(code).as("stdout %s, stderr %s", out, err).isZero();
    assertThat(out.toString()).contains("tenants");

    StringWriter refused = new StringWriter();
    cli = SiloCli.commandLine();
    cli.setOut(new PrintWriter(new StringWriter(), true));
    cli.setErr(new PrintWriter(refused, true));
    int withoutCertificate = cli.execute("--server", "localhost:" + mutual.server.port(), "--ca-file",
        pki.ca().toString(), "--token", "", "tenants", "list");
    assertThat(withoutCertificate).as("no client certificate: %s", refused).isEqualTo(1);
  }

  @Test
  void aPrivateKeyOthersCanReadStopsStartUpNamingTheFile() throws Exception {
    Path open = pki.dir.resolve("readable.key");
    Files.copy(pki.key("server"), open);
    Files.setPosixFilePermissions(open, PosixFilePermissions.fromString("rw-r--r--"));
    String failure = startupFailure(Map.of("grpc.tls.certFile", pki.cert("server").toString(),
        "grpc.tls.keyFile", open.toString()));
    assertThat(failure).contains("grpc.tls.keyFile").contains(open.toString()).contains("chmod 600");
  }

  @Test
  void plaintextOnANonLoopbackAddressNeedsGrpcInsecure() throws Exception {
    assertThat(SiloConfig.of(Map.of()).string("grpc.host")).as("the default binds loopback").isEqualTo("127.0.0.1");
    assertThat(startupFailure(Map.of("grpc.host", "0.0.0.0"))).contains("grpc.host '0.0.0.0'")
        .contains("grpc.insecure: true").contains("grpc.tls.certFile");
    try (TestServer insecure = TestServer.start(Map.of("auth.tokens", AuthTestSupport.TOKENS,
        "grpc.host", "0.0.0.0", "grpc.insecure", true))) {
      assertThat(HealthGrpc.newBlockingStub(insecure.channel).check(HealthCheckRequest.getDefaultInstance())
          .getStatus().name()).isEqualTo("SERVING");
    }
  }

  private ChannelCredentials clientCredentials(String name) throws Exception {
    return TlsChannelCredentials.newBuilder().trustManager(pki.ca().toFile())
        .keyManager(pki.cert(name).toFile(), pki.key(name).toFile()).build();
  }

  private static ManagedChannel channel(TestServer server, ChannelCredentials credentials) {
    return Grpc.newChannelBuilderForAddress("localhost", server.server.port(), credentials).build();
  }

  /** The message start-up fails with; it fails before any store is opened, so no database is needed. */
  private static String startupFailure(Map<String, Object> settings) throws Exception {
    Map<String, Object> all = new HashMap<>(settings);
    all.put("auth.tokens", AuthTestSupport.TOKENS);
    Vertx vertx = Vertx.vertx();
    try {
      SiloServer.start(vertx, SiloConfig.of(all)).toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
      throw new AssertionError("start-up succeeded with " + settings);
    } catch (ExecutionException e) {
      return e.getCause().getMessage();
    } finally {
      vertx.close();
    }
  }
}
