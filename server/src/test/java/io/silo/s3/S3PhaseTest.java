package io.silo.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.silo.SiloException;
import io.silo.TestPostgres;
import io.silo.config.SiloConfig;
import io.silo.jobs.Finding;
import io.silo.jobs.JobDefinition;
import io.silo.jobs.Phase;
import io.silo.jobs.PhaseName;
import io.silo.jobs.TenantKey;
import io.silo.store.Database;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.core.async.AsyncRequestBody;
import software.amazon.awssdk.core.interceptor.Context;
import software.amazon.awssdk.core.interceptor.ExecutionAttributes;
import software.amazon.awssdk.core.interceptor.ExecutionInterceptor;
import software.amazon.awssdk.services.s3.model.BucketVersioningStatus;
import software.amazon.awssdk.services.s3.model.CopyObjectRequest;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.ServerSideEncryption;

/**
 * The S3 phase against the dev stack's in-process S3 (S3Mock 4.7) and a real PostgreSQL: copies, tracking,
 * resumption, faults, verify, rollback and purge. Each test works on a tenant of its own.
 */
class S3PhaseTest {

    @TempDir
    static Path dir;
    private static S3Estate estate;
    private static S3Phase phase;

    @BeforeAll
    static void start() throws Exception {
        estate = S3Estate.onS3Mock(dir);
        phase = estate.phase();
    }

    @AfterAll
    static void close() throws Exception {
        if (estate != null) {
            estate.close();
        }
    }

    private static byte[] bytes(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }

    /** A tenant with {@code count} ordinary documents of 1-20 KB; returns their ids in order. */
    private static List<Long> tenantWith(String slug, int count) throws Exception {
        long tenant = estate.tenant(slug);
        List<Long> ids = new ArrayList<>();
        Random random = new Random(slug.hashCode());
        for (int i = 0; i < count; i++) {
            ids.add(estate.document(tenant, "report " + i + ".pdf", "uploads/" + slug + "/" + i + "-report.pdf",
                    bytes(1024 + random.nextInt(19 * 1024), random.nextLong()), "application/pdf",
                    Map.of("uploaded-by", "user-" + i)));
        }
        return ids;
    }

    private static Phase.Outcome migrate(String slug) throws Exception {
        return S3Estate.run(phase, estate.run(slug, estate.spec()));
    }

    private static Phase.Verified verify(String slug, List<Finding> findings) throws Exception {
        return S3Estate.await(phase.verify(estate.scope(slug, estate.spec(), findings)));
    }

    private static List<Finding> problems(List<Finding> findings) {
        return findings.stream().filter(f -> !f.kind().equals(S3Verifier.CONTROL_UNSUPPORTED)).toList();
    }

    private static String key(String slug, long id) throws Exception {
        return (String) estate.one("SELECT silo_key FROM public.documents WHERE id = " + id);
    }

    /** Counts the CopyObject requests a phase sends. */
    private static final class CopyCounter implements ExecutionInterceptor {
        final AtomicInteger copies = new AtomicInteger();

        // Counted when a copy succeeds, not per transmission: the HTTP layer may send a request again (a pooled
        // connection closed under it), which is one copy, not two; versions per key are checked separately.
        @Override
        public void afterExecution(Context.AfterExecution context, ExecutionAttributes attributes) {
            if (context.request() instanceof CopyObjectRequest) {
                copies.incrementAndGet();
            }
        }
    }

