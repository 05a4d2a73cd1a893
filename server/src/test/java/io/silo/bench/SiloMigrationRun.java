package io.silo.bench;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.silo.api.v1.CreateTenantKeyRequest;
import io.silo.api.v1.CreateTenantKeyResponse;
import io.silo.api.v1.GetMigrationRequest;
import io.silo.api.v1.KeyServiceGrpc;
import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationDefinition;
import io.silo.api.v1.MigrationPhase;
import io.silo.api.v1.MigrationServiceGrpc;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.PhaseProgress;
import io.silo.api.v1.RegisterTenantRequest;
import io.silo.api.v1.StartMigrationRequest;
import io.silo.api.v1.StartMigrationResponse;
import io.silo.api.v1.TenantServiceGrpc;
import io.silo.mongo.EncryptionPlan.Namespace;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Supplier;

/** Drives one Silo server over gRPC: registers the tenants, ensures their keys, and times a migration of all of them. */
final class SiloMigrationRun {

  private static final Set<MigrationState> FINAL = Set.of(MigrationState.MIGRATION_STATE_COMPLETED,
      MigrationState.MIGRATION_STATE_FAILED, MigrationState.MIGRATION_STATE_CANCELLED,
      MigrationState.MIGRATION_STATE_ROLLED_BACK);

  /** What a timed migration came to; {@code measurement} is null when it could not be measured. */
  record Outcome(Measurement measurement, String problem, boolean unimplemented) {
  }

  private final ManagedChannel channel;
  private final Consumer<String> progress;
  private final Supplier<String> status;

  SiloMigrationRun(ManagedChannel channel, Consumer<String> progress) {
    this(channel, progress, () -> "");
  }

  /** @param status extra text for each progress line, e.g. the server's heap in the heap check */
  SiloMigrationRun(ManagedChannel channel, Consumer<String> progress, Supplier<String> status) {
    this.channel = channel;
    this.progress = progress;
    this.status = status;
  }

  /**
   * Registers each tenant (idempotent) and makes sure its data key exists, so neither is part of the timed run.
   *
   * @return each slug's key id, as the canonical UUID string the server reports
   */
  Map<String, UUID> prepareTenants(List<String> slugs) {
    TenantServiceGrpc.TenantServiceBlockingStub tenants = TenantServiceGrpc.newBlockingStub(channel);
    KeyServiceGrpc.KeyServiceBlockingStub keys = KeyServiceGrpc.newBlockingStub(channel);
    Map<String, UUID> out = new LinkedHashMap<>();
    int created = 0;
    for (String slug : slugs) {
      tenants.withDeadlineAfter(30, TimeUnit.SECONDS).registerTenant(RegisterTenantRequest.newBuilder()
          .setSlug(slug).setDisplayName("Benchmark tenant " + slug).build());
      CreateTenantKeyResponse key = keys.withDeadlineAfter(60, TimeUnit.SECONDS)
          .createTenantKey(CreateTenantKeyRequest.newBuilder().setTenant(slug).build());
      created += key.getCreated() ? 1 : 0;
      out.put(slug, UUID.fromString(key.getKey().getKeyId()));
    }
    progress.accept(String.format(Locale.ROOT, "%d tenants registered; data keys: %d created, %d already there",
        slugs.size(), created, slugs.size() - created));
    return out;
  }

  /**
   * StartMigration for every tenant into {@code target}, then GetMigration every 100 ms until each migration is
   * final. The time runs from just before StartMigration to the latest complete_time the server reports (or, if it
   * reports none, to the poll that saw the last migration finish).
   */
  Outcome migrateAll(String label, Namespace target, long expectedDocs, Duration timeout) throws InterruptedException {
    return migrate(label, List.of(), target, expectedDocs, timeout);
  }

