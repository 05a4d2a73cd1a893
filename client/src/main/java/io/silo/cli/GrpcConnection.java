package io.silo.cli;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ChannelCredentials;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.TlsChannelCredentials;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.stub.AbstractStub;
import io.silo.api.v1.KeyServiceGrpc;
import io.silo.api.v1.MigrationServiceGrpc;
import io.silo.api.v1.TenantServiceGrpc;
import io.silo.api.v1.UsageServiceGrpc;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/** One gRPC channel to the Silo server, built from the global options, handing out stubs with the call deadline applied. */
public final class GrpcConnection implements AutoCloseable {

  /** The resolved global options a connection needs. */
  public record Settings(ServerAddress address, boolean tls, String token, Duration timeout, TlsFiles files) {
    /** Settings without CA, client certificate or key files. */
    public Settings(ServerAddress address, boolean tls, String token, Duration timeout) {
      this(address, tls, token, timeout, TlsFiles.NONE);
    }

    @Override
    public String toString() {
      // Records print every component by default; the token must never leak
      // into a log line or error message, so it is left out.
      return "Settings[address=" + address + ", tls=" + tls + ", timeout=" + timeout + ", " + files + "]";
    }
  }

  /**
   * PEM files for TLS: a CA bundle to trust instead of the JVM's, and a client certificate with its key for servers
   * that require mutual TLS. Any of them may be null.
   */
  public record TlsFiles(java.io.File caFile, java.io.File certFile, java.io.File keyFile) {
    /** No files: trust the JVM's CAs and present no client certificate. */
    public static final TlsFiles NONE = new TlsFiles(null, null, null);

    ChannelCredentials credentials() throws java.io.IOException {
      TlsChannelCredentials.Builder builder = TlsChannelCredentials.newBuilder();
      if (caFile != null) {
        builder.trustManager(caFile);
      }
      if (certFile != null) {
        builder.keyManager(certFile, keyFile);
      }
      return builder.build();
    }
  }

  static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  private final Settings settings;
  private final ManagedChannel channel;

  GrpcConnection(Settings settings) throws java.io.IOException {
    this.settings = settings;
    ChannelCredentials credentials =
        settings.tls() ? settings.files().credentials() : InsecureChannelCredentials.create();
    var builder =
        Grpc.newChannelBuilderForAddress(settings.address().host(), settings.address().port(), credentials)
            .userAgent("silo-cli");
    if (settings.token() != null && !settings.token().isBlank()) {
      builder.intercept(new BearerToken(settings.token().trim()));
    }
    this.channel = builder.build();
  }

  /** The address this connection talks to, for error hints. */
  public ServerAddress address() {
    return settings.address();
  }

  /** The per-call deadline, for error hints. */
  public Duration timeout() {
    return settings.timeout();
  }

  /**
   * Creates a stub with a fresh deadline of {@code --timeout}. Call it once per
   * RPC: a deadline is absolute, so a stub reused across pages would share one.
   */
  public <S extends AbstractStub<S>> S stub(Function<Channel, S> factory) {
    return factory.apply(channel).withDeadlineAfter(settings.timeout().toNanos(), TimeUnit.NANOSECONDS);
  }

  /** A TenantService stub with the call deadline applied. */
  public TenantServiceGrpc.TenantServiceBlockingStub tenants() {
    return stub(TenantServiceGrpc::newBlockingStub);
  }

  /** A KeyService stub with the call deadline applied. */
  public KeyServiceGrpc.KeyServiceBlockingStub keys() {
    return stub(KeyServiceGrpc::newBlockingStub);
  }

  /** A MigrationService stub for the unary calls, with the call deadline applied. */
  public MigrationServiceGrpc.MigrationServiceBlockingStub migrations() {
    return stub(MigrationServiceGrpc::newBlockingStub);
  }

  /**
   * A MigrationService stub for the server-streaming calls (WatchMigration,
   * VerifyTenant) without a deadline: a watch lasts as long as the migration and
   * a verify as long as the tenant's data takes, so --timeout would cut them
   * off. They end when the server finishes them or the user presses Ctrl-C.
   */
  public MigrationServiceGrpc.MigrationServiceStub migrationStreams() {
    return MigrationServiceGrpc.newStub(channel);
  }

  /** A UsageService stub with the call deadline applied. */
  public UsageServiceGrpc.UsageServiceBlockingStub usage() {
    return stub(UsageServiceGrpc::newBlockingStub);
  }

  /** A grpc.health.v1 stub with the call deadline applied. */
  public HealthGrpc.HealthBlockingStub health() {
    return stub(HealthGrpc::newBlockingStub);
  }

  @Override
  public void close() {
    channel.shutdownNow();
    try {
      // Bounded wait: the CLI is about to exit and must not hang on a dead peer.
      channel.awaitTermination(2, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Adds {@code authorization: Bearer <token>} to every call. */
  private static final class BearerToken implements ClientInterceptor {
    private final String header;

    BearerToken(String token) {
      this.header = "Bearer " + token;
    }

    @Override
    public <ReqT, RespT> ClientCall<ReqT, RespT> interceptCall(
        MethodDescriptor<ReqT, RespT> method, CallOptions callOptions, Channel next) {
      return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method, callOptions)) {
        @Override
        public void start(Listener<RespT> responseListener, Metadata headers) {
          headers.put(AUTHORIZATION, header);
          super.start(responseListener, headers);
        }
      };
    }
  }
}
