package io.silo.api;

import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.EnumDescriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Descriptors.FileDescriptor;
import com.google.protobuf.Descriptors.MethodDescriptor;
import com.google.protobuf.Descriptors.ServiceDescriptor;
import io.grpc.reflection.v1.ErrorResponse;
import io.grpc.reflection.v1.ExtensionNumberResponse;
import io.grpc.reflection.v1.FileDescriptorResponse;
import io.grpc.reflection.v1.ListServiceResponse;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.reflection.v1.ServerReflectionResponse;
import io.grpc.reflection.v1.ServiceResponse;
import io.grpc.Status;
import io.vertx.grpc.common.GrpcMessageDecoder;
import io.vertx.grpc.common.GrpcMessageEncoder;
import io.vertx.grpc.common.ServiceMethod;
import io.vertx.grpc.common.ServiceName;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerRequest;
import io.vertx.grpc.server.GrpcServerResponse;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * grpc.reflection.v1 that answers every request on a stream, as grpcurl and other tools send several
 * (list, then describe, then the dependencies) over one stream.
 */
public final class ReflectionEndpoint {

  static final ServiceName NAME = ServiceName.create("grpc.reflection.v1", "ServerReflection");
  private static final ServiceMethod<ServerReflectionRequest, ServerReflectionResponse> INFO = ServiceMethod.server(
      NAME, "ServerReflectionInfo", GrpcMessageEncoder.encoder(),
      GrpcMessageDecoder.decoder(ServerReflectionRequest.newBuilder()));

  private final List<String> serviceNames;
  private final Map<String, FileDescriptor> filesByName = new HashMap<>();
  private final Map<String, FileDescriptor> filesBySymbol = new HashMap<>();
  private final Map<String, Map<Integer, FileDescriptor>> extensionsByType = new HashMap<>();
  private final ActiveStreams streams;

  /** Indexes the given services' files and everything they import. */
  public ReflectionEndpoint(List<ServiceDescriptor> services, ActiveStreams streams) {
    this.streams = streams;
    Map<String, ServiceDescriptor> unique = new LinkedHashMap<>();
    for (ServiceDescriptor service : services) {
      unique.put(service.getFullName(), service);
    }
    this.serviceNames = List.copyOf(unique.keySet());
    for (ServiceDescriptor service : unique.values()) {
      index(service.getFile());
    }
  }

  public void bind(GrpcServer server) {
    server.callHandler(INFO, this::info);
  }

  private void index(FileDescriptor root) {
    Deque<FileDescriptor> pending = new ArrayDeque<>(List.of(root));
    while (!pending.isEmpty()) {
      FileDescriptor file = pending.pop();
      if (filesByName.putIfAbsent(file.getName(), file) != null) {
        continue;
      }
      pending.addAll(file.getDependencies());
      for (ServiceDescriptor service : file.getServices()) {
        filesBySymbol.put(service.getFullName(), file);
        for (MethodDescriptor method : service.getMethods()) {
          filesBySymbol.put(method.getFullName(), file);
        }
      }
      for (Descriptor message : file.getMessageTypes()) {
        indexMessage(file, message);
      }
      for (EnumDescriptor e : file.getEnumTypes()) {
        filesBySymbol.put(e.getFullName(), file);
      }
      for (FieldDescriptor extension : file.getExtensions()) {
        indexExtension(file, extension);
      }
    }
  }

  private void indexMessage(FileDescriptor file, Descriptor message) {
    filesBySymbol.put(message.getFullName(), file);
    for (Descriptor nested : message.getNestedTypes()) {
      indexMessage(file, nested);
    }
    for (EnumDescriptor e : message.getEnumTypes()) {
      filesBySymbol.put(e.getFullName(), file);
    }
    for (FieldDescriptor extension : message.getExtensions()) {
      indexExtension(file, extension);
    }
  }

  private void indexExtension(FileDescriptor file, FieldDescriptor extension) {
    filesBySymbol.put(extension.getFullName(), file);
    extensionsByType.computeIfAbsent(extension.getContainingType().getFullName(), k -> new HashMap<>())
        .put(extension.getNumber(), file);
  }

