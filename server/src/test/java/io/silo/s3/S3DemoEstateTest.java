package io.silo.s3;

import static org.assertj.core.api.Assertions.assertThat;

import io.silo.jobs.Finding;
import io.silo.jobs.Phase;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;

/** The dev stack's demo estate, migrated tenant by tenant into buckets of their own on S3Mock. */
class S3DemoEstateTest {

    @TempDir
    static Path dir;
    private static S3Estate estate;
    private static S3Phase phase;
    private static final Map<String, TestRunContext> RUNS = new HashMap<>();
    private static List<String> tenants;

    @BeforeAll
    static void migrateEveryTenant() throws Exception {
        estate = S3Estate.onS3Mock(dir);
        estate.seedDemo(3, 120);
        phase = estate.phase();
        tenants = estate.column("SELECT slug FROM public.tenants ORDER BY slug").stream().map(String.class::cast)
                .toList();
        for (String tenant : tenants) {
            TestRunContext run = estate.run(tenant, estate.spec());
            assertThat(S3Estate.run(phase, run)).isEqualTo(Phase.Outcome.COMPLETE);
            RUNS.put(tenant, run);
        }
    }

    @AfterAll
    static void close() throws Exception {
        if (estate != null) {
            estate.close();
        }
    }

    @Test
    void everyDocumentIsByteIdenticalAtItsSanitizedKeyInItsTenantsBucket() throws Exception {
        try (Connection c = estate.jdbc(); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(
                "SELECT d.id, d.filename, d.s3_key, d.content_type, t.slug, d.silo_bucket, d.silo_key, d.silo_status"
                        + " FROM public.documents d JOIN public.tenants t ON t.id = d.tenant_id ORDER BY d.id")) {
            int n = 0;
            while (rs.next()) {
                n++;
                String key = FilenameSanitizer.key(Long.toString(rs.getLong(1)), rs.getString(2));
                String bucket = estate.bucketOf(rs.getString(5));
                assertThat(rs.getString(8)).isEqualTo("COPIED");
                assertThat(rs.getString(6)).isEqualTo(bucket);
                assertThat(rs.getString(7)).isEqualTo(key);
                assertThat(estate.get(bucket, key)).as(key).isEqualTo(estate.get(S3Estate.SHARED, rs.getString(3)));
                HeadObjectResponse head = estate.direct.headObject(b -> b.bucket(bucket).key(key))
                        .get(30, TimeUnit.SECONDS);
                assertThat(head.contentType()).isEqualTo(rs.getString(4));
                assertThat(head.contentDisposition()).startsWith("attachment; filename=");
            }
            assertThat(n).isEqualTo(120);
        }
    }

    @Test
    void noBucketHoldsAnotherTenantsObject() throws Exception {
        Set<String> buckets = new HashSet<>();
        for (String tenant : tenants) {
            String bucket = estate.bucketOf(tenant);
            assertThat(bucket).startsWith("dataroom-saas-" + tenant + "-");
            buckets.add(bucket);
            List<Object> own = estate.column("SELECT d.silo_key FROM public.documents d JOIN public.tenants t"
                    + " ON t.id = d.tenant_id WHERE t.slug = '" + tenant + "'");
            assertThat(estate.keys(bucket)).containsExactlyInAnyOrderElementsOf(own.stream().map(String.class::cast)
                    .toList());
        }
        assertThat(buckets).hasSize(tenants.size());
    }

    @Test
    void eachTenantVerifiesCleanAndTheRunCountedEveryObjectAndByte() throws Exception {
        for (String tenant : tenants) {
            List<Finding> findings = new CopyOnWriteArrayList<>();
            Phase.Verified verified = S3Estate.await(phase.verify(estate.scope(tenant, estate.spec(), findings)));
            // S3Mock lacks five controls; in dev mode each is listed as accepted, not as a problem.
            assertThat(verified.problems()).as(findings.toString()).isZero();
            assertThat(findings).allSatisfy(f -> assertThat(f.kind()).isEqualTo(S3Verifier.CONTROL_UNSUPPORTED));
            long docs = (Long) estate.one("SELECT count(*) FROM public.documents d JOIN public.tenants t"
                    + " ON t.id = d.tenant_id WHERE t.slug = '" + tenant + "'");
            assertThat(verified.checked()).isEqualTo(docs);
            TestRunContext run = RUNS.get(tenant);
            assertThat(run.totalItems).isEqualTo(docs);
            assertThat(run.done()).isEqualTo(docs);
            assertThat(run.failures).isEmpty();
        }
    }

    @Test
    void theSeedsSupportQueryShowsEveryTenantCompletedAndIsolated() throws Exception {
        List<String> rows = new ArrayList<>();
        try (Connection c = estate.jdbc(); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(
                // The migration guide's query, verbatim.
                "SELECT t.name, sm.status, sm.documents_migrated, sm.completed_at FROM tenants t"
                        + " LEFT JOIN s3_migrations sm ON t.id = sm.tenant_id ORDER BY t.name;")) {
            while (rs.next()) {
                assertThat(rs.getTimestamp(4)).isNotNull();
                rows.add(rs.getString(1) + " " + rs.getString(2) + " " + rs.getInt(3));
            }
        }
        List<String> expected = new ArrayList<>();
        for (Object name : estate.column("SELECT name FROM tenants ORDER BY name")) {
            long docs = (Long) estate.one("SELECT count(*) FROM documents d JOIN tenants t ON t.id = d.tenant_id"
                    + " WHERE t.name = '" + name + "'");
            expected.add(name + " COMPLETED " + docs);
        }
        assertThat(rows).containsExactlyElementsOf(expected);
        assertThat(estate.column("SELECT DISTINCT silo_status FROM tenants")).containsExactly("ISOLATED");
    }
}