  /**
   * As {@link #migrateAll}, for the listed tenants only, or all when {@code tenants} is empty; {@code expectedDocs}
   * 0 takes the count the server reports.
   */
  Outcome migrate(String label, List<String> tenants, Namespace target, long expectedDocs, Duration timeout)
      throws InterruptedException {
    MigrationServiceGrpc.MigrationServiceBlockingStub stub = MigrationServiceGrpc.newBlockingStub(channel);
    StartMigrationRequest request = StartMigrationRequest.newBuilder()
        .setAllTenants(tenants.isEmpty())
        .addAllTenants(tenants)
        .setDefinition(MigrationDefinition.newBuilder()
            .setTargetNamespace(target.toString())
            // The benchmark is about the MONGO phase; the S3 phase has its own numbers.
            .setIncludeS3(false))
        .setIdempotencyKey("migration-benchmark-" + UUID.randomUUID())
        .build();
    long startWallMillis = System.currentTimeMillis();
    long t0 = System.nanoTime();
    StartMigrationResponse started;
    try {
      started = stub.withDeadlineAfter(120, TimeUnit.SECONDS).startMigration(request);
    } catch (StatusRuntimeException e) {
      boolean unimplemented = e.getStatus().getCode() == Status.Code.UNIMPLEMENTED;
      return new Outcome(null, "StartMigration failed: " + e.getStatus().getCode() + ": "
          + e.getStatus().getDescription(), unimplemented);
    }
    if (started.getMigrationsCount() == 0) {
      return new Outcome(null, "StartMigration returned no migrations (are the tenants already isolated?)", false);
    }
    Map<String, Migration> latest = new LinkedHashMap<>();
    started.getMigrationsList().forEach(m -> latest.put(m.getId(), m));
    long deadline = t0 + timeout.toNanos();
    long lastFinalSeen = t0;
    long nextReport = System.nanoTime() + 2_000_000_000L;
    while (true) {
      boolean allFinal = true;
      for (Map.Entry<String, Migration> e : latest.entrySet()) {
        if (FINAL.contains(e.getValue().getState())) {
          continue;
        }
        Migration now = stub.withDeadlineAfter(30, TimeUnit.SECONDS)
            .getMigration(GetMigrationRequest.newBuilder().setMigrationId(e.getKey()).build()).getMigration();
        e.setValue(now);
        if (FINAL.contains(now.getState())) {
          lastFinalSeen = System.nanoTime();
        } else {
          allFinal = false;
        }
      }
      if (allFinal) {
        break;
      }
      if (System.nanoTime() > deadline) {
        return new Outcome(null, String.format(Locale.ROOT, "not finished after %d s: %s", timeout.toSeconds(),
            summary(latest.values())), false);
      }
      if (System.nanoTime() >= nextReport) {
        nextReport = System.nanoTime() + 2_000_000_000L;
        long done = mongoDone(latest.values());
        String extra = status.get();
        progress.accept(String.format(Locale.ROOT, "  %s: %,d / %,d docs, %.0f docs/s so far (%s)%s", label, done,
            expectedDocs, done / ((System.nanoTime() - t0) / 1e9), summary(latest.values()),
            extra.isEmpty() ? "" : "; " + extra));
      }
      Thread.sleep(100);
    }
    long polledNanos = lastFinalSeen - t0;
    long latestComplete = 0;
    for (Migration m : latest.values()) {
      if (m.hasCompleteTime()) {
        latestComplete = Math.max(latestComplete, m.getCompleteTime().getSeconds() * 1000
            + m.getCompleteTime().getNanos() / 1_000_000);
      }
    }
    long nanos = latestComplete > startWallMillis
        ? Math.min(polledNanos, (latestComplete - startWallMillis) * 1_000_000L) : polledNanos;
    List<String> failed = new ArrayList<>();
    for (Migration m : latest.values()) {
      if (m.getState() != MigrationState.MIGRATION_STATE_COMPLETED) {
        failed.add(m.getTenant() + " " + m.getState() + (m.getLastError().isEmpty() ? "" : " (" + m.getLastError() + ")"));
      }
    }
    long docs = mongoDone(latest.values());
    String note = latest.size() + " migrations" + (docs == expectedDocs || expectedDocs <= 0 ? ""
        : String.format(Locale.ROOT, "; server reported %,d docs done", docs));
    Measurement measurement = new Measurement(label, expectedDocs > 0 ? expectedDocs : docs, nanos, note);
    if (!failed.isEmpty()) {
      return new Outcome(measurement, "not COMPLETED: " + String.join("; ", failed), false);
    }
    return new Outcome(measurement, null, false);
  }

  private static long mongoDone(Iterable<Migration> migrations) {
    long done = 0;
    for (Migration m : migrations) {
      for (PhaseProgress p : m.getProgressList()) {
        if (p.getPhase() == MigrationPhase.MIGRATION_PHASE_MONGO) {
          done += p.getDone();
        }
      }
    }
    return done;
  }

  private static String summary(Iterable<Migration> migrations) {
    Map<String, Integer> counts = new LinkedHashMap<>();
    for (Migration m : migrations) {
      String key = m.getState().name().replace("MIGRATION_STATE_", "")
          + (m.getState() == MigrationState.MIGRATION_STATE_RUNNING
          ? "/" + m.getPhase().name().replace("MIGRATION_PHASE_", "") : "");
      counts.merge(key, 1, Integer::sum);
    }
    return counts.toString();
  }
}