    @Test
    void hostileNamesLandAtTheirSanitizedKeysWithTheOriginalNameKeptForDownloads() throws Exception {
        String slug = "hostile";
        long tenant = estate.tenant(slug);
        List<String> names = List.of("../../etc/passwd", "résumé.pdf", "re\u0301sume\u0301.pdf",
                "名".repeat(666) + ".pdf", "", "invoice\u202Efdp.exe", "\u202E\u2066\u200D", "tab\tnew\nline.txt",
                "a/b\\c.txt", "  .hidden  ");
        Map<Long, String> byId = new HashMap<>();
        for (int i = 0; i < names.size(); i++) {
            byId.put(estate.document(tenant, names.get(i), "uploads/hostile/" + i, bytes(500 + i, i), "text/plain",
                    Map.of()), names.get(i));
        }
        assertThat(names.get(3).getBytes(StandardCharsets.UTF_8).length).isGreaterThan(2_000);

        assertThat(migrate(slug)).isEqualTo(Phase.Outcome.COMPLETE);

        String bucket = estate.bucketOf(slug);
        for (Map.Entry<Long, String> doc : byId.entrySet()) {
            String key = key(slug, doc.getKey());
            assertThat(key).isEqualTo(FilenameSanitizer.key(Long.toString(doc.getKey()), doc.getValue()));
            assertThat(key).startsWith("documents/" + doc.getKey() + "/").doesNotContain("..", "\u202E", "\t", "\n");
            assertThat(key.getBytes(StandardCharsets.UTF_8).length).isLessThanOrEqualTo(1024);
            HeadObjectResponse head = estate.direct.headObject(b -> b.bucket(bucket).key(key)).get(30, TimeUnit.SECONDS);
            String disposition = head.contentDisposition();
            assertThat(disposition).doesNotContain("\n", "\t", "\u202E");
            String original = URLDecoder.decode(disposition.substring(disposition.indexOf("UTF-8''") + 7)
                    .replace("+", "%2B"), StandardCharsets.UTF_8);
            String expected = doc.getValue().isEmpty() ? "file" : doc.getValue();
            if (expected.length() > 400) {
                assertThat(original).endsWith(".pdf").hasSizeLessThan(expected.length());
                assertThat(expected).startsWith(original.substring(0, original.length() - 4));
            } else {
                assertThat(original).isEqualTo(expected);
            }
        }
        assertThat(key(slug, idOf(byId, "../../etc/passwd"))).endsWith("/passwd");
        assertThat(key(slug, idOf(byId, ""))).endsWith("/file");
        // Equal after NFC: the same file name part, at each document's own key.
        String composed = key(slug, idOf(byId, "résumé.pdf"));
        String decomposed = key(slug, idOf(byId, "re\u0301sume\u0301.pdf"));
        assertThat(composed.substring(composed.lastIndexOf('/'))).isEqualTo(decomposed.substring(decomposed.lastIndexOf('/')));
        assertThat(composed).isNotEqualTo(decomposed);
        assertThat(estate.keys(bucket)).hasSize(names.size());
    }

    private static long idOf(Map<Long, String> byId, String name) {
        return byId.entrySet().stream().filter(e -> e.getValue().equals(name)).findFirst().orElseThrow().getKey();
    }

    @Test
    void aReRunCopiesNothingAndAddsNoVersions() throws Exception {
        String slug = "rerun";
        tenantWith(slug, 30);
        assertThat(migrate(slug)).isEqualTo(Phase.Outcome.COMPLETE);
        String bucket = estate.bucketOf(slug);
        Map<String, Integer> before = estate.versions(bucket);

        CopyCounter counter = new CopyCounter();
        S3Phase counted = estate.phase(estate.endpoint(), b -> b.overrideConfiguration(c ->
                c.addExecutionInterceptor(counter)));
        TestRunContext again = estate.run(slug, estate.spec());
        assertThat(S3Estate.run(counted, again)).isEqualTo(Phase.Outcome.COMPLETE);

        assertThat(counter.copies).hasValue(0);
        assertThat(again.done()).isEqualTo(30);
        assertThat(estate.versions(bucket)).isEqualTo(before).hasSize(30).allSatisfy((k, n) -> assertThat(n).isOne());
    }

    @Test
    void aRunStoppedAfterThreeBatchesResumesFromItsCheckpointWithNothingMissingAndNoExtraVersion() throws Exception {
        String slug = "resume";
        List<Long> ids = tenantWith(slug, 100);
        S3Spec spec = S3Spec.fromJson(new io.vertx.core.json.JsonObject().put("batchSize", 10)
                .put("copyConcurrency", 8), estate.spec());
        TestRunContext first = estate.run(slug, spec);
        first.stopAfterCommits = 3;

        assertThat(S3Estate.run(phase, first)).isEqualTo(Phase.Outcome.STOPPED);
        assertThat(first.checkpoint).isEqualTo(Long.toString(ids.get(29)));
        assertThat(estate.one("SELECT count(*) FROM public.documents WHERE silo_status = 'COPIED' AND tenant_id ="
                + " (SELECT id FROM public.tenants WHERE slug = 'resume')")).isEqualTo(30L);
        String bucket = estate.bucketOf(slug);
        int landedBeforeStop = estate.keys(bucket).size();
        assertThat(landedBeforeStop).isGreaterThanOrEqualTo(30);

        CopyCounter counter = new CopyCounter();
        S3Phase counted = estate.phase(estate.endpoint(), b -> b.overrideConfiguration(c ->
                c.addExecutionInterceptor(counter)));
        TestRunContext resumed = first.resumed();
        assertThat(S3Estate.run(counted, resumed)).isEqualTo(Phase.Outcome.COMPLETE);

        // Copies that landed after the last checkpoint were found in place, not made again.
        assertThat(counter.copies).hasValue(100 - landedBeforeStop);
        assertThat(estate.versions(bucket)).hasSize(100).allSatisfy((k, n) -> assertThat(n).isOne());
        List<Finding> findings = new CopyOnWriteArrayList<>();
        assertThat(verify(slug, findings).problems()).as(findings.toString()).isZero();
        assertThat(estate.one("SELECT documents_migrated FROM public.s3_migrations WHERE tenant_id ="
                + " (SELECT id FROM public.tenants WHERE slug = 'resume')")).isEqualTo(100);
    }

