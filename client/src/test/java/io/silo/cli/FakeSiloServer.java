package io.silo.cli;

import com.google.protobuf.Timestamp;
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.InsecureServerCredentials;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import com.google.protobuf.Message;
import io.silo.api.v1.CreateTenantKeyRequest;
import io.silo.api.v1.CreateTenantKeyResponse;
import io.silo.api.v1.GetTenantRequest;
import io.silo.api.v1.GetTenantResponse;
import io.silo.api.v1.KeyOrigin;
import io.silo.api.v1.KeyServiceGrpc;
import io.silo.api.v1.ListTenantKeysRequest;
import io.silo.api.v1.ListTenantKeysResponse;
import io.silo.api.v1.ListTenantsRequest;
import io.silo.api.v1.ListTenantsResponse;
import io.silo.api.v1.MasterKey;
import io.silo.api.v1.RegisterTenantRequest;
import io.silo.api.v1.RegisterTenantResponse;
import io.silo.api.v1.RetireMasterKeyRequest;
import io.silo.api.v1.RetireMasterKeyResponse;
import io.silo.api.v1.RotateTenantKeyRequest;
import io.silo.api.v1.RotateTenantKeyResponse;
import io.silo.api.v1.ShredTenantKeyRequest;
import io.silo.api.v1.ShredTenantKeyResponse;
import io.silo.api.v1.Tenant;
import io.silo.api.v1.TenantCmk;
import io.silo.api.v1.TenantKey;
import io.silo.api.v1.TenantServiceGrpc;
import io.silo.api.v1.TenantStatus;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/** A real grpc-java server on a loopback port with in-memory TenantService, KeyService and MigrationService and a settable health status, recording what clients send. */
final class FakeSiloServer implements AutoCloseable {

  static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  /** A slug whose GetTenant never answers in time, to exercise --timeout. */
  static final String SLOW_SLUG = "slow-tenant";

  final TreeMap<String, Tenant> tenants = new TreeMap<>();
  final List<String> authorizationHeaders = new CopyOnWriteArrayList<>();
  final List<Deadline> deadlines = new CopyOnWriteArrayList<>();
  final List<ListTenantsRequest> listRequests = new CopyOnWriteArrayList<>();
  final List<String> healthServices = new CopyOnWriteArrayList<>();
  /** Data keys by tenant slug. */
  final TreeMap<String, TenantKey> keys = new TreeMap<>();
  /** Tenants whose key was shredded, so that re-creating needs allow_after_shred. */
  final Set<String> shredded = new HashSet<>();
  /** Every KeyService request, in order. */
  final List<Message> keyRequests = new CopyOnWriteArrayList<>();
  /** ARNs of the tenant CMKs RotateTenantKey with new_cmk has made. */
  final Set<String> tenantCmks = new HashSet<>();
  /** Master keys RetireMasterKey has scheduled for deletion. */
  final Set<String> retired = new HashSet<>();
  /** When set, RetireMasterKey refuses with FAILED_PRECONDITION and this message. */
  volatile String retireRefusal;
  /** "Now" for RetireMasterKey's deletion times (2026-11-01T00:00:00Z), so output is predictable. */
  static final long RETIRE_NOW = 1793491200L;
  /** What ShredTenantKey reports as effective_within_seconds. */
  static final long KEY_EXPIRATION_SECONDS = 60;
  private long nextAuditId = 100;
  /** ListTenants page size when the client leaves it to the server; small values exercise paging. */
  volatile int defaultTenantPageSize = 100;
  volatile HealthCheckResponse.ServingStatus health = HealthCheckResponse.ServingStatus.SERVING;

  // The TLS-mismatch test makes the server log a "Transport failed" stack trace;
  // it is expected, so keep it out of the build output. Held in a field because
  // java.util.logging keeps only weak references to configured loggers.
  private static final Logger NETTY_SERVER_LOG = quiet("io.grpc.netty.shaded.io.grpc.netty.NettyServerTransport");

  private final Server server;
  private long nextId = 1;

