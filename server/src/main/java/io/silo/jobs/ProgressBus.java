package io.silo.jobs;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Predicate;

/**
 * Latest progress of every migration running in this process, and the watchers that follow it. Publishing never
 * waits on a watcher: a listener only records the newest snapshot and writes at its own pace, so a slow or stalled
 * watcher costs one snapshot per migration, never the migration's speed.
 */
public final class ProgressBus {

  /** A migration as it is now, with the current phase's rate and the estimated time left (null when unknown). */
  public record Snapshot(MigrationRecord migration, double ratePerSecond, Duration eta) {
  }

  /** Receives snapshots; called on the publisher's thread and must not block. */
  public interface Listener {
    void onSnapshot(Snapshot snapshot);
  }

  private record Subscription(Predicate<MigrationRecord> filter, Listener listener) {
  }

  private final Map<UUID, Snapshot> latest = new ConcurrentHashMap<>();
  private final List<Subscription> subscriptions = new CopyOnWriteArrayList<>();

  /** Records and fans out a snapshot. Final snapshots are not kept: late watchers read those from the store. */
  public void publish(Snapshot snapshot) {
    MigrationRecord m = snapshot.migration();
    if (m.isFinal()) {
      latest.remove(m.id());
    } else {
      latest.put(m.id(), snapshot);
    }
    for (Subscription s : subscriptions) {
      if (s.filter.test(m)) {
        s.listener.onSnapshot(snapshot);
      }
    }
  }

  /** Publishes a store record with no rate information (state changes made by API calls). */
  public void publish(MigrationRecord record) {
    Snapshot previous = latest.get(record.id());
    publish(new Snapshot(record, previous == null || record.isFinal() ? 0 : previous.ratePerSecond(),
        previous == null || record.isFinal() ? null : previous.eta()));
  }

  /** Starts delivering matching snapshots; close the returned handle to stop. */
  public AutoCloseable subscribe(Predicate<MigrationRecord> filter, Listener listener) {
    Subscription s = new Subscription(filter, listener);
    subscriptions.add(s);
    return () -> subscriptions.remove(s);
  }

  public Optional<Snapshot> latest(UUID id) {
    return Optional.ofNullable(latest.get(id));
  }

  public int watcherCount() {
    return subscriptions.size();
  }
}