    @Test
    void throughSlowDownsServerErrorsAndResetsTheRunCompletesVerifiesCleanAndAddsNoVersion() throws Exception {
        String slug = "faulty";
        tenantWith(slug, 60);
        try (FaultProxy proxy = FaultProxy.start(estate.vertx, estate.endpoint(), 0.10, 0, 42)) {
            S3Phase throughFaults = estate.phase(proxy.endpoint(), null);
            TestRunContext run = estate.run(slug, estate.spec());
            assertThat(S3Estate.run(throughFaults, run)).isEqualTo(Phase.Outcome.COMPLETE);

            assertThat(proxy.slowDowns.get()).isPositive();
            assertThat(proxy.serverErrors.get()).isPositive();
            assertThat(proxy.resets.get()).isPositive();
            assertThat(run.failures).isEmpty();
            List<Finding> findings = new CopyOnWriteArrayList<>();
            Phase.Verified verified = S3Estate.await(throughFaults.verify(estate.scope(slug, estate.spec(), findings)));
            assertThat(verified.problems()).as(findings.toString()).isZero();
            assertThat(verified.checked()).isEqualTo(60);
        }
        assertThat(estate.versions(estate.bucketOf(slug))).hasSize(60).allSatisfy((k, n) -> assertThat(n).isOne());
    }

    @Test
    void rollbackDeletesTheCopiesAndTheBucketLeavesTheSourceAndTheTenantMigratesAgain() throws Exception {
        String slug = "undo";
        tenantWith(slug, 25);
        assertThat(migrate(slug)).isEqualTo(Phase.Outcome.COMPLETE);
        String bucket = estate.bucketOf(slug);
        List<String> sources = estate.keys(S3Estate.SHARED).stream().filter(k -> k.startsWith("uploads/undo/"))
                .toList();

        Phase.Removed removed = S3Estate.await(phase.rollback(estate.scope(slug, estate.spec(), new ArrayList<>())));

        assertThat(removed).isEqualTo(new Phase.Removed(25, 0));
        assertThatThrownBy(() -> estate.direct.headBucket(b -> b.bucket(bucket)).join()).hasMessageContaining("404");
        assertThat(estate.one("SELECT state FROM silo.tenant_buckets WHERE bucket = '" + bucket + "'"))
                .isEqualTo("DELETED");
        assertThat(estate.one("SELECT count(*) FROM public.documents d JOIN public.tenants t ON t.id = d.tenant_id"
                + " WHERE t.slug = 'undo' AND (d.silo_status IS NOT NULL OR d.silo_key IS NOT NULL)")).isEqualTo(0L);
        assertThat(estate.one("SELECT status FROM public.s3_migrations sm JOIN public.tenants t ON t.id ="
                + " sm.tenant_id WHERE t.slug = 'undo'")).isEqualTo("ROLLED_BACK");
        assertThat(estate.one("SELECT silo_status FROM public.tenants WHERE slug = 'undo'")).isEqualTo("POOLED");
        assertThat(estate.keys(S3Estate.SHARED).stream().filter(k -> k.startsWith("uploads/undo/")))
                .containsExactlyElementsOf(sources);
        assertThat(S3Estate.await(phase.rollback(estate.scope(slug, estate.spec(), new ArrayList<>()))))
                .isEqualTo(new Phase.Removed(0, 0));

        assertThat(migrate(slug)).isEqualTo(Phase.Outcome.COMPLETE);
        assertThat(estate.bucketOf(slug)).isEqualTo(bucket);
        List<Finding> findings = new CopyOnWriteArrayList<>();
        assertThat(verify(slug, findings).problems()).as(findings.toString()).isZero();
        assertThat(estate.one("SELECT silo_status FROM public.tenants WHERE slug = 'undo'")).isEqualTo("ISOLATED");
    }

