package io.silo.s3;

import io.silo.jobs.Phase;
import io.silo.jobs.RunContext;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.sqlclient.SqlClient;
import io.vertx.sqlclient.SqlConnection;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.UUID;

/**
 * One run of the S3 phase's copy loop for one tenant, on the run's Vert.x context (all state below is touched only
 * there). Documents are read a batch at a time in id order after the checkpoint; copies of up to
 * {@code objectsInFlight} documents run at once, across batch boundaries so the window never drains at the end of a
 * batch; each batch is committed, in order, once all its documents are done: the documents' silo_* columns, the
 * s3_migrations counters and the checkpoint (its last id) in one transaction. A stop is honoured between documents;
 * an unfinished batch is simply not committed, and its copies are found in place by the next run (HeadObject), not
 * made again.
 */
final class CopyRun {

    /** One batch (one page of the documents table) on its way to being committed. */
    private static final class Batch {
        final long lastId;
        int remaining;
        long done;
        long bytes;
        final List<DocumentsTable.Recorded> recorded = new ArrayList<>();
        final List<RunContext.ItemFailure> failures = new ArrayList<>();

        Batch(List<DocumentsTable.Doc> docs) {
            this.lastId = docs.get(docs.size() - 1).id();
            this.remaining = docs.size();
        }
    }

    private record Pending(DocumentsTable.Doc doc, Batch batch) {
    }

    private final RunContext run;
    private final SqlClient sql;
    private final DocumentsTable docs;
    private final ObjectCopier copier;
    private final long tenantId;
    private final String bucket;
    private final boolean targetMayHold;
    private final int batchSize;
    private final int objectsInFlight;
    private final UUID migrationId;

    private final Deque<Pending> queue = new ArrayDeque<>();
    private final Deque<Batch> batches = new ArrayDeque<>();
    private final Promise<Phase.Outcome> done = Promise.promise();
    private long fetchedAfter;
    private String committedCursor;
    private boolean exhausted;
    private boolean fetching;
    private boolean committing;
    private boolean finishing;
    private boolean stopping;
    private boolean noMoreCommits;
    private boolean startMarked;
    private int inFlight;
    private Throwable failure;
    private long copied;
    private long alreadyThere;
    private long failed;
    private long unencrypted;

    CopyRun(RunContext run, SqlClient sql, DocumentsTable docs, ObjectCopier copier, long tenantId, String bucket,
            boolean targetMayHold, int batchSize, int objectsInFlight) {
        this.run = run;
        this.sql = sql;
        this.docs = docs;
        this.copier = copier;
        this.tenantId = tenantId;
        this.bucket = bucket;
        this.targetMayHold = targetMayHold;
        this.batchSize = batchSize;
        this.objectsInFlight = objectsInFlight;
        this.migrationId = run.migrationId();
        this.committedCursor = run.checkpoint();
        this.fetchedAfter = cursor(run.checkpoint());
    }

    /** The document id a checkpoint names; 0 (before every id) for none. */
    static long cursor(String checkpoint) {
        if (checkpoint == null || checkpoint.isBlank()) {
            return 0;
        }
        try {
            return Long.parseLong(checkpoint.trim());
        } catch (NumberFormatException e) {
            throw new IllegalStateException("S3 checkpoint is not a document id: " + checkpoint, e);
        }
    }

    /** Runs to the end or to a stop; call on the run's context. */
    Future<Phase.Outcome> start() {
        pump();
        return done.future();
    }

    long copied() {
        return copied;
    }

    long alreadyThere() {
        return alreadyThere;
    }

    long failed() {
        return failed;
    }

    /** Copies the endpoint stored without the encryption they asked for. */
    long unencrypted() {
        return unencrypted;
    }

    private void pump() {
        if (done.future().isComplete()) {
            return;
        }
        if (!stopping && run.stopRequested()) {
            stopping = true;
        }
        while (!stopping && failure == null && inFlight < objectsInFlight && !queue.isEmpty()) {
            start(queue.poll());
        }
        if (!stopping && failure == null && !exhausted && !fetching && queue.size() < objectsInFlight) {
            fetch();
        }
        commitIfReady();
        maybeFinish();
    }

