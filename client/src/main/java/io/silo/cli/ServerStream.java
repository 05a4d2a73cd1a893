package io.silo.cli;

import io.grpc.Context;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;

/**
 * A server-streaming call read from the command's own thread, one message at a
 * time, with no deadline; Ctrl-C cancels it (see {@link SiloCommand}).
 */
final class ServerStream<T> implements AutoCloseable {

  /** Thrown by {@link #next} when the stream was cancelled by Ctrl-C; its message says what was left running. */
  static final class Interrupted extends RuntimeException {
    Interrupted(String message) {
      super(message);
    }
  }

  // Streams the Ctrl-C hook must cancel. A command runs at most one at a time,
  // but a set keeps the hook correct without assuming so.
  private static final Set<ServerStream<?>> OPEN = ConcurrentHashMap.newKeySet();

  private static final Object END = new Object();

  private record Failure(Throwable error) {}

  private final BlockingQueue<Object> queue = new LinkedBlockingQueue<>();
  private final Context.CancellableContext context = Context.current().withCancellation();
  private final String interruptMessage;
  private volatile ClientCallStreamObserver<?> call;
  private volatile boolean interrupted;
  private boolean done;

  private ServerStream(String interruptMessage) {
    this.interruptMessage = interruptMessage;
  }

  /**
   * Starts {@code method(request)} on an async stub. {@code interruptMessage} is
   * what the user is told if they press Ctrl-C while it is open.
   */
  static <Q, T> ServerStream<T> open(BiConsumer<Q, StreamObserver<T>> method, Q request, String interruptMessage) {
    ServerStream<T> stream = new ServerStream<>(interruptMessage);
    OPEN.add(stream);
    // The call is bound to the context it starts in; cancelling that context
    // cancels the call on the wire, which is how close() and Ctrl-C end it.
    stream.context.run(() -> method.accept(request, stream.new Observer<Q>()));
    return stream;
  }

  /**
   * The next message; null when none arrived within {@code wait} or when the
   * stream has ended (then {@link #done()} is true). A failed stream throws its
   * status, or {@link Interrupted} if Ctrl-C cancelled it.
   */
  @SuppressWarnings("unchecked")
  T next(Duration wait) {
    if (done) {
      return null;
    }
    Object item;
    try {
      item = queue.poll(wait.toNanos(), TimeUnit.NANOSECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      interrupt();
      throw new Interrupted(interruptMessage);
    }
    if (item == null) {
      return null;
    }
    if (item == END) {
      done = true;
      return null;
    }
    if (item instanceof Failure f) {
      done = true;
      if (interrupted) {
        throw new Interrupted(interruptMessage);
      }
      throw f.error() instanceof RuntimeException r ? r : new StatusRuntimeException(io.grpc.Status.fromThrowable(f.error()));
    }
    // Ask for the next message only now that this one is taken: a reader slower
    // than the server then shows up as flow control, and the server coalesces
    // snapshots instead of queueing every one of them here.
    call.request(1);
    return (T) item;
  }

  /** The next message, waiting as long as it takes; null once the stream has ended. */
  T next() {
    T item;
    do {
      item = next(Duration.ofSeconds(1));
    } while (item == null && !done);
    return item;
  }

  /** Whether the server ended the stream (normally or with an error). */
  boolean done() {
    return done;
  }

  /** Cancels the call as Ctrl-C does; the reading thread then gets {@link Interrupted}. */
  void interrupt() {
    interrupted = true;
    context.cancel(null);
  }

  /** What Ctrl-C does: interrupts every open stream. Returns how many there were. */
  static int interruptOpen() {
    int n = 0;
    for (ServerStream<?> s : OPEN) {
      s.interrupt();
      n++;
    }
    return n;
  }

  /** Cancels the call if the server has not ended it: the client stopped reading before the end (e.g. all watched migrations are final). */
  @Override
  public void close() {
    OPEN.remove(this);
    context.cancel(null);
  }

  private final class Observer<Q> implements ClientResponseObserver<Q, T> {
    @Override
    public void beforeStart(ClientCallStreamObserver<Q> requestStream) {
      call = requestStream;
      requestStream.disableAutoRequestWithInitial(1);
    }

    @Override
    public void onNext(T value) {
      queue.add(value);
    }

    @Override
    public void onError(Throwable t) {
      queue.add(new Failure(t));
    }

    @Override
    public void onCompleted() {
      queue.add(END);
    }
  }
}
