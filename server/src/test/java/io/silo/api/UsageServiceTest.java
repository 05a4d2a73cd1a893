package io.silo.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.google.protobuf.Duration;
import io.grpc.Channel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.silo.S3MockSilo;
import io.silo.TestServer;
import io.silo.api.v1.GetDocumentUrlRequest;
import io.silo.api.v1.GetDocumentUrlResponse;
import io.silo.api.v1.GetTenantUsageRequest;
import io.silo.api.v1.GetUploadUrlRequest;
import io.silo.api.v1.GetUploadUrlResponse;
import io.silo.api.v1.ListMigrationStatusRequest;
import io.silo.api.v1.ListMigrationStatusResponse;
import io.silo.api.v1.ListUsageRequest;
import io.silo.api.v1.ListUsageResponse;
import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationServiceGrpc;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.ReconcileUsageRequest;
import io.silo.api.v1.ReconcileUsageResponse;
import io.silo.api.v1.StartMigrationRequest;
import io.silo.api.v1.TenantMigrationStatus;
import io.silo.api.v1.TenantStatus;
import io.silo.api.v1.TenantUsage;
import io.silo.api.v1.UsageServiceGrpc;
import io.silo.auth.TokenRegistry;
import io.silo.dev.DemoSeeder;
import io.silo.dev.DevS3;
import io.silo.jobs.MigrationFixture;
import io.silo.s3.FilenameSanitizer;
import io.silo.store.AppDatabase;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.net.URI;
import java.net.URLDecoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import software.amazon.awssdk.core.ResponseBytes;
import software.amazon.awssdk.core.async.AsyncResponseTransformer;
import software.amazon.awssdk.services.s3.S3AsyncClient;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.ServerSideEncryption;