    @Test
    void verifyFindsADeletedAChangedAndExtraObjectsAndAChangedSource() throws Exception {
        String slug = "drift";
        List<Long> ids = tenantWith(slug, 10);
        assertThat(migrate(slug)).isEqualTo(Phase.Outcome.COMPLETE);
        String bucket = estate.bucketOf(slug);
        String deleted = key(slug, ids.get(1));
        String changed = key(slug, ids.get(2));
        String sourceChanged = key(slug, ids.get(3));
        estate.direct.deleteObject(b -> b.bucket(bucket).key(deleted)).join();
        estate.direct.putObject(b -> b.bucket(bucket).key(changed), AsyncRequestBody.fromString("tampered")).join();
        // Same size, other bytes: only the checksum (ETag) can tell.
        int size = ((Long) estate.one("SELECT size_bytes FROM public.documents WHERE id = " + ids.get(3))).intValue();
        estate.direct.putObject(b -> b.bucket(S3Estate.SHARED).key("uploads/drift/3-report.pdf"),
                AsyncRequestBody.fromBytes(bytes(size, 99))).join();
        estate.direct.putObject(b -> b.bucket(bucket).key("documents/999999999/other.pdf"),
                AsyncRequestBody.fromString("x")).join();
        estate.direct.putObject(b -> b.bucket(bucket).key("stray.txt"), AsyncRequestBody.fromString("x")).join();
        estate.direct.putObject(b -> b.bucket(bucket).key("temp/upload-in-progress"), AsyncRequestBody.fromString("x"))
                .join();
        // A control turned off is checked on RGW (S3PhaseRgwTest): S3Mock 4.7 loses a bucket's objects when its
        // versioning or lifecycle configuration is put again.

        List<Finding> findings = new CopyOnWriteArrayList<>();
        Phase.Verified verified = verify(slug, findings);

        assertThat(problems(findings)).extracting(f -> f.kind() + " " + (f.field() == null ? f.item() : f.field()))
                .containsExactlyInAnyOrder(
                        "OBJECT_MISSING " + deleted,
                        "OBJECT_MISMATCH " + changed,
                        "OBJECT_MISMATCH " + sourceChanged,
                        "OBJECT_EXTRA documents/999999999/other.pdf",
                        "OBJECT_EXTRA stray.txt");
        assertThat(verified.problems()).isEqualTo(5);
        assertThat(verified.checked()).isEqualTo(10);
        assertThat(findings.stream().filter(f -> f.item().equals(sourceChanged)).findFirst().orElseThrow().message())
                .contains("source changed since the copy");
    }

    @Test
    void purgeDeletesOnlyUnchangedSourcesAndRollbackThenKeepsTheOnlyCopies() throws Exception {
        String slug = "purged";
        List<Long> ids = tenantWith(slug, 12);
        assertThat(migrate(slug)).isEqualTo(Phase.Outcome.COMPLETE);
        assertThat(verify(slug, new ArrayList<>()).problems()).isZero();
        String bucket = estate.bucketOf(slug);
        // After the clean verify: one source changes, one copy is deleted.
        estate.direct.putObject(b -> b.bucket(S3Estate.SHARED).key("uploads/purged/0-report.pdf"),
                AsyncRequestBody.fromString("edited later")).join();
        estate.direct.deleteObject(b -> b.bucket(bucket).key(FilenameSanitizer.key(Long.toString(ids.get(1)),
                "report 1.pdf"))).join();

        Phase.Removed purged = S3Estate.await(phase.purge(estate.scope(slug, estate.spec(), new ArrayList<>())));

        assertThat(purged).isEqualTo(new Phase.Removed(10, 2));
        assertThat(estate.keys(S3Estate.SHARED).stream().filter(k -> k.startsWith("uploads/purged/")))
                .containsExactlyInAnyOrder("uploads/purged/0-report.pdf", "uploads/purged/1-report.pdf");
        assertThat(estate.column("SELECT id FROM public.documents WHERE silo_source_purged_at IS NOT NULL"
                + " AND tenant_id = (SELECT id FROM public.tenants WHERE slug = 'purged') ORDER BY id"))
                .containsExactlyElementsOf(new ArrayList<Object>(ids.subList(2, 12)));
        assertThat(S3Estate.await(phase.purge(estate.scope(slug, estate.spec(), new ArrayList<>()))))
                .as("a repeated purge deletes nothing more").isEqualTo(new Phase.Removed(0, 2));

        Phase.Removed rolledBack = S3Estate.await(phase.rollback(estate.scope(slug, estate.spec(), new ArrayList<>())));

        // The ten copies whose sources are gone stay. Doc 0's copy goes (its source still exists), and so does what
        // is left of doc 1's deleted copy (its old version under a delete marker).
        assertThat(rolledBack).isEqualTo(new Phase.Removed(2, 10));
        assertThat(estate.keys(bucket)).hasSize(10);
        for (long id : ids.subList(2, 12)) {
            assertThat(estate.one("SELECT silo_status FROM public.documents WHERE id = " + id)).isEqualTo("COPIED");
        }
        assertThat(estate.one("SELECT silo_status FROM public.tenants WHERE slug = 'purged'")).isNotEqualTo("POOLED");
        List<Finding> findings = new CopyOnWriteArrayList<>();
        verify(slug, findings);
        assertThat(problems(findings)).extracting(Finding::kind).containsOnly("OBJECT_MISSING");
    }

