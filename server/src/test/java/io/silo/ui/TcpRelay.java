package io.silo.ui;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A loopback TCP relay in front of a server, for tests that need the network to fail: {@link #dropAll} cuts every
 * connection open through it at once (as a restarted load balancer or a lost Wi-Fi would), new ones go through.
 */
final class TcpRelay implements AutoCloseable {

  private final ServerSocket listener;
  private final Set<Socket> open = ConcurrentHashMap.newKeySet();

  private TcpRelay(ServerSocket listener) {
    this.listener = listener;
  }

  /** Starts relaying a fresh loopback port to {@code targetPort} on loopback. */
  static TcpRelay start(int targetPort) throws IOException {
    TcpRelay relay = new TcpRelay(new ServerSocket(0, 50, InetAddress.getLoopbackAddress()));
    Thread acceptor = new Thread(() -> relay.accept(targetPort), "tcp-relay-accept");
    acceptor.setDaemon(true);
    acceptor.start();
    return relay;
  }

  int port() {
    return listener.getLocalPort();
  }

  /** Closes every connection open through the relay, both sides. */
  void dropAll() {
    for (Socket s : open) {
      closeQuietly(s);
    }
    open.clear();
  }

  @Override
  public void close() {
    closeQuietly(listener);
    dropAll();
  }

  private void accept(int targetPort) {
    while (!listener.isClosed()) {
      try {
        Socket client = listener.accept();
        Socket server = new Socket(InetAddress.getLoopbackAddress(), targetPort);
        open.add(client);
        open.add(server);
        pump(client, server);
        pump(server, client);
      } catch (IOException e) {
        // The listener was closed, or the target refused one connection: the browser sees that one fail.
      }
    }
  }

  private void pump(Socket from, Socket to) {
    Thread t = new Thread(() -> {
      byte[] buffer = new byte[16 * 1024];
      try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
        for (int n; (n = in.read(buffer)) >= 0; ) {
          out.write(buffer, 0, n);
          out.flush();
        }
      } catch (IOException e) {
        // Dropped or closed by the other side.
      } finally {
        closeQuietly(from);
        closeQuietly(to);
        open.remove(from);
        open.remove(to);
      }
    }, "tcp-relay-pump");
    t.setDaemon(true);
    t.start();
  }

  private static void closeQuietly(java.io.Closeable c) {
    try {
      c.close();
    } catch (IOException ignored) {
      // Already closed.
    }
  }
}