    private void start(Pending p) {
        inFlight++;
        copier.copy(p.doc(), bucket, targetMayHold).onComplete(ar -> {
            inFlight--;
            if (ar.failed()) {
                if (failure == null) {
                    failure = ar.cause();
                }
            } else {
                record(p, ar.result());
            }
            pump();
        });
    }

    private void record(Pending p, ObjectCopier.Result r) {
        DocumentsTable.Doc doc = p.doc();
        Batch b = p.batch();
        b.remaining--;
        switch (r.kind()) {
            case COPIED, ALREADY_THERE -> {
                if (r.kind() == ObjectCopier.Kind.COPIED) {
                    copied++;
                } else {
                    alreadyThere++;
                }
                b.done++;
                b.bytes += doc.size();
                if (!copier.encryptedAsAsked(r)) {
                    unencrypted++;
                }
                b.recorded.add(DocumentsTable.Recorded.copied(doc.id(), bucket, doc.targetKey(), r.versionId(),
                        r.etag(), r.sourceEtag()));
            }
            case FAILED -> {
                failed++;
                b.recorded.add(DocumentsTable.Recorded.failed(doc.id(), r.code() + ": " + r.message()));
                b.failures.add(new RunContext.ItemFailure(Long.toString(doc.id()), doc.key(), r.sourceVersionId(),
                        r.code(), r.httpStatus(), r.message()));
            }
        }
    }

    private void fetch() {
        fetching = true;
        here(docs.page(sql, tenantId, fetchedAfter, batchSize)).onComplete(ar -> {
            fetching = false;
            if (ar.failed()) {
                if (failure == null) {
                    failure = ar.cause();
                }
            } else {
                List<DocumentsTable.Doc> page = ar.result();
                if (page.size() < batchSize) {
                    exhausted = true;
                }
                if (!page.isEmpty()) {
                    Batch b = new Batch(page);
                    batches.add(b);
                    for (DocumentsTable.Doc d : page) {
                        queue.add(new Pending(d, b));
                    }
                    fetchedAfter = b.lastId;
                }
            }
            pump();
        });
    }

    private void commitIfReady() {
        if (committing || noMoreCommits || failure != null || batches.isEmpty() || batches.peek().remaining > 0) {
            return;
        }
        Batch head = batches.peek();
        committing = true;
        boolean first = !startMarked;
        RunContext.Batch progress = new RunContext.Batch(Long.toString(head.lastId), head.done, head.bytes,
                head.failures);
        here(run.commit(progress, conn -> started(conn, first).compose(v ->
                        docs.recordBatch(conn, tenantId, migrationId, head.recorded))))
                .onComplete(ar -> {
                    committing = false;
                    if (ar.failed()) {
                        if (failure == null) {
                            failure = ar.cause();
                        }
                    } else {
                        startMarked = true;
                        committedCursor = Long.toString(head.lastId);
                        batches.poll();
                        if (!ar.result()) {
                            stopping = true;
                            noMoreCommits = true;
                        }
                    }
                    pump();
                });
    }

    /** {@code f}'s outcome on the run's context, whichever thread completes it. */
    private <T> Future<T> here(Future<T> f) {
        return Future.fromCompletionStage(f.toCompletionStage(), run.context());
    }

    private Future<Void> started(SqlConnection conn, boolean first) {
        return first ? docs.markStarted(conn, tenantId, migrationId, bucket) : Future.succeededFuture();
    }

    private void maybeFinish() {
        if (inFlight > 0 || committing || fetching || finishing) {
            return;
        }
        if (failure != null) {
            done.tryFail(failure);
        } else if (stopping) {
            done.tryComplete(Phase.Outcome.STOPPED);
        } else if (exhausted && queue.isEmpty() && batches.isEmpty()) {
            finishing = true;
            boolean first = !startMarked;
            // An empty batch at the last cursor: the final state is fenced like every other write.
            String cursor = committedCursor == null ? "0" : committedCursor;
            here(run.commit(new RunContext.Batch(cursor, 0, 0, List.of()),
                            conn -> started(conn, first).compose(v -> docs.markFinished(conn, tenantId)).mapEmpty()))
                    .onComplete(ar -> {
                        if (ar.failed()) {
                            done.tryFail(ar.cause());
                        } else {
                            done.tryComplete(Phase.Outcome.COMPLETE);
                        }
                    });
        }
    }
}
