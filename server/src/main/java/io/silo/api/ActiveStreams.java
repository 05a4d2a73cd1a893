package io.silo.api;

import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.server.GrpcServerResponse;
import io.vertx.grpc.server.StatusException;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/** Tracks open server streams so a graceful shutdown can end each of them with UNAVAILABLE instead of cutting them. */
public final class ActiveStreams {

  private final Set<GrpcServerResponse<?, ?>> open = ConcurrentHashMap.newKeySet();
  private volatile boolean closing;

  /** Registers a stream; returns false (and fails it) when the server is already shutting down. */
  public boolean register(GrpcServerResponse<?, ?> response) {
    if (closing) {
      GrpcErrors.fail(response, new StatusException(GrpcStatus.UNAVAILABLE, "server is shutting down"));
      return false;
    }
    open.add(response);
    return true;
  }

  public void unregister(GrpcServerResponse<?, ?> response) {
    open.remove(response);
  }

  public int size() {
    return open.size();
  }

  public boolean closing() {
    return closing;
  }

  /** Ends every open stream with UNAVAILABLE so clients know to reconnect elsewhere. */
  public void closeAll() {
    closing = true;
    for (GrpcServerResponse<?, ?> response : open) {
      try {
        GrpcErrors.fail(response, new StatusException(GrpcStatus.UNAVAILABLE, "server is shutting down"));
      } catch (RuntimeException ignored) {
        // The stream may have ended concurrently; nothing is left to tell its client.
      }
    }
    open.clear();
  }
}
