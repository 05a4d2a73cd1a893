package io.silo.bench;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.time.Duration;
import java.util.Arrays;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Loopback TCP proxy that holds every client-to-server byte for a fixed delay, to emulate network round trips, and
 * that can cut every open connection at once, to emulate a network failure.
 */
public final class LatencyProxy implements AutoCloseable {

  /** Marks the end of the client's stream in a connection's delay queue. */
  private static final Chunk EOF = new Chunk(new byte[0], 0);

  private final ServerSocket server;
  private final InetSocketAddress target;
  private volatile long delayNanos;
  private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();
  private final AtomicInteger connections = new AtomicInteger();
  private volatile boolean closed;

  private LatencyProxy(ServerSocket server, InetSocketAddress target, long delayNanos) {
    this.server = server;
    this.target = target;
    this.delayNanos = delayNanos;
  }

  /** Listens on an ephemeral loopback port and forwards to {@code target}, delaying the request direction. */
  public static LatencyProxy start(InetSocketAddress target, Duration delay) throws IOException {
    ServerSocket server = new ServerSocket(0, 200, InetAddress.getLoopbackAddress());
    LatencyProxy proxy = new LatencyProxy(server, target, delay.toNanos());
    daemon("latency-proxy-accept", proxy::acceptLoop).start();
    return proxy;
  }

  /** Changes the delay for bytes read from now on (calibration). */
  public void setDelay(Duration delay) {
    delayNanos = Math.max(0, delay.toNanos());
  }

  public Duration delay() {
    return Duration.ofNanos(delayNanos);
  }

  public int port() {
    return server.getLocalPort();
  }

  /** Client connections accepted so far. */
  public int connections() {
    return connections.get();
  }

  private void acceptLoop() {
    while (!closed) {
      Socket client;
      try {
        client = server.accept();
      } catch (IOException e) {
        return; // closed
      }
      try {
        Socket upstream = new Socket();
        upstream.connect(target, 5_000);
        // Nagle would add its own, unpredictable delay on top of the injected one.
        client.setTcpNoDelay(true);
        upstream.setTcpNoDelay(true);
        sockets.add(client);
        sockets.add(upstream);
        connections.incrementAndGet();
        int n = connections.get();
        BlockingQueue<Chunk> queue = new LinkedBlockingQueue<>();
        daemon("latency-proxy-read-" + n, () -> readInto(client, upstream, queue)).start();
        daemon("latency-proxy-delay-" + n, () -> writeDelayed(queue, client, upstream)).start();
        // Replies are not delayed: the request direction alone carries the whole injected round trip.
        daemon("latency-proxy-reply-" + n, () -> pump(upstream, client)).start();
      } catch (IOException e) {
        closeQuietly(client);
      }
    }
  }

  /** Reads what the client sends and stamps each chunk with the time it may leave. */
  private void readInto(Socket client, Socket upstream, BlockingQueue<Chunk> queue) {
    byte[] buffer = new byte[64 * 1024];
    try (InputStream in = client.getInputStream()) {
      int n;
      while ((n = in.read(buffer)) >= 0) {
        queue.add(new Chunk(Arrays.copyOf(buffer, n), System.nanoTime() + delayNanos));
      }
    } catch (IOException e) {
      // Connection reset or closed: the writer below closes both sides when it sees EOF.
    }
    queue.add(EOF);
  }

  /** Writes chunks in arrival order, each no earlier than its due time, so byte order is preserved. */
  private void writeDelayed(BlockingQueue<Chunk> queue, Socket client, Socket upstream) {
    try (OutputStream out = upstream.getOutputStream()) {
      while (true) {
        Chunk chunk = queue.take();
        if (chunk == EOF) {
          break;
        }
        // parkNanos rather than sleep: Thread.sleep rounds to whole milliseconds on some kernels.
        long wait;
        while ((wait = chunk.due - System.nanoTime()) > 0) {
          LockSupport.parkNanos(wait);
        }
        out.write(chunk.bytes);
        // Everything already due goes out in the same flush, as a kernel would coalesce it.
        Chunk next;
        while ((next = queue.peek()) != null && next != EOF && next.due <= System.nanoTime()) {
          queue.poll();
          out.write(next.bytes);
        }
        out.flush();
      }
    } catch (IOException | InterruptedException e) {
      // Fall through and close.
    } finally {
      closeQuietly(upstream);
      closeQuietly(client);
    }
  }

  private void pump(Socket from, Socket to) {
    byte[] buffer = new byte[64 * 1024];
    try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
      int n;
      while ((n = in.read(buffer)) >= 0) {
        out.write(buffer, 0, n);
        out.flush();
      }
    } catch (IOException e) {
      // Either side went away.
    } finally {
      closeQuietly(from);
      closeQuietly(to);
    }
  }

  private void closeQuietly(Socket socket) {
    sockets.remove(socket);
    try {
      socket.close();
    } catch (IOException ignored) {
      // Already closed.
    }
  }

  private static Thread daemon(String name, Runnable body) {
    Thread t = new Thread(body, name);
    t.setDaemon(true);
    return t;
  }

  /** Closes every connection open through the proxy, both sides; new connections are still accepted. */
  public void dropConnections() {
    for (Socket s : Set.copyOf(sockets)) {
      closeQuietly(s);
    }
  }

  @Override
  public void close() {
    closed = true;
    try {
      server.close();
    } catch (SocketException ignored) {
      // Already closed.
    } catch (IOException ignored) {
      // Nothing to do while shutting down.
    }
    dropConnections();
  }

  /** Bytes read from the client and the earliest time they may be forwarded. */
  private record Chunk(byte[] bytes, long due) {
  }
}
