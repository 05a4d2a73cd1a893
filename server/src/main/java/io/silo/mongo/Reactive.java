package io.silo.mongo;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import java.util.ArrayList;
import java.util.List;
import org.reactivestreams.Publisher;
import org.reactivestreams.Subscriber;
import org.reactivestreams.Subscription;

/** Bridges small, bounded MongoDB reactive-streams results into Vert.x futures completed on a given context. */
public final class Reactive {

  private Reactive() {
  }

  /** Collects every item; only for results known to be small (at most one batch). */
  public static <T> Future<List<T>> collect(Context context, Publisher<T> publisher) {
    Promise<List<T>> promise = Promise.promise();
    publisher.subscribe(new Subscriber<T>() {
      private final List<T> items = new ArrayList<>();

      @Override
      public void onSubscribe(Subscription s) {
        s.request(Long.MAX_VALUE);
      }

      @Override
      public void onNext(T t) {
        items.add(t);
      }

      @Override
      public void onError(Throwable t) {
        context.runOnContext(v -> promise.tryFail(t));
      }

      @Override
      public void onComplete() {
        context.runOnContext(v -> promise.tryComplete(items));
      }
    });
    return promise.future();
  }

  /** The single result (or null when the publisher completes empty). */
  public static <T> Future<T> single(Context context, Publisher<T> publisher) {
    return collect(context, publisher).map(items -> items.isEmpty() ? null : items.get(0));
  }
}