  private void info(GrpcServerRequest<ServerReflectionRequest, ServerReflectionResponse> request) {
    GrpcServerResponse<ServerReflectionRequest, ServerReflectionResponse> response = request.response();
    if (!streams.register(response)) {
      return;
    }
    UnaryCalls.onMessage(request, INFO.decoder(), message -> response.write(answer(message)));
    request.endHandler(v -> {
      streams.unregister(response);
      response.end();
    });
    request.errorHandler(error -> streams.unregister(response));
  }

  ServerReflectionResponse answer(ServerReflectionRequest request) {
    ServerReflectionResponse.Builder out = ServerReflectionResponse.newBuilder()
        .setValidHost(request.getHost())
        .setOriginalRequest(request);
    switch (request.getMessageRequestCase()) {
      case LIST_SERVICES -> {
        ListServiceResponse.Builder list = ListServiceResponse.newBuilder();
        serviceNames.forEach(name -> list.addService(ServiceResponse.newBuilder().setName(name)));
        out.setListServicesResponse(list);
      }
      case FILE_BY_FILENAME -> {
        FileDescriptor file = filesByName.get(request.getFileByFilename());
        if (file == null) {
          return error(out, "file not found: " + request.getFileByFilename());
        }
        out.setFileDescriptorResponse(withDependencies(file));
      }
      case FILE_CONTAINING_SYMBOL -> {
        FileDescriptor file = filesBySymbol.get(request.getFileContainingSymbol());
        if (file == null) {
          return error(out, "symbol not found: " + request.getFileContainingSymbol());
        }
        out.setFileDescriptorResponse(withDependencies(file));
      }
      case FILE_CONTAINING_EXTENSION -> {
        var ext = request.getFileContainingExtension();
        FileDescriptor file = extensionsByType.getOrDefault(ext.getContainingType(), Map.of())
            .get(ext.getExtensionNumber());
        if (file == null) {
          return error(out, "extension not found: " + ext.getContainingType() + "#" + ext.getExtensionNumber());
        }
        out.setFileDescriptorResponse(withDependencies(file));
      }
      case ALL_EXTENSION_NUMBERS_OF_TYPE -> {
        String type = request.getAllExtensionNumbersOfType();
        if (!filesBySymbol.containsKey(type)) {
          return error(out, "type not found: " + type);
        }
        out.setAllExtensionNumbersResponse(ExtensionNumberResponse.newBuilder()
            .setBaseTypeName(type)
            .addAllExtensionNumber(extensionsByType.getOrDefault(type, Map.of()).keySet()));
      }
      default -> {
        return out.setErrorResponse(ErrorResponse.newBuilder()
            .setErrorCode(Status.Code.INVALID_ARGUMENT.value())
            .setErrorMessage("message_request: none of the request kinds is set")).build();
      }
    }
    return out.build();
  }

  private static ServerReflectionResponse error(ServerReflectionResponse.Builder out, String message) {
    return out.setErrorResponse(ErrorResponse.newBuilder()
        .setErrorCode(Status.Code.NOT_FOUND.value())
        .setErrorMessage(message)).build();
  }

  /** The file first, then every file it imports transitively, so a client can build descriptors from one answer. */
  private static FileDescriptorResponse withDependencies(FileDescriptor root) {
    Set<FileDescriptor> ordered = new LinkedHashSet<>();
    Deque<FileDescriptor> pending = new ArrayDeque<>(List.of(root));
    while (!pending.isEmpty()) {
      FileDescriptor file = pending.pop();
      if (ordered.add(file)) {
        pending.addAll(new ArrayList<>(file.getDependencies()));
      }
    }
    FileDescriptorResponse.Builder out = FileDescriptorResponse.newBuilder();
    ordered.forEach(file -> out.addFileDescriptorProto(file.toProto().toByteString()));
    return out.build();
  }
}
