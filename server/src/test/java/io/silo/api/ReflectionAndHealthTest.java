package io.silo.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.google.protobuf.DescriptorProtos.FileDescriptorProto;
import com.google.protobuf.Descriptors.FileDescriptor;
import com.google.protobuf.Descriptors.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.reflection.v1.ServerReflectionResponse;
import io.grpc.stub.StreamObserver;
import io.silo.TestServer;
import io.silo.api.v1.CreateTenantKeyRequest;
import io.silo.api.v1.GetTenantUsageRequest;
import io.silo.api.v1.KeyServiceGrpc;
import io.silo.api.v1.UsageServiceGrpc;
import io.silo.api.v1.MigrationServiceGrpc;
import io.silo.api.v1.WatchMigrationRequest;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/** Reflection (several requests on one reused stream, as grpcurl sends them), health, and clear statuses for RPCs that cannot run. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ReflectionAndHealthTest {

  private TestServer server;

  @BeforeAll
  void start() throws Exception {
    server = TestServer.start(Map.of());
  }

  @AfterAll
  void stop() throws Exception {
    server.close();
  }

  /** A reflection stream kept open across requests, answering one response per request in order. */
  private static final class ReflectionStream implements StreamObserver<ServerReflectionResponse> {
    final LinkedBlockingQueue<ServerReflectionResponse> responses = new LinkedBlockingQueue<>();
    final CompletableFuture<Status> closed = new CompletableFuture<>();
    StreamObserver<ServerReflectionRequest> requests;

    ServerReflectionResponse ask(ServerReflectionRequest request) throws InterruptedException {
      requests.onNext(request);
      ServerReflectionResponse response = responses.poll(10, TimeUnit.SECONDS);
      assertThat(response).as("answer to %s", request).isNotNull();
      return response;
    }

    @Override
    public void onNext(ServerReflectionResponse value) {
      responses.add(value);
    }

    @Override
    public void onError(Throwable t) {
      closed.complete(Status.fromThrowable(t));
    }

    @Override
    public void onCompleted() {
      closed.complete(Status.OK);
    }
  }

  @Test
  void reflectionAnswersListAndDescribeRequestsOnOneReusedStream() throws Exception {
    ReflectionStream stream = new ReflectionStream();
    stream.requests = ServerReflectionGrpc.newStub(server.channel).serverReflectionInfo(stream);

    ServerReflectionResponse list = stream.ask(ServerReflectionRequest.newBuilder().setListServices("").build());
    List<String> services = list.getListServicesResponse().getServiceList().stream().map(s -> s.getName()).toList();
    assertThat(services).contains("silo.v1.TenantService", "silo.v1.KeyService", "silo.v1.MigrationService",
        "silo.v1.UsageService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection");

    ServerReflectionResponse bySymbol = stream.ask(ServerReflectionRequest.newBuilder()
        .setFileContainingSymbol("silo.v1.TenantService").build());
    Map<String, FileDescriptor> built = buildFiles(bySymbol);
    FileDescriptor tenantFile = built.get("silo/v1/tenant.proto");
    assertThat(tenantFile).isNotNull();
    MethodDescriptor register = tenantFile.findServiceByName("TenantService").findMethodByName("RegisterTenant");
    assertThat(register.getInputType().getFullName()).isEqualTo("silo.v1.RegisterTenantRequest");
    assertThat(register.getInputType().findFieldByName("slug")).isNotNull();

    ServerReflectionResponse streamingMethod = stream.ask(ServerReflectionRequest.newBuilder()
        .setFileContainingSymbol("silo.v1.MigrationService.WatchMigration").build());
    assertThat(buildFiles(streamingMethod).get("silo/v1/migration.proto")
        .findServiceByName("MigrationService").findMethodByName("WatchMigration").isServerStreaming()).isTrue();

    ServerReflectionResponse byFile = stream.ask(ServerReflectionRequest.newBuilder()
        .setFileByFilename("google/protobuf/timestamp.proto").build());
    assertThat(byFile.getFileDescriptorResponse().getFileDescriptorProtoCount()).isEqualTo(1);

    ServerReflectionResponse message = stream.ask(ServerReflectionRequest.newBuilder()
        .setFileContainingSymbol("silo.v1.Tenant").build());
    assertThat(message.hasFileDescriptorResponse()).isTrue();

    ServerReflectionResponse missing = stream.ask(ServerReflectionRequest.newBuilder()
        .setFileContainingSymbol("silo.v1.NoSuchThing").build());
    assertThat(missing.getErrorResponse().getErrorCode()).isEqualTo(Status.Code.NOT_FOUND.value());

    stream.requests.onCompleted();
    assertThat(stream.closed.get(10, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.OK);
  }

  private static Map<String, FileDescriptor> buildFiles(ServerReflectionResponse response) throws Exception {
    Map<String, FileDescriptorProto> protos = new HashMap<>();
    for (var bytes : response.getFileDescriptorResponse().getFileDescriptorProtoList()) {
      FileDescriptorProto proto = FileDescriptorProto.parseFrom(bytes);
      protos.put(proto.getName(), proto);
    }
    Map<String, FileDescriptor> built = new HashMap<>();
    for (String name : protos.keySet()) {
      build(name, protos, built);
    }
    return built;
  }

  private static FileDescriptor build(String name, Map<String, FileDescriptorProto> protos,
                                      Map<String, FileDescriptor> built) throws Exception {
    if (built.containsKey(name)) {
      return built.get(name);
    }
    FileDescriptorProto proto = protos.get(name);
    assertThat(proto).as("dependency %s sent along", name).isNotNull();
    FileDescriptor[] deps = new FileDescriptor[proto.getDependencyCount()];
    for (int i = 0; i < deps.length; i++) {
      deps[i] = build(proto.getDependency(i), protos, built);
    }
    FileDescriptor file = FileDescriptor.buildFrom(proto, deps);
    built.put(name, file);
    return file;
  }

  @Test
  void healthReportsServingForServerAndServicesAndNotFoundForUnknown() {
    var health = HealthGrpc.newBlockingStub(server.channel).withDeadlineAfter(10, TimeUnit.SECONDS);
    assertThat(health.check(HealthCheckRequest.newBuilder().build()).getStatus()).isEqualTo(ServingStatus.SERVING);
    assertThat(health.check(HealthCheckRequest.newBuilder().setService("silo.v1.TenantService").build()).getStatus())
        .isEqualTo(ServingStatus.SERVING);
    StatusRuntimeException e = catchThrowableOfType(StatusRuntimeException.class,
        () -> health.check(HealthCheckRequest.newBuilder().setService("nope.Service").build()));
    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
  }

  @Test
  void usageWithoutTheApplicationsDocumentsTableIsFailedPreconditionNamingTheTable() {
    StatusRuntimeException e = catchThrowableOfType(StatusRuntimeException.class,
        () -> UsageServiceGrpc.newBlockingStub(server.channel).withDeadlineAfter(10, TimeUnit.SECONDS)
            .getTenantUsage(GetTenantUsageRequest.newBuilder().setTenant("acme").build()));
    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(e.getStatus().getDescription()).contains("public.documents").contains("does not exist");
  }

  @Test
  void keyServiceWithoutMongoConfiguredIsFailedPreconditionNamingTheSetting() {
    StatusRuntimeException e = catchThrowableOfType(StatusRuntimeException.class,
        () -> KeyServiceGrpc.newBlockingStub(server.channel).withDeadlineAfter(10, TimeUnit.SECONDS)
            .createTenantKey(CreateTenantKeyRequest.newBuilder().setTenant("acme").build()));
    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(e.getStatus().getDescription()).contains("mongo.uri");
  }

  @Test
  void streamingRpcWithoutMongoConfiguredFailsNamingTheSettingRatherThanHanging() {
    Iterator<?> events = MigrationServiceGrpc.newBlockingStub(server.channel).withDeadlineAfter(10, TimeUnit.SECONDS)
        .watchMigration(WatchMigrationRequest.newBuilder().setAll(true).build());
    StatusRuntimeException e = catchThrowableOfType(StatusRuntimeException.class, events::hasNext);
    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(e.getStatus().getDescription()).contains("mongo.uri");
  }
}
