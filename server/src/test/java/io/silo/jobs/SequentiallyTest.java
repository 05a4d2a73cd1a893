package io.silo.jobs;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Future;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** Long lists run one step after the other without deep future chains: no stack overflow, order kept, stop at failure. */
class SequentiallyTest {

  private static final List<Integer> MANY = IntStream.range(0, 200_000).boxed().toList();

  @Test
  void twoHundredThousandStepsThatCompleteAtOnceRunInOrderWithoutOverflowingTheStack() {
    List<Integer> seen = new ArrayList<>();
    Future<Void> done = Sequentially.forEach(MANY, i -> {
      seen.add(i);
      return Future.succeededFuture();
    });
    assertThat(done.succeeded()).isTrue();
    assertThat(seen).isEqualTo(MANY);
  }

  @Test
  void aFailureStopsTheRunAndIsReportedWithoutUnwindingThroughEveryItem() {
    List<Integer> seen = new ArrayList<>();
    Future<Void> done = Sequentially.forEach(MANY, i -> {
      seen.add(i);
      return i == 3 ? Future.failedFuture(new IllegalStateException("tenants[3]: not registered"))
          : Future.succeededFuture();
    });
    assertThat(done.failed()).isTrue();
    assertThat(done.cause()).hasMessage("tenants[3]: not registered");
    assertThat(seen).containsExactly(0, 1, 2, 3);
  }

  @Test
  void aStepThatThrowsFailsTheRun() {
    Future<Void> done = Sequentially.forEach(List.of(1, 2), i -> {
      throw new IllegalArgumentException("boom " + i);
    });
    assertThat(done.cause()).hasMessage("boom 1");
  }
}
