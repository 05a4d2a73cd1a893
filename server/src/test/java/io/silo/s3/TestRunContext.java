package io.silo.s3;

import io.silo.jobs.JobDefinition;
import io.silo.jobs.PhaseName;
import io.silo.jobs.PhaseSpec;
import io.silo.jobs.RunContext;
import io.silo.jobs.TenantKey;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.SqlConnection;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * The job runner's side of a run, as small as the S3 phase needs: the phase's own SQL of each commit runs in a real
 * PostgreSQL transaction, and the checkpoint moves only once that transaction committed (like the runner's). A stop
 * can be requested after a number of commits, which is how the tests kill a run between batches.
 */
final class TestRunContext implements RunContext {

    final UUID migrationId;
    final String tenant;
    final JobDefinition definition;
    final Context context;
    final Pool pool;
    volatile String checkpoint;
    volatile TenantKey key;
    volatile long totalItems = -1;
    volatile long totalBytes = -1;
    volatile int stopAfterCommits = -1;
    volatile boolean stop;
    final List<Batch> commits = new CopyOnWriteArrayList<>();
    final List<ItemFailure> failures = new CopyOnWriteArrayList<>();

    TestRunContext(UUID migrationId, String tenant, S3Spec spec, Context context, Pool pool, String checkpoint) {
        this.migrationId = migrationId;
        this.tenant = tenant;
        this.definition = JobDefinition.of(PhaseName.S3, spec);
        this.context = context;
        this.pool = pool;
        this.checkpoint = checkpoint;
    }

    /** The same job resumed: same migration id and tenant, from this context's checkpoint. */
    TestRunContext resumed() {
        TestRunContext next = new TestRunContext(migrationId, tenant, definition.part(PhaseName.S3, S3Spec.class),
                context, pool, checkpoint);
        next.key = key;
        return next;
    }

    long done() {
        return commits.stream().mapToLong(Batch::done).sum();
    }

    @Override
    public UUID migrationId() {
        return migrationId;
    }

    @Override
    public String tenant() {
        return tenant;
    }

    @Override
    public JobDefinition definition() {
        return definition;
    }

    @Override
    public <T extends PhaseSpec> T spec(Class<T> type) {
        return definition.part(PhaseName.S3, type);
    }

    @Override
    public Context context() {
        return context;
    }

    @Override
    public TenantKey key() {
        return key;
    }

    @Override
    public Future<Void> bindKey(TenantKey key) {
        this.key = key;
        return Future.succeededFuture();
    }

    @Override
    public String checkpoint() {
        return checkpoint;
    }

    @Override
    public Future<Boolean> targetMayHoldTenant(String target) {
        return Future.succeededFuture(true);
    }

    @Override
    public Future<Optional<String>> sourcePurgedAt(String source) {
        return Future.succeededFuture(Optional.empty());
    }

    @Override
    public Future<Void> total(long items, long bytes) {
        totalItems = items;
        totalBytes = bytes;
        return Future.succeededFuture();
    }

    @Override
    public Future<Boolean> commit(Batch batch, Function<SqlConnection, Future<Void>> alsoInTransaction) {
        return pool.withTransaction(conn -> alsoInTransaction == null ? Future.succeededFuture()
                        : alsoInTransaction.apply(conn))
                .map(v -> {
                    checkpoint = batch.cursor();
                    commits.add(batch);
                    failures.addAll(batch.failures());
                    return !stopRequested();
                });
    }

    @Override
    public boolean stopRequested() {
        return stop || stopAfterCommits >= 0 && commits.size() >= stopAfterCommits;
    }

    @Override
    public Future<Void> notice(String text) {
        return Future.succeededFuture();
    }

    @Override
    public <T> Future<T> exclusive(Supplier<Future<T>> work) {
        return work.get();
    }

    List<String> failedIds() {
        List<String> ids = new ArrayList<>();
        failures.forEach(f -> ids.add(f.itemId()));
        return ids;
    }
}
