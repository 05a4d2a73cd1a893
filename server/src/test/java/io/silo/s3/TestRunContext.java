package io.silo.s3;

import io.silo.jobs.BasicRunContext;
import io.silo.jobs.PhaseName;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.SqlConnection;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;

/**
 * The job runner's side of a run, as small as the S3 phase needs: the phase's own SQL of each commit runs in a real
 * PostgreSQL transaction, and the checkpoint moves only once that transaction committed (like the runner's). A stop
 * can be requested after a number of commits, which is how the tests kill a run between batches.
 */
final class TestRunContext extends BasicRunContext {

    final Pool pool;
    volatile long totalItems = -1;
    volatile long totalBytes = -1;
    volatile int stopAfterCommits = -1;
    volatile boolean stop;
    final List<Batch> commits = new CopyOnWriteArrayList<>();
    final List<ItemFailure> failures = new CopyOnWriteArrayList<>();

    TestRunContext(UUID migrationId, String tenant, S3Spec spec, Context context, Pool pool, String checkpoint) {
        super(migrationId, tenant, PhaseName.S3, spec, context, checkpoint);
        this.pool = pool;
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
    public Future<Boolean> targetMayHoldTenant(String target) {
        return Future.succeededFuture(true);
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



    List<String> failedIds() {
        List<String> ids = new ArrayList<>();
        failures.forEach(f -> ids.add(f.itemId()));
        return ids;
    }
}