  /** The fake MigrationService; tests script it directly. */
  final FakeMigrationService migrations = new FakeMigrationService(this::hasTenant);
  /** The fake UsageService; tests script it directly. */
  final FakeUsageService usage = new FakeUsageService();

  FakeSiloServer() throws IOException {
    ServerInterceptor recorder = new ServerInterceptor() {
      @Override
      public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
          ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
        // "<none>" keeps one entry per call, so tests can count calls without a header.
        String auth = headers.get(AUTHORIZATION);
        authorizationHeaders.add(auth == null ? "<none>" : auth);
        Deadline deadline = Context.current().getDeadline();
        if (deadline != null) {
          deadlines.add(deadline);
        }
        return next.startCall(call, headers);
      }
    };
    server = NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), InsecureServerCredentials.create())
        .addService(ServerInterceptors.intercept(new Tenants(), recorder))
        .addService(ServerInterceptors.intercept(new Health(), recorder))
        .addService(ServerInterceptors.intercept(new Keys(), recorder))
        .addService(ServerInterceptors.intercept(migrations, recorder))
        .addService(ServerInterceptors.intercept(usage, recorder))
        .build()
        .start();
  }

  private static Logger quiet(String name) {
    Logger logger = Logger.getLogger(name);
    logger.setLevel(Level.WARNING);
    return logger;
  }

  private synchronized boolean hasTenant(String slug) {
    return tenants.containsKey(slug);
  }

  /** The address to pass as --server. */
  String address() {
    return "127.0.0.1:" + server.getPort();
  }

  /** Adds a tenant directly, as if registered earlier. */
  synchronized Tenant seed(String slug, String name, TenantStatus status) {
    Tenant t = Tenant.newBuilder()
        .setSlug(slug)
        .setDisplayName(name)
        .setStatus(status)
        .setId(nextId++)
        .setCreateTime(Timestamp.newBuilder().setSeconds(1_764_000_000L + nextId).setNanos(123_000_000))
        .build();
    tenants.put(slug, t);
    return t;
  }

  /** Adds a data key directly, as if created earlier; the tenant is registered too if it is not. */
  synchronized TenantKey seedKey(String tenant, String provider, String descriptorJson) {
    if (!tenants.containsKey(tenant)) {
      seed(tenant, "Tenant " + tenant, TenantStatus.TENANT_STATUS_POOLED);
    }
    long n = nextId++;
    Timestamp created = Timestamp.newBuilder().setSeconds(1_765_000_000L + n).build();
    TenantKey key = TenantKey.newBuilder()
        .setKeyId(String.format("00000000-0000-4000-8000-%012d", n))
        .addKeyAltNames("tenant-" + tenant)
        .setTenant(tenant)
        .setOrigin(KeyOrigin.KEY_ORIGIN_CREATED)
        .setMasterKey(MasterKey.newBuilder().setProvider(provider).setDescriptorJson(descriptorJson))
        .setCreateTime(created)
        .setUpdateTime(created)
        .build();
    keys.put(tenant, key);
    return key;
  }

  @Override
  public void close() throws InterruptedException {
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  private final class Tenants extends TenantServiceGrpc.TenantServiceImplBase {
    @Override
    public void registerTenant(RegisterTenantRequest req, StreamObserver<RegisterTenantResponse> out) {
      synchronized (FakeSiloServer.this) {
        Tenant existing = tenants.get(req.getSlug());
        if (existing != null && !existing.getDisplayName().equals(req.getDisplayName())) {
          out.onError(Status.ALREADY_EXISTS.withDescription("tenant '" + req.getSlug() + "' exists with another name").asRuntimeException());
          return;
        }
        boolean created = existing == null;
        Tenant t = created ? seed(req.getSlug(), req.getDisplayName(), TenantStatus.TENANT_STATUS_POOLED) : existing;
        out.onNext(RegisterTenantResponse.newBuilder().setTenant(t).setCreated(created).build());
        out.onCompleted();
      }
    }

    @Override
    public void getTenant(GetTenantRequest req, StreamObserver<GetTenantResponse> out) {
      if (req.getSlug().equals(SLOW_SLUG)) {
        return; // never answers; the client's deadline must end the call
      }
      Tenant t;
      synchronized (FakeSiloServer.this) {
        t = tenants.get(req.getSlug());
      }
      if (t == null) {
        out.onError(Status.NOT_FOUND.withDescription("tenant '" + req.getSlug() + "' not found").asRuntimeException());
        return;
      }
      out.onNext(GetTenantResponse.newBuilder().setTenant(t).build());
      out.onCompleted();
    }

    @Override
    public void listTenants(ListTenantsRequest req, StreamObserver<ListTenantsResponse> out) {
      listRequests.add(req);
      int size = req.getPageSize() == 0 ? defaultTenantPageSize : req.getPageSize();
      // The token is an opaque offset, prefixed so a test cannot pass for a bare number by accident.
      int offset = req.getPageToken().isEmpty() ? 0 : Integer.parseInt(req.getPageToken().substring("off-".length()));
      List<Tenant> all;
      synchronized (FakeSiloServer.this) {
        all = new ArrayList<>(tenants.values());
      }
      int end = Math.min(all.size(), offset + size);
      ListTenantsResponse.Builder page = ListTenantsResponse.newBuilder().addAllTenants(all.subList(offset, end));
      if (end < all.size()) {
        page.setNextPageToken("off-" + end);
      }
      out.onNext(page.build());
      out.onCompleted();
    }
  }

  private final class Health extends HealthGrpc.HealthImplBase {
    @Override
    public void check(HealthCheckRequest req, StreamObserver<HealthCheckResponse> out) {
      healthServices.add(req.getService());
      out.onNext(HealthCheckResponse.newBuilder().setStatus(health).build());
      out.onCompleted();
    }
  }

  /** In-memory KeyService with the server's rules that the CLI must surface: unknown tenants, the shred guard. */
  private final class Keys extends KeyServiceGrpc.KeyServiceImplBase {
    @Override
    public void createTenantKey(CreateTenantKeyRequest req, StreamObserver<CreateTenantKeyResponse> out) {
      keyRequests.add(req);
      synchronized (FakeSiloServer.this) {
        if (!tenants.containsKey(req.getTenant())) {
          out.onError(Status.NOT_FOUND.withDescription("tenant '" + req.getTenant() + "' not found").asRuntimeException());
          return;
        }
        TenantKey existing = keys.get(req.getTenant());
        if (existing != null) {
          out.onNext(CreateTenantKeyResponse.newBuilder().setKey(existing).setCreated(false).build());
          out.onCompleted();
          return;
        }
        boolean afterShred = shredded.contains(req.getTenant());
        if (afterShred && !req.getAllowAfterShred()) {
          out.onError(Status.FAILED_PRECONDITION
              .withDescription("the key of tenant '" + req.getTenant() + "' was shredded; pass allow_after_shred")
              .asRuntimeException());
          return;
        }
        String provider = req.getMasterKey().getProvider().isEmpty() ? "local" : req.getMasterKey().getProvider();
        TenantKey key = seedKey(req.getTenant(), provider, req.getMasterKey().getDescriptorJson());
        CreateTenantKeyResponse.Builder response = CreateTenantKeyResponse.newBuilder().setKey(key).setCreated(true);
        if (afterShred) {
          shredded.remove(req.getTenant());
          response.setWarning("a new key was created after the previous one was shredded");
        }
        out.onNext(response.build());
        out.onCompleted();
      }
    }

    @Override
    public void listTenantKeys(ListTenantKeysRequest req, StreamObserver<ListTenantKeysResponse> out) {
      keyRequests.add(req);
      int size = req.getPageSize() == 0 ? 100 : req.getPageSize();
      int offset = req.getPageToken().isEmpty() ? 0 : Integer.parseInt(req.getPageToken().substring("koff-".length()));
      List<TenantKey> all;
      synchronized (FakeSiloServer.this) {
        all = keys.values().stream().filter(k -> req.getTenant().isEmpty() || k.getTenant().equals(req.getTenant())).toList();
      }
      int end = Math.min(all.size(), offset + size);
      ListTenantKeysResponse.Builder page = ListTenantKeysResponse.newBuilder().addAllKeys(all.subList(offset, end));
      if (end < all.size()) {
        page.setNextPageToken("koff-" + end);
      }
      out.onNext(page.build());
      out.onCompleted();
    }

    @Override
    public void rotateTenantKey(RotateTenantKeyRequest req, StreamObserver<RotateTenantKeyResponse> out) {
      keyRequests.add(req);
      synchronized (FakeSiloServer.this) {
        TenantKey key = keys.get(req.getTenant());
        if (key == null) {
          out.onError(notFound(req.getTenant()));
          return;
        }
        MasterKey target = req.getNewMasterKey();
        TenantCmk cmk = null;
        if (req.getNewCmk()) {
          // The tenant's own CMK: made on the first such rotation, reused after, as the server does.
          String region = req.getNewMasterKey().getDescriptorJson().contains("eu-central-1") ? "eu-central-1" : "us-east-1";
          String arn = "arn:aws:kms:" + region + ":123456789012:key/cmk-" + req.getTenant();
          cmk = TenantCmk.newBuilder().setKeyArn(arn).setAlias("alias/silo/tenant-" + req.getTenant())
              .setProvider(target.getProvider()).setRegion(region).setCreated(tenantCmks.add(arn)).build();
          target = target.toBuilder().setDescriptorJson("{\"key\":\"" + arn + "\",\"region\":\"" + region + "\"}")
              .build();
        }
        TenantKey rotated = key.toBuilder()
            .setMasterKey(target)
            .setUpdateTime(Timestamp.newBuilder().setSeconds(key.getUpdateTime().getSeconds() + 3600))
            .build();
        keys.put(req.getTenant(), rotated);
        RotateTenantKeyResponse.Builder response = RotateTenantKeyResponse.newBuilder()
            .setKey(rotated).setPreviousMasterKey(key.getMasterKey()).setAuditId(nextAuditId++);
        if (cmk != null) {
          response.setCmk(cmk);
        }
        out.onNext(response.build());
        out.onCompleted();
      }
    }

    @Override
    public void shredTenantKey(ShredTenantKeyRequest req, StreamObserver<ShredTenantKeyResponse> out) {
      keyRequests.add(req);
      synchronized (FakeSiloServer.this) {
        if (!req.getConfirm().equals(req.getTenant())) {
          out.onError(Status.FAILED_PRECONDITION
              .withDescription("confirm must equal the tenant slug '" + req.getTenant() + "'").asRuntimeException());
          return;
        }
        TenantKey key = keys.remove(req.getTenant());
        if (key == null) {
          out.onError(notFound(req.getTenant()));
          return;
        }
        shredded.add(req.getTenant());
        out.onNext(ShredTenantKeyResponse.newBuilder()
            .setKeyId(key.getKeyId()).setAuditId(nextAuditId++).setEffectiveWithinSeconds(KEY_EXPIRATION_SECONDS).build());
        out.onCompleted();
      }
    }

    @Override
    public void retireMasterKey(RetireMasterKeyRequest req, StreamObserver<RetireMasterKeyResponse> out) {
      keyRequests.add(req);
      synchronized (FakeSiloServer.this) {
        if (retireRefusal != null) {
          out.onError(Status.FAILED_PRECONDITION.withDescription(retireRefusal).asRuntimeException());
          return;
        }
        String key = req.getConfirm();
        boolean already = !retired.add(key);
        out.onNext(RetireMasterKeyResponse.newBuilder().setKeyArn(key)
            .setDeletionTime(Timestamp.newBuilder().setSeconds(RETIRE_NOW + req.getPendingWindowDays() * 86400L))
            .setAlreadyScheduled(already).setAuditId(already ? 0 : nextAuditId++).build());
        out.onCompleted();
      }
    }

    private RuntimeException notFound(String tenant) {
      return Status.NOT_FOUND.withDescription("no key for tenant '" + tenant + "'").asRuntimeException();
    }
  }
}