    /**
     * A write that lands after purge's HeadObject check and before its DeleteObject: the delete carries
     * {@code If-Match}, which S3Mock honours (412), so the new object is kept.
     */
    @Test
    void aSourceWrittenBetweenPurgesCheckAndItsDeleteIsKeptByTheConditionalDelete() throws Exception {
        String slug = "racing";
        tenantWith(slug, 3);
        assertThat(migrate(slug)).isEqualTo(Phase.Outcome.COMPLETE);
        String racedKey = "uploads/racing/1-report.pdf";
        java.util.concurrent.atomic.AtomicBoolean raced = new java.util.concurrent.atomic.AtomicBoolean();
        ExecutionInterceptor writer = new ExecutionInterceptor() {
            @Override
            public void beforeTransmission(Context.BeforeTransmission context, ExecutionAttributes attributes) {
                if (context.request() instanceof software.amazon.awssdk.services.s3.model.DeleteObjectRequest d
                        && d.key().equals(racedKey) && raced.compareAndSet(false, true)) {
                    estate.direct.putObject(b -> b.bucket(S3Estate.SHARED).key(racedKey),
                            AsyncRequestBody.fromString("written by the application just now")).join();
                }
            }
        };
        S3Phase racing = estate.phase(estate.endpoint(), b -> b.overrideConfiguration(c ->
                c.addExecutionInterceptor(writer)));

        Phase.Removed purged = S3Estate.await(racing.purge(estate.scope(slug, estate.spec(), new ArrayList<>())));

        assertThat(raced).isTrue();
        assertThat(purged).isEqualTo(new Phase.Removed(2, 1));
        assertThat(estate.get(S3Estate.SHARED, racedKey)).asString().isEqualTo("written by the application just now");
        assertThat(estate.one("SELECT count(*) FROM public.documents WHERE silo_source_purged_at IS NOT NULL AND"
                + " tenant_id = (SELECT id FROM public.tenants WHERE slug = 'racing')")).isEqualTo(2L);
    }

    @Test
    void purgeInAVersionedSharedBucketDeletesExactlyTheVerifiedVersionWithoutADeleteMarker() throws Exception {
        String slug = "versioned";
        String legacy = "legacy-versioned-" + UUID.randomUUID().toString().substring(0, 6);
        estate.direct.createBucket(b -> b.bucket(legacy)).join();
        estate.direct.putBucketVersioning(b -> b.bucket(legacy).versioningConfiguration(v -> v
                .status(BucketVersioningStatus.ENABLED))).join();
        long tenant = estate.tenant(slug);
        estate.direct.putObject(b -> b.bucket(legacy).key("a.pdf"), AsyncRequestBody.fromString("first draft")).join();
        byte[] current = bytes(3000, 5);
        estate.direct.putObject(b -> b.bucket(legacy).key("a.pdf"), AsyncRequestBody.fromBytes(current)).join();
        estate.sql("INSERT INTO public.documents (tenant_id, filename, s3_bucket, s3_key, size_bytes, content_type)"
                + " VALUES (" + tenant + ", 'a.pdf', '" + legacy + "', 'a.pdf', 3000, 'application/pdf')");

        assertThat(migrate(slug)).isEqualTo(Phase.Outcome.COMPLETE);
        assertThat(estate.get(estate.bucketOf(slug), (String) estate.one("SELECT silo_key FROM public.documents"
                + " WHERE s3_bucket = '" + legacy + "'"))).isEqualTo(current);
        assertThat(S3Estate.await(phase.purge(estate.scope(slug, estate.spec(), new ArrayList<>()))))
                .isEqualTo(new Phase.Removed(1, 0));

        var versions = estate.direct.listObjectVersions(b -> b.bucket(legacy)).join();
        assertThat(versions.deleteMarkers()).isEmpty();
        assertThat(versions.versions()).hasSize(1);
        assertThat(estate.get(legacy, "a.pdf")).asString().isEqualTo("first draft");
    }

