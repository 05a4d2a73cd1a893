package io.silo.api;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.Context;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCalls;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Iterator;
import java.util.concurrent.TimeUnit;

/** Calls any method with raw request bytes, so tests can send what no generated stub would: malformed messages. */
final class RawGrpc {

  private static final MethodDescriptor.Marshaller<byte[]> BYTES = new MethodDescriptor.Marshaller<>() {
    @Override
    public InputStream stream(byte[] value) {
      return new ByteArrayInputStream(value);
    }

    @Override
    public byte[] parse(InputStream stream) {
      try {
        return stream.readAllBytes();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  };

  private RawGrpc() {
  }

  /**
   * Runs a Vert.x client exchange from a Vert.x context and waits for it. Started from a test thread, a response
   * that ends with its headers (a trailers-only gRPC reply) can end before {@code body()} is attached, and then the
   * wait never ends; on a context the continuation is attached in the same task that delivers the response.
   */
  static <T> T onContext(io.vertx.core.Vertx vertx, java.util.function.Supplier<io.vertx.core.Future<T>> exchange,
                         long timeoutSeconds) throws Exception {
    java.util.concurrent.CompletableFuture<T> out = new java.util.concurrent.CompletableFuture<>();
    vertx.runOnContext(v -> exchange.get().onComplete(done -> {
      if (done.succeeded()) {
        out.complete(done.result());
      } else {
        out.completeExceptionally(done.cause());
      }
    }));
    return out.get(timeoutSeconds, TimeUnit.SECONDS);
  }

  static MethodDescriptor<byte[], byte[]> method(String fullName, boolean serverStreaming) {
    return MethodDescriptor.<byte[], byte[]>newBuilder()
        .setType(serverStreaming ? MethodDescriptor.MethodType.SERVER_STREAMING : MethodDescriptor.MethodType.UNARY)
        .setFullMethodName(fullName).setRequestMarshaller(BYTES).setResponseMarshaller(BYTES).build();
  }

  /**
   * The status a call ends with: OK when a unary call succeeds, or for a stream, when its first response arrives
   * (the stream is then cancelled with its context).
   */
  static Status call(Channel channel, String fullName, boolean serverStreaming, byte[] body, long timeoutSeconds) {
    CallOptions options = CallOptions.DEFAULT.withDeadlineAfter(timeoutSeconds, TimeUnit.SECONDS);
    Context.CancellableContext scope = Context.current().withCancellation();
    try {
      return scope.call(() -> {
        try {
          if (serverStreaming) {
            Iterator<byte[]> replies = ClientCalls.blockingServerStreamingCall(channel, method(fullName, true),
                options, body);
            replies.hasNext();
            return Status.OK;
          }
          ClientCalls.blockingUnaryCall(channel, method(fullName, false), options, body);
          return Status.OK;
        } catch (StatusRuntimeException e) {
          return e.getStatus();
        }
      });
    } catch (Exception e) {
      throw new IllegalStateException(e);
    } finally {
      scope.cancel(null);
    }
  }
}