/**
 * UsageService against a real Silo over a migrated demo estate: the demo seeder's tenants, documents rows and shared
 * bucket objects (in the dev stack's S3Mock), a real MongoDB migration of one tenant, and the S3 side of a migration
 * done by hand (objects copied into tenant buckets with the SDK, the documents rows and s3_migrations written as the
 * shared schema contract says), since the S3 phase is being written alongside. S3Mock does not check signatures:
 * DocumentUrlsRgwTest checks them against Ceph RGW.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class UsageServiceTest {

  private static final String ADMIN = "usage-admin-token-0001";
  private static final String SCOPED_VIEWER = "usage-acme-viewer-0002";
  private static final String SCOPED_OPERATOR = "usage-acme-operator-0003";
  private static final String ACME = "acme-health";
  private static final String GLOBEX = "globex-clinic";
  private static final String INITECH = "initech-care";

  private DevS3 s3mock;
  private S3AsyncClient s3;
  private TestServer server;
  private AppDatabase app;
  private S3MockSilo silo;
  private final Map<String, String> bucketOf = new HashMap<>();
  private final HttpClient http = HttpClient.newHttpClient();

  @BeforeAll
  void migratedDemoEstate() throws Exception {
    Map<String, Object> settings = new HashMap<>();
    settings.put("auth.tokens", List.of("root:admin:" + TokenRegistry.hashHex(ADMIN),
        "acme-look:viewer:" + ACME + ":" + TokenRegistry.hashHex(SCOPED_VIEWER),
        "acme-ops:operator:" + ACME + ":" + TokenRegistry.hashHex(SCOPED_OPERATOR)));
    settings.put("jobs.pollMillis", 100);
    silo = S3MockSilo.start("silo-usage-test", settings);
    s3mock = silo.s3mock;
    s3 = silo.s3;
    server = silo.server;
    app = AppDatabase.of(server.settings);

    // The legacy estate appears after Silo started, as it would where Silo is installed before the app's tables.
    new DemoSeeder(DemoSeeder.Options.defaults().withCounts(3, 60, 45), null)
        .seed(app::connect, server.mongo.connectionString(), s3);
    // The first usage call installs tenant_usage and backfills it from the rows above.
    assertThat(usage(ADMIN).getTenantUsage(GetTenantUsageRequest.newBuilder().setTenant(ACME).build())
        .getUsageCount()).isEqualTo(1);

    try (Connection c = app.connect()) {
      AppDatabase.ensureS3TrackingPerContract(c);
    }
    Migration run = MigrationServiceGrpc.newBlockingStub(as(ADMIN)).withDeadlineAfter(30, TimeUnit.SECONDS)
        .startMigration(StartMigrationRequest.newBuilder().addTenants(ACME).build()).getMigrations(0);
    MigrationFixture.await(as(ADMIN), run.getId(), java.time.Duration.ofSeconds(120),
        m -> m.getState() == MigrationState.MIGRATION_STATE_COMPLETED, "COMPLETED");
    copyToTenantBucket(ACME, "COMPLETED", 0);
    copyToTenantBucket(GLOBEX, "FAILED", 1);
  }

  /**
   * The S3 side of a migration as the S3 phase will record it: each document copied to
   * documents/&lt;id&gt;/&lt;sanitized name&gt; in the tenant bucket, its row marked COPIED, and one s3_migrations row;
   * the last {@code failed} documents are marked FAILED instead.
   */
  private void copyToTenantBucket(String slug, String status, int failed) throws Exception {
    String bucket = "dataroom-saas-" + slug + "-t1";
    s3.createBucket(b -> b.bucket(bucket)).join();
    bucketOf.put(slug, bucket);
    List<List<Object>> docs = app.rows("SELECT d.id, d.filename, d.s3_key FROM documents d JOIN tenants t"
        + " ON t.id = d.tenant_id WHERE t.slug = '" + slug + "' ORDER BY d.id");
    int copied = 0;
    for (int i = 0; i < docs.size(); i++) {
      long id = (Long) docs.get(i).get(0);
      if (i >= docs.size() - failed) {
        app.execute("UPDATE documents SET silo_status = 'FAILED', silo_error = 'AccessDenied (403)' WHERE id = " + id);
        continue;
      }
      String key = FilenameSanitizer.key(String.valueOf(id), (String) docs.get(i).get(1));
      String sourceKey = (String) docs.get(i).get(2);
      s3.copyObject(b -> b.sourceBucket(DemoSeeder.SHARED_BUCKET).sourceKey(sourceKey).destinationBucket(bucket)
          .destinationKey(key)).join();
      try (Connection c = app.connect(); var ps = c.prepareStatement("UPDATE documents SET silo_bucket = ?,"
          + " silo_key = ?, silo_status = 'COPIED', silo_migrated_at = now() WHERE id = ?")) {
        ps.setString(1, bucket);
        ps.setString(2, key);
        ps.setLong(3, id);
        ps.executeUpdate();
      }
      copied++;
    }
    app.execute("INSERT INTO s3_migrations (tenant_id, status, documents_migrated, errors, started_at, completed_at,"
        + " bucket) SELECT id, '" + status + "', " + copied + ", " + failed + ", now() - interval '1 minute', "
        + ("COMPLETED".equals(status) ? "now()" : "NULL") + ", '" + bucket + "' FROM tenants WHERE slug = '" + slug + "'");
    app.execute("UPDATE tenants SET silo_status = '" + ("COMPLETED".equals(status) ? "ISOLATED" : "MIGRATING")
        + "' WHERE slug = '" + slug + "'");
  }

  @AfterAll
  void stop() throws Exception {
    if (silo != null) {
      silo.close();
    }
  }

  private Channel as(String token) {
    return server.withToken(token);
  }

  private UsageServiceGrpc.UsageServiceBlockingStub usage(String token) {
    return UsageServiceGrpc.newBlockingStub(as(token)).withDeadlineAfter(30, TimeUnit.SECONDS);
  }

  private static Status statusOf(Runnable call) {
    StatusRuntimeException e = catchThrowableOfType(StatusRuntimeException.class, call::run);
    return e == null ? Status.OK : e.getStatus();
  }

  private long documentOf(String slug, String condition) throws Exception {
    return (Long) app.rows("SELECT id FROM documents WHERE tenant_id = (SELECT id FROM tenants WHERE slug = '"
        + slug + "') AND " + condition + " ORDER BY id LIMIT 1").get(0).get(0);
  }

  private long[] recount(String slug) throws Exception {
    return app.recount((Long) app.rows("SELECT id FROM tenants WHERE slug = '" + slug + "'").get(0).get(0));
  }

  private static double mebibytes(long bytes) {
    return new BigDecimal(bytes).divide(new BigDecimal(1_048_576), 3, RoundingMode.HALF_UP).doubleValue();
  }

  @Test
  void theGuidesUsageQueryRunsVerbatimAndReturnsEveryTenantsCurrentMonth() throws Exception {
    List<List<Object>> rows = app.rows("""
        SELECT
            t.name,
            tu.storage_used_mb,
            tu.documents_count
        FROM tenants t
        JOIN tenant_usage tu ON t.id = tu.tenant_id
        WHERE tu.month = date_trunc('month', CURRENT_DATE);
        """);
    assertThat(rows).hasSize(3);
    for (List<Object> row : rows) {
      String slug = (String) app.rows("SELECT slug FROM tenants WHERE name = '" + row.get(0) + "'").get(0).get(0);
      long[] actual = recount(slug);
      assertThat(actual[1]).as("%s has documents", slug).isPositive();
      assertThat(((BigDecimal) row.get(1)).doubleValue()).as("MiB of %s", slug).isEqualTo(mebibytes(actual[0]));
      assertThat(row.get(2)).as("documents of %s", slug).isEqualTo(actual[1]);
    }
  }

  @Test
  void theGuidesStatusQueryRunsVerbatimWithOneRowPerTenant() throws Exception {
    List<List<Object>> rows = app.rows("""
        SELECT
            t.name,
            sm.status,
            sm.documents_migrated,
            sm.completed_at
        FROM tenants t
        LEFT JOIN s3_migrations sm ON t.id = sm.tenant_id
        ORDER BY t.name;
        """);
    assertThat(rows).extracting(r -> r.get(0)).containsExactly("Acme Health", "Globex Clinic", "Initech Care");
    assertThat(rows.get(0).get(1)).isEqualTo("COMPLETED");
    assertThat(rows.get(0).get(2)).isEqualTo((int) recount(ACME)[1]);
    assertThat(rows.get(0).get(3)).isNotNull();
    assertThat(rows.get(1).subList(1, 4)).containsExactly("FAILED", (int) recount(GLOBEX)[1] - 1, null);
    assertThat(rows.get(2).subList(1, 4)).containsExactly(null, null, null);
  }

  @Test
  void getTenantUsageGivesExactBytesMebibytesCountAndBucketAndCarriesQuietMonthsForward() throws Exception {
    LocalDate now = LocalDate.now(ZoneOffset.UTC).withDayOfMonth(1);
    LocalDate threeAgo = now.minusMonths(3);
    long tenantId = (Long) app.rows("SELECT id FROM tenants WHERE slug = '" + GLOBEX + "'").get(0).get(0);
    app.execute("INSERT INTO tenant_usage (tenant_id, month, storage_bytes, documents_count) VALUES (" + tenantId
        + ", DATE '" + threeAgo + "', 5242880, 4)");

    List<TenantUsage> months = usage(ADMIN).getTenantUsage(GetTenantUsageRequest.newBuilder().setTenant(GLOBEX)
        .setMonths(6).build()).getUsageList();

    long[] actual = recount(GLOBEX);
    assertThat(months).extracting(u -> Instant.ofEpochSecond(u.getMonth().getSeconds()).atOffset(ZoneOffset.UTC)
        .toLocalDate()).containsExactly(now, now.minusMonths(1), now.minusMonths(2), threeAgo);
    assertThat(months.get(0)).satisfies(u -> {
      assertThat(u.getStorageBytes()).isEqualTo(actual[0]);
      assertThat(u.getStorageUsedMb()).isEqualTo(mebibytes(actual[0]));
      assertThat(u.getDocumentsCount()).isEqualTo(actual[1]);
      assertThat(u.getBucket()).isEqualTo(bucketOf.get(GLOBEX));
      assertThat(u.getCarriedForward()).isFalse();
    });
    assertThat(months.subList(1, 3)).allSatisfy(u -> {
      assertThat(u.getCarriedForward()).isTrue();
      assertThat(u.getStorageBytes()).isEqualTo(5_242_880);
      assertThat(u.getStorageUsedMb()).isEqualTo(5.0);
    });
    assertThat(months.get(3).getCarriedForward()).isFalse();

    assertThat(statusOf(() -> usage(ADMIN).getTenantUsage(GetTenantUsageRequest.newBuilder().setTenant("nobody-here")
        .build())).getCode()).isEqualTo(Status.Code.NOT_FOUND);
    Status tooMany = statusOf(() -> usage(ADMIN).getTenantUsage(GetTenantUsageRequest.newBuilder().setTenant(GLOBEX)
        .setMonths(121).build()));
    assertThat(tooMany.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(tooMany.getDescription()).startsWith("months:");
  }

  @Test
  void listUsagePagesThroughEveryTenantAndRefusesForgedTokens() {
    List<String> seen = new ArrayList<>();
    String token = "";
    do {
      ListUsageResponse page = usage(ADMIN).listUsage(ListUsageRequest.newBuilder().setPageSize(1)
          .setPageToken(token).build());
      assertThat(page.getUsageCount()).isEqualTo(1);
      page.getUsageList().forEach(u -> seen.add(u.getTenant()));
      token = page.getNextPageToken();
    } while (!token.isEmpty());
    assertThat(seen).containsExactly(ACME, GLOBEX, INITECH);

    // A month before anything was recorded: every tenant, at zero.
    ListUsageResponse old = usage(ADMIN).listUsage(ListUsageRequest.newBuilder()
        .setMonth(com.google.protobuf.Timestamp.newBuilder().setSeconds(946_684_800L + 86_400 * 20)).build());
    assertThat(old.getUsageList()).hasSize(3).allSatisfy(u -> {
      assertThat(u.getMonth().getSeconds()).isEqualTo(946_684_800L);
      assertThat(u.getStorageBytes()).isZero();
    });

    for (String forged : List.of("not-base64!", java.util.Base64.getUrlEncoder().encodeToString(
        "tenants\nacme-health".getBytes(StandardCharsets.UTF_8)), java.util.Base64.getUrlEncoder()
        .encodeToString("usage\nDROP TABLE".getBytes(StandardCharsets.UTF_8)))) {
      Status s = statusOf(() -> usage(ADMIN).listUsage(ListUsageRequest.newBuilder().setPageToken(forged).build()));
      assertThat(s.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
      assertThat(s.getDescription()).startsWith("page_token:");
    }
  }

  @Test
  void listMigrationStatusShowsMongoAndS3StateDocumentsErrorsBucketAndTimes() {
    ListMigrationStatusResponse response = usage(ADMIN).listMigrationStatus(ListMigrationStatusRequest
        .getDefaultInstance());
    assertThat(response.getStatusesList()).extracting(TenantMigrationStatus::getTenant)
        .containsExactly(ACME, GLOBEX, INITECH);
    TenantMigrationStatus acme = response.getStatuses(0);
    assertThat(acme.getStatus()).isEqualTo("COMPLETED");
    assertThat(acme.getTenantStatus()).isEqualTo(TenantStatus.TENANT_STATUS_ISOLATED);
    assertThat(acme.getBucket()).isEqualTo(bucketOf.get(ACME));
    assertThat(acme.hasStartTime()).isTrue();
    assertThat(acme.hasCompleteTime()).isTrue();
    assertThat(acme.getLatestRun().getState()).isEqualTo(MigrationState.MIGRATION_STATE_COMPLETED);
    assertThat(acme.getLatestRun().getDocumentsCopied()).isPositive();
    TenantMigrationStatus globex = response.getStatuses(1);
    assertThat(globex.getStatus()).isEqualTo("FAILED");
    assertThat(globex.getErrors()).isEqualTo(1);
    assertThat(globex.hasCompleteTime()).isFalse();
    assertThat(globex.hasLatestRun()).as("never started through Silo").isFalse();
    TenantMigrationStatus initech = response.getStatuses(2);
    assertThat(initech.getStatus()).isEmpty();
    assertThat(initech.getBucket()).isEmpty();
    assertThat(initech.getTenantStatus()).isEqualTo(TenantStatus.TENANT_STATUS_POOLED);
  }

  @Test
  void aTenantScopedTokenSeesOnlyItsOwnTenant() {
    assertThat(usage(SCOPED_VIEWER).listUsage(ListUsageRequest.getDefaultInstance()).getUsageList())
        .extracting(TenantUsage::getTenant).containsExactly(ACME);
    assertThat(usage(SCOPED_VIEWER).listMigrationStatus(ListMigrationStatusRequest.getDefaultInstance())
        .getStatusesList()).extracting(TenantMigrationStatus::getTenant).containsExactly(ACME);
    assertThat(statusOf(() -> usage(SCOPED_VIEWER).getTenantUsage(GetTenantUsageRequest.newBuilder()
        .setTenant(GLOBEX).build())).getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
    assertThat(statusOf(() -> usage(SCOPED_VIEWER).listUsage(ListUsageRequest.newBuilder().setTenant(GLOBEX)
        .build())).getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
    assertThat(usage(ADMIN).listUsage(ListUsageRequest.newBuilder().setTenant(GLOBEX).build()).getUsageList())
        .extracting(TenantUsage::getTenant).containsExactly(GLOBEX);
    assertThat(statusOf(() -> usage(SCOPED_OPERATOR).getUploadUrl(GetUploadUrlRequest.newBuilder()
        .setTenant(GLOBEX).setFilename("a.pdf").build())).getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
  }

  @Test
  void aDocumentUrlDownloadsTheTenantBucketCopyUnderItsOriginalNameForFifteenMinutes() throws Exception {
    long id = documentOf(ACME, "silo_status = 'COPIED'");
    // Non-ASCII, a quote, a percent sign, a plus and a bidi override that must not reach the browser.
    app.execute("UPDATE documents SET filename = 'résumé 履歴書 \"Q3\" 100% +v2\u202E.pdf' WHERE id = " + id);
    Instant before = Instant.now();
    GetDocumentUrlResponse url = usage(SCOPED_OPERATOR).getDocumentUrl(GetDocumentUrlRequest.newBuilder()
        .setTenant(ACME).setDocumentId(id).build());

    assertThat(url.getBucket()).isEqualTo(bucketOf.get(ACME));
    assertThat(url.getUrl()).startsWith(s3mock.endpoint() + "/" + bucketOf.get(ACME) + "/documents/" + id + "/")
        .contains("X-Amz-Expires=900").doesNotContain(DemoSeeder.SHARED_BUCKET);
    assertThat(url.getExpireTime().getSeconds()).isBetween(before.getEpochSecond() + 899,
        Instant.now().getEpochSecond() + 900);
    assertThat(url.getNotice()).isEmpty();

    HttpResponse<byte[]> got = http.send(HttpRequest.newBuilder(URI.create(url.getUrl())).build(),
        HttpResponse.BodyHandlers.ofByteArray());
    assertThat(got.statusCode()).isEqualTo(200);
    String sourceKey = (String) app.rows("SELECT s3_key FROM documents WHERE id = " + id).get(0).get(0);
    ResponseBytes<GetObjectResponse> original = s3.getObject(b -> b.bucket(DemoSeeder.SHARED_BUCKET).key(sourceKey),
        AsyncResponseTransformer.toBytes()).join();
    assertThat(got.body()).isEqualTo(original.asByteArray());
    String disposition = got.headers().firstValue("Content-Disposition").orElseThrow();
    assertThat(disposition).startsWith("attachment; filename=\"").contains("filename*=UTF-8''");
    String encoded = disposition.substring(disposition.indexOf("UTF-8''") + "UTF-8''".length());
    assertThat(URLDecoder.decode(encoded.replace("+", "%2B"), StandardCharsets.UTF_8))
        .isEqualTo("résumé 履歴書 \"Q3\" 100% +v2.pdf");
    assertThat(disposition).contains("filename=\"r_sum_ ___ _Q3_ 100_ +v2.pdf\"");

    GetDocumentUrlResponse hour = usage(ADMIN).getDocumentUrl(GetDocumentUrlRequest.newBuilder().setTenant(ACME)
        .setDocumentId(id).setExpiresIn(Duration.newBuilder().setSeconds(3_600)).build());
    assertThat(hour.getUrl()).contains("X-Amz-Expires=3600");
  }

  @Test
  void anotherTenantsDocumentIsNotFoundExactlyLikeOneThatDoesNotExist() throws Exception {
    long globexDoc = documentOf(GLOBEX, "silo_status = 'COPIED'");
    long missing = 987_654_321L;
    Status foreign = statusOf(() -> usage(ADMIN).getDocumentUrl(GetDocumentUrlRequest.newBuilder().setTenant(ACME)
        .setDocumentId(globexDoc).build()));
    Status absent = statusOf(() -> usage(ADMIN).getDocumentUrl(GetDocumentUrlRequest.newBuilder().setTenant(ACME)
        .setDocumentId(missing).build()));
    assertThat(foreign.getCode()).isEqualTo(Status.Code.NOT_FOUND);
    assertThat(absent.getCode()).isEqualTo(Status.Code.NOT_FOUND);
    assertThat(foreign.getDescription().replace(String.valueOf(globexDoc), "N"))
        .isEqualTo(absent.getDescription().replace(String.valueOf(missing), "N"))
        .doesNotContain(GLOBEX);
  }

  @Test
  void unmigratedFailedPurgedAndSharedBucketDocumentsGetFailedPreconditionNeverAUrl() throws Exception {
    long pooled = documentOf(INITECH, "true");
    long failed = documentOf(GLOBEX, "silo_status = 'FAILED'");
    Status notMigrated = statusOf(() -> usage(ADMIN).getDocumentUrl(GetDocumentUrlRequest.newBuilder()
        .setTenant(INITECH).setDocumentId(pooled).build()));
    assertThat(notMigrated.getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(notMigrated.getDescription()).contains("not migrated", "silo migrate " + INITECH);
    Status copyFailed = statusOf(() -> usage(ADMIN).getDocumentUrl(GetDocumentUrlRequest.newBuilder()
        .setTenant(GLOBEX).setDocumentId(failed).build()));
    assertThat(copyFailed.getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(copyFailed.getDescription()).contains("copy FAILED: AccessDenied (403)");

    // Purged from the shared bucket, and the tenant-bucket copy deleted since: nothing left to sign for.
    long purged = documentOf(GLOBEX, "silo_status = 'COPIED'");
    List<Object> copy = app.rows("SELECT silo_bucket, silo_key FROM documents WHERE id = " + purged).get(0);
    s3.deleteObject(b -> b.bucket((String) copy.get(0)).key((String) copy.get(1))).join();
    app.execute("UPDATE documents SET silo_source_purged_at = now() WHERE id = " + purged);
    Status gone = statusOf(() -> usage(ADMIN).getDocumentUrl(GetDocumentUrlRequest.newBuilder().setTenant(GLOBEX)
        .setDocumentId(purged).build()));
    assertThat(gone.getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(gone.getDescription()).contains("copy is gone", "purged", "only copy");

    // A row that claims a copy in the shared bucket is refused before anything is signed.
    long confused = documentOf(GLOBEX, "silo_status = 'COPIED' AND id <> " + purged);
    app.execute("UPDATE documents SET silo_bucket = s3_bucket, silo_key = s3_key WHERE id = " + confused);
    Status shared = statusOf(() -> usage(ADMIN).getDocumentUrl(GetDocumentUrlRequest.newBuilder().setTenant(GLOBEX)
        .setDocumentId(confused).build()));
    assertThat(shared.getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(shared.getDescription()).contains("not the tenant's own bucket");
  }

  @Test
  void badDocumentUrlRequestsNameTheField() {
    Map<String, GetDocumentUrlRequest> bad = Map.of(
        "tenant:", GetDocumentUrlRequest.newBuilder().setTenant("A").setDocumentId(1).build(),
        "document_id:", GetDocumentUrlRequest.newBuilder().setTenant(ACME).build(),
        "expires_in:", GetDocumentUrlRequest.newBuilder().setTenant(ACME).setDocumentId(1)
            .setExpiresIn(Duration.newBuilder().setSeconds(8 * 86_400)).build());
    bad.forEach((field, request) -> {
      Status s = statusOf(() -> usage(ADMIN).getDocumentUrl(request));
      assertThat(s.getCode()).as(field).isEqualTo(Status.Code.INVALID_ARGUMENT);
      assertThat(s.getDescription()).startsWith(field);
    });
    Status zero = statusOf(() -> usage(ADMIN).getUploadUrl(GetUploadUrlRequest.newBuilder().setTenant(ACME)
        .setFilename("a.pdf").setExpiresIn(Duration.newBuilder().setNanos(500_000_000)).build()));
    assertThat(zero.getDescription()).startsWith("expires_in:").contains("at least 1 s");
  }

  @Test
  void anUploadUrlPutsUnderTempWithTheRequiredEncryptionHeader() throws Exception {
    GetUploadUrlResponse url = usage(SCOPED_OPERATOR).getUploadUrl(GetUploadUrlRequest.newBuilder().setTenant(ACME)
        .setFilename("../../etc/passwd").build());
    assertThat(url.getBucket()).isEqualTo(bucketOf.get(ACME));
    assertThat(url.getKey()).matches("temp/[0-9a-f-]{36}/passwd");
    assertThat(url.getHeadersMap()).containsEntry("x-amz-server-side-encryption", "AES256");

    byte[] body = "scanned page".getBytes(StandardCharsets.UTF_8);
    HttpRequest.Builder put = HttpRequest.newBuilder(URI.create(url.getUrl()))
        .PUT(HttpRequest.BodyPublishers.ofByteArray(body));
    url.getHeadersMap().forEach(put::header);
    assertThat(http.send(put.build(), HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(200);
    assertThat(s3.headObject(b -> b.bucket(url.getBucket()).key(url.getKey())).join().serverSideEncryption())
        .isEqualTo(ServerSideEncryption.AES256);

    Status noBucket = statusOf(() -> usage(ADMIN).getUploadUrl(GetUploadUrlRequest.newBuilder().setTenant(INITECH)
        .setFilename("a.pdf").build()));
    assertThat(noBucket.getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(noBucket.getDescription()).contains("no bucket of its own");
  }

  @Test
  void anUploadUrlCarriesTheEncryptionTheTenantsMigrationGaveItsBucket() throws Exception {
    // A migration that asked for SSE-KMS gave the bucket a policy demanding it, whatever s3.encryption says.
    app.execute("INSERT INTO silo.migrations (id, tenant_slug, state, phase, created_by, definition) VALUES ("
        + " gen_random_uuid(),"
        + " '" + GLOBEX + "', 'COMPLETED', 'DONE', 'test',"
        + " '{\"s3\": {\"encryption\": \"aws:kms\", \"kmsKeyId\": \"globex-cmk\"}}')");
    try {
      GetUploadUrlResponse url = usage(ADMIN).getUploadUrl(GetUploadUrlRequest.newBuilder().setTenant(GLOBEX)
          .setFilename("scan.pdf").build());
      assertThat(url.getHeadersMap()).containsEntry("x-amz-server-side-encryption", "aws:kms")
          .containsEntry("x-amz-server-side-encryption-aws-kms-key-id", "globex-cmk");
    } finally {
      // The status tests read this tenant's migrations.
      app.execute("DELETE FROM silo.migrations WHERE tenant_slug = '" + GLOBEX + "'");
    }
  }

  @Test
  void reconcileReportsDriftOnADryRunAndRepairsItOtherwise() throws Exception {
    long tenantId = (Long) app.rows("SELECT id FROM tenants WHERE slug = '" + INITECH + "'").get(0).get(0);
    app.execute("UPDATE tenant_usage SET storage_bytes = storage_bytes + 12345 WHERE tenant_id = " + tenantId
        + " AND month = silo.usage_month()");
    long[] actual = recount(INITECH);

    ReconcileUsageResponse dry = usage(ADMIN).reconcileUsage(ReconcileUsageRequest.newBuilder().setDryRun(true)
        .build());
    assertThat(dry.getRepaired()).isFalse();
    assertThat(dry.getTenantsChecked()).isEqualTo(3);
    assertThat(dry.getDriftList()).singleElement().satisfies(d -> {
      assertThat(d.getTenant()).isEqualTo(INITECH);
      assertThat(d.getRecordedBytes()).isEqualTo(actual[0] + 12_345);
      assertThat(d.getActualBytes()).isEqualTo(actual[0]);
      assertThat(d.getActualCount()).isEqualTo(actual[1]);
    });
    assertThat(app.usage(tenantId, LocalDate.now(ZoneOffset.UTC).withDayOfMonth(1).toString())[0])
        .isEqualTo(actual[0] + 12_345);

    ReconcileUsageResponse fixed = usage(ADMIN).reconcileUsage(ReconcileUsageRequest.getDefaultInstance());
    assertThat(fixed.getRepaired()).isTrue();
    assertThat(fixed.getDriftList()).extracting(d -> d.getTenant()).containsExactly(INITECH);
    assertThat(usage(ADMIN).reconcileUsage(ReconcileUsageRequest.newBuilder().setDryRun(true).build())
        .getDriftList()).isEmpty();
    assertThat(app.usage(tenantId, LocalDate.now(ZoneOffset.UTC).withDayOfMonth(1).toString())).isEqualTo(actual);
  }
}