    @Test
    void objectsAboveTheThresholdAreCopiedInPartsByteIdenticalWithTheirMetadata() throws Exception {
        String slug = "large";
        long tenant = estate.tenant(slug);
        byte[] big = bytes(12 * 1024 * 1024 + 123, 7);
        long id = estate.document(tenant, "scan.tiff", "uploads/large/scan.tiff", big, "image/tiff",
                Map.of("scanner", "north-wing"));
        estate.document(tenant, "note.txt", "uploads/large/note.txt", bytes(100, 8), "text/plain", Map.of());
        S3Spec spec = S3Spec.fromJson(new io.vertx.core.json.JsonObject().put("multipartThresholdBytes", 6L << 20)
                .put("partSizeBytes", 5L << 20), estate.spec());

        assertThat(S3Estate.run(phase, estate.run(slug, spec))).isEqualTo(Phase.Outcome.COMPLETE);

        String bucket = estate.bucketOf(slug);
        String key = FilenameSanitizer.key(Long.toString(id), "scan.tiff");
        HeadObjectResponse head = estate.direct.headObject(b -> b.bucket(bucket).key(key)).get(30, TimeUnit.SECONDS);
        assertThat(head.eTag()).endsWith("-3\"");
        assertThat(head.metadata()).containsEntry("scanner", "north-wing");
        assertThat(head.contentDisposition()).contains("scan.tiff");
        assertThat(estate.get(bucket, key)).isEqualTo(big);
        assertThat(verify(slug, new ArrayList<>()).problems()).isZero();
        // A re-run finds the multipart copy in place (its recorded source ETag) and writes no new version.
        assertThat(S3Estate.run(phase, estate.run(slug, spec))).isEqualTo(Phase.Outcome.COMPLETE);
        assertThat(estate.versions(bucket)).containsEntry(key, 1);
    }

    @Test
    void aDocumentThatCannotBeCopiedIsAFailedItemKeyedByItsIdAndTheTenantIsNotIsolated() throws Exception {
        String slug = "broken";
        List<Long> ids = tenantWith(slug, 5);
        estate.direct.deleteObject(b -> b.bucket(S3Estate.SHARED).key("uploads/broken/2-report.pdf")).join();
        TestRunContext run = estate.run(slug, estate.spec());

        assertThat(S3Estate.run(phase, run)).isEqualTo(Phase.Outcome.COMPLETE);

        assertThat(run.failures).singleElement().satisfies(f -> {
            assertThat(f.itemId()).isEqualTo(Long.toString(ids.get(2)));
            assertThat(f.itemKey()).isEqualTo("uploads/broken/2-report.pdf");
            assertThat(f.code()).isEqualTo("NoSuchKey");
            assertThat(f.httpStatus()).isEqualTo(404);
        });
        assertThat(estate.one("SELECT silo_status FROM public.documents WHERE id = " + ids.get(2))).isEqualTo("FAILED");
        assertThat(estate.one("SELECT status || ' ' || documents_migrated || ' ' || errors FROM public.s3_migrations"
                + " WHERE tenant_id = (SELECT id FROM public.tenants WHERE slug = 'broken')")).isEqualTo("FAILED 4 1");
        assertThat(estate.one("SELECT silo_status FROM public.tenants WHERE slug = 'broken'")).isEqualTo("MIGRATING");
        List<Finding> findings = new CopyOnWriteArrayList<>();
        Phase.Verified verified = verify(slug, findings);
        // The failed copy is the one unfit finding; unsupported controls are shown but not counted.
        assertThat(verified.unfit()).isEqualTo(1);
        assertThat(findings).anyMatch(f -> f.kind().equals(S3Verifier.CONTROL_UNSUPPORTED));
        assertThat(verified.problems()).isZero();
    }

    @Test
    void strictModeFailsOnS3MockNamingEveryControlItLacks() throws Exception {
        String slug = "strict";
        tenantWith(slug, 2);
        S3Spec strict = S3Spec.fromJson(new io.vertx.core.json.JsonObject().put("strict", true), estate.spec());

        assertThatThrownBy(() -> S3Estate.run(phase, estate.run(slug, strict)))
                .isInstanceOf(ExecutionException.class).cause().isInstanceOf(SiloException.class)
                .hasMessageContaining("PUBLIC_ACCESS_BLOCK=UNSUPPORTED_BY_ENDPOINT")
                .hasMessageContaining("POLICY=UNSUPPORTED_BY_ENDPOINT")
                .satisfies(e -> assertThat(((SiloException) e).kind()).isEqualTo(SiloException.Kind.FAILED_PRECONDITION));
        assertThat(estate.one("SELECT count(*) FROM public.documents d JOIN public.tenants t ON t.id = d.tenant_id"
                + " WHERE t.slug = 'strict' AND d.silo_status IS NOT NULL")).isEqualTo(0L);
    }

    @Test
    void thePreflightNamesEveryMissingPermissionBeforeTheTenantBucketExists() throws Exception {
        String slug = "denied";
        tenantWith(slug, 1);
        try (FaultProxy proxy = FaultProxy.start(estate.vertx, estate.endpoint(), 0, 0, 1)) {
            proxy.forbid(r -> r.method() == io.vertx.core.http.HttpMethod.PUT
                    && (r.query() != null && (r.query().startsWith("policy") || r.query().startsWith("tagging"))));
            S3Phase limited = estate.phase(proxy.endpoint(), null);

            assertThatThrownBy(() -> S3Estate.run(limited, estate.run(slug, estate.spec())))
                    .cause().isInstanceOf(SiloException.class)
                    .hasMessageContaining("s3:PutBucketPolicy (POLICY)")
                    .hasMessageContaining("s3:PutBucketTagging (TAGGING)")
                    .hasMessageNotContaining("s3:CreateBucket");

            proxy.forbid(r -> r.method() == io.vertx.core.http.HttpMethod.PUT && r.query() == null
                    && r.path().matches("/dataroom-saas-probe-[0-9a-f]{8}/?"));
            assertThatThrownBy(() -> S3Estate.run(limited, estate.run(slug, estate.spec())))
                    .cause().isInstanceOf(SiloException.class).hasMessageContaining("s3:CreateBucket");
        }
        assertThat(estate.one("SELECT count(*) FROM silo.tenant_buckets WHERE tenant_slug = 'denied'"
                + " AND (purpose = 'TENANT' OR state <> 'DELETED')")).isEqualTo(0L);
    }

    @Test
    void planCountsObjectsAndBytesAndNamesTheBucketBeforeAndAfterTheRun() throws Exception {
        String slug = "planned";
        long tenant = estate.tenant(slug);
        long bytes = 0;
        for (int i = 0; i < 6; i++) {
            byte[] body = bytes(1000 * (i + 1), i);
            bytes += body.length;
            estate.document(tenant, "f" + i + ".txt", "uploads/planned/" + i, body, "text/plain", Map.of());
        }
        JobDefinition definition = JobDefinition.of(PhaseName.S3, S3Spec.fromJson(new io.vertx.core.json.JsonObject()
                .put("multipartThresholdBytes", 5_500), estate.spec()));

        Phase.Estimate before = S3Estate.await(phase.plan(slug, definition));

        assertThat(before.items()).isEqualTo(6);
        assertThat(before.bytes()).isEqualTo(bytes);
        assertThat(before.target()).isEqualTo(new BucketNamer().name(slug, 0));
        S3Plan plan = (S3Plan) before.detail();
        assertThat(plan.bucketExists()).isFalse();
        assertThat(plan.multipartObjects()).isEqualTo(1);
        assertThat(plan.controls()).isEmpty();

        assertThat(migrate(slug)).isEqualTo(Phase.Outcome.COMPLETE);
        S3Plan after = (S3Plan) S3Estate.await(phase.plan(slug, definition)).detail();
        assertThat(after.bucketExists()).isTrue();
        assertThat(after.createdBySilo()).isTrue();
        assertThat(after.alreadyCopied()).isEqualTo(6);
        assertThat(after.controls()).extracting(ControlResult::control).containsExactly(BucketControl.values());
    }

    @Test
    void copiesIntoAnSseKmsBucketWithoutABucketKeyTakeOneKmsPermitEach() throws Exception {
        String slug = "kms";
        tenantWith(slug, 6);
        S3Spec kms = S3Spec.fromJson(new io.vertx.core.json.JsonObject().put("encryption", "aws:kms")
                .put("kmsKeyId", "silo-test-kms-key").put("bucketKey", false), estate.spec());
        AtomicInteger permits = new AtomicInteger();
        TestRunContext run = estate.run(slug, kms);
        run.key = new TenantKey(UUID.randomUUID(), () -> {
            permits.incrementAndGet();
            return io.vertx.core.Future.succeededFuture();
        });

        assertThat(S3Estate.run(phase, run)).isEqualTo(Phase.Outcome.COMPLETE);

        assertThat(run.failures).isEmpty();
        assertThat(permits).hasValue(6);
        String bucket = estate.bucketOf(slug);
        assertThat(estate.keys(bucket)).hasSize(6);
        for (String key : estate.keys(bucket)) {
            assertThat(estate.direct.headObject(b -> b.bucket(bucket).key(key)).join().serverSideEncryption())
                    .isEqualTo(ServerSideEncryption.AWS_KMS);
        }
    }

    @Test
    void aBucketForTheTenantsOwnCmkIsEncryptedWithTheResolvedArnWhichCannotBeRetiredWhileTheBucketExists()
            throws Exception {
        String slug = "own-cmk";
        tenantWith(slug, 4);
        String arn = "arn:aws:kms:us-east-1:000000000000:key/" + S3Estate.KMS_KEY_ID;
        List<String> asked = new java.util.concurrent.CopyOnWriteArrayList<>();
        S3Phase withKeys = estate.phase();
        withKeys.useKmsKeys((tenant, tenantId, keyId, region, create) -> {
            asked.add(tenant + " " + keyId + " " + region + (create ? " create" : " look up"));
            return io.vertx.core.Future.succeededFuture(arn);
        });
        S3Spec ownCmk = S3Spec.fromJson(new io.vertx.core.json.JsonObject().put("encryption", "aws:kms")
                .put("kmsKeyId", SseKmsKeys.TENANT_KEY), estate.spec());

        assertThat(S3Estate.run(withKeys, estate.run(slug, ownCmk))).isEqualTo(Phase.Outcome.COMPLETE);

        assertThat(asked).containsExactly(slug + " tenant us-east-1 create");
        String bucket = estate.bucketOf(slug);
        for (String key : estate.keys(bucket)) {
            assertThat(estate.direct.headObject(b -> b.bucket(bucket).key(key)).join().ssekmsKeyId())
                    .as("the copy names the resolved key, not the word 'tenant'").endsWith(S3Estate.KMS_KEY_ID);
        }
        assertThat(S3Estate.await(withKeys.bucketsUsingKmsKey(arn))).containsExactly("bucket " + bucket + " (tenant '"
                + slug + "')");
        assertThat(S3Estate.await(withKeys.bucketsUsingKmsKey(arn.replace("key/", "key/other-")))).isEmpty();

        List<Finding> findings = new ArrayList<>();
        S3Estate.await(withKeys.verify(estate.scope(slug, ownCmk, findings)));
        assertThat(asked).as("verifying looks the key up and never creates one")
                .endsWith(slug + " tenant us-east-1 look up");
    }

    @Test
    void aKmsKeyThatFailsItsPreflightStopsThePhaseBeforeAnyBucketIsCreated() throws Exception {
        String slug = "bad-cmk";
        tenantWith(slug, 2);
        S3Phase withKeys = estate.phase();
        withKeys.useKmsKeys((tenant, tenantId, keyId, region, create) -> io.vertx.core.Future.failedFuture(
                SiloException.precondition("AWS KMS key '" + keyId + "' is disabled")));
        S3Spec disabled = S3Spec.fromJson(new io.vertx.core.json.JsonObject().put("encryption", "aws:kms")
                .put("kmsKeyId", "alias/disabled"), estate.spec());

        assertThatThrownBy(() -> S3Estate.run(withKeys, estate.run(slug, disabled)))
                .hasStackTraceContaining("AWS KMS key 'alias/disabled' is disabled");
        assertThat(estate.bucketOf(slug)).isNull();
        assertThat(estate.direct.listBuckets().join().buckets()).noneMatch(b -> b.name().contains(slug));
    }

    @Test
    void withoutTheDocumentsTableTheS3PhaseIsAFailedPreconditionNamingIt() throws Exception {
        Map<String, Object> settings = new HashMap<>(estate.settings);
        settings.putAll(TestPostgres.freshDatabase());
        io.vertx.core.Vertx vertx = estate.vertx;
        Database bare = S3Estate.await(Database.open(vertx, SiloConfig.of(settings)));
        try {
            S3Phase phase = new S3Phase(vertx, SiloConfig.of(settings), bare, estate.direct, estate.direct);
            JobDefinition definition = JobDefinition.of(PhaseName.S3, estate.spec());
            assertThatThrownBy(() -> S3Estate.await(phase.plan("anyone", definition)))
                    .cause().isInstanceOf(SiloException.class)
                    .hasMessageContaining("public.documents does not exist")
                    .satisfies(e -> assertThat(((SiloException) e).kind())
                            .isEqualTo(SiloException.Kind.FAILED_PRECONDITION));
        } finally {
            bare.close();
        }
    }
}
