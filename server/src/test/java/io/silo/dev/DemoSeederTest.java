package io.silo.dev;

import static org.assertj.core.api.Assertions.assertThat;

import com.mongodb.client.MongoClient;
import com.mongodb.client.MongoClients;
import com.mongodb.client.MongoCollection;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.ServerVersion;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Date;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.bson.Document;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.services.s3.S3AsyncClient;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.S3Object;

class DemoSeederTest {

    @TempDir
    static Path dir;

    static DevPostgres pg;
    static DevS3 s3;
    static MongoServer mongoServer;
    static String mongoUri;

    @BeforeAll
    static void startServers() throws Exception {
        pg = DevPostgres.start(dir.resolve("pg"), "127.0.0.1", 0);
        s3 = DevS3.start(dir.resolve("s3"), "127.0.0.1", 0, List.of(), List.of());
        mongoServer = new MongoServer(new MemoryBackend().version(ServerVersion.MONGO_5_0));
        mongoServer.bind("127.0.0.1", 0);
        InetSocketAddress address = mongoServer.getLocalAddress();
        mongoUri = "mongodb://127.0.0.1:" + address.getPort();
    }

    @AfterAll
    static void stopServers() throws Exception {
        if (mongoServer != null) {
            mongoServer.shutdownNow();
        }
        if (s3 != null) {
            s3.close();
        }
        if (pg != null) {
            pg.close();
        }
    }

    private static final DemoSeeder.Options SMALL = DemoSeeder.Options.defaults().withCounts(3, 300, 30);

    @Test
    void seedsMatchingRowsAndObjectsWithHostileNamesPreservedAndASecondRunAddsNothing() throws Exception {
        List<String> progress = new CopyOnWriteArrayList<>();
        DemoSeeder.Result first;
        try (S3AsyncClient async = s3.asyncClient(8)) {
            first = new DemoSeeder(SMALL, progress::add).seed(pg::connect, mongoUri, async);
        }
        assertThat(first.skipped()).isFalse();
        assertThat(first.tenants()).isEqualTo(3);
        assertThat(first.patients()).isEqualTo(300);
        assertThat(first.objects()).isEqualTo(30);
        assertThat(progress).anyMatch(line -> line.contains("acme-health"));

        // PostgreSQL: tenants with the well-known slugs.
        List<String> slugs = new ArrayList<>();
        try (Connection c = pg.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select slug from tenants order by id")) {
            while (rs.next()) {
                slugs.add(rs.getString(1));
            }
        }
        assertThat(slugs).containsExactly("acme-health", "globex-clinic", "initech-care");

        // MongoDB: every patient has the legacy shape and belongs to one of the tenants; every tenant has some.
        try (MongoClient mongo = MongoClients.create(mongoUri)) {
            MongoCollection<Document> patients = mongo.getDatabase("legacy").getCollection("patients");
            assertThat(patients.countDocuments()).isEqualTo(300);
            Map<String, Integer> perTenant = new HashMap<>();
            for (Document d : patients.find()) {
                assertThat(d.getString("ssn")).matches("\\d{3}-\\d{2}-\\d{4}");
                assertThat(d.get("dob")).isInstanceOf(Date.class);
                assertThat(d.getString("name")).isNotBlank();
                assertThat(d.getString("diagnosis")).isNotBlank();
                assertThat(d.getString("notes")).isNotBlank();
                perTenant.merge(d.getString("tenantId"), 1, Integer::sum);
            }
            assertThat(perTenant).containsOnlyKeys(slugs);
            assertThat(perTenant.values()).allMatch(n -> n > 0);
        }

        // documents rows and bucket objects are the same set, with the same sizes.
        Map<String, Long> rowSizes = new HashMap<>();
        Map<String, String> rowFilenames = new HashMap<>();
        try (Connection c = pg.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select s3_bucket, s3_key, size_bytes, filename from documents")) {
            while (rs.next()) {
                assertThat(rs.getString(1)).isEqualTo(DemoSeeder.SHARED_BUCKET);
                rowSizes.put(rs.getString(2), rs.getLong(3));
                rowFilenames.put(rs.getString(2), rs.getString(4));
            }
        }
        Map<String, Long> objectSizes = new HashMap<>();
        try (S3Client client = s3.syncClient()) {
            for (S3Object o : client.listObjectsV2Paginator(b -> b.bucket(DemoSeeder.SHARED_BUCKET)).contents()) {
                objectSizes.put(o.key(), o.size());
            }
            assertThat(objectSizes).hasSize(30);
            assertThat(rowSizes).isEqualTo(objectSizes);

            // Hostile names survive byte for byte in documents.filename, and the key carries them too.
            assertThat(rowFilenames.values()).containsAll(DemoSeeder.HOSTILE_FILENAMES);
            rowFilenames.forEach((key, filename) -> {
                assertThat(key).startsWith("uploads/");
                if (filename.contains("\\")) { // S3Mock cannot carry a backslash; the key has _ instead
                    assertThat(key).endsWith("-" + filename.replace('\\', '_'));
                } else {
                    assertThat(key).endsWith("-" + filename);
                }
            });
            String traversalKey = rowFilenames.entrySet().stream()
                    .filter(e -> e.getValue().equals("../../../etc/passwd")).findFirst().orElseThrow().getKey();
            byte[] body = client.getObjectAsBytes(b -> b.bucket(DemoSeeder.SHARED_BUCKET).key(traversalKey))
                    .asByteArray();
            assertThat((long) body.length).isEqualTo(rowSizes.get(traversalKey));
        }

        // Second run: detects the estate, changes nothing.
        DemoSeeder.Result second;
        try (S3AsyncClient async = s3.asyncClient(8)) {
            second = new DemoSeeder(SMALL, null).seed(pg::connect, mongoUri, async);
        }
        assertThat(second.skipped()).isTrue();
        assertThat(second.message()).contains("already present").doesNotContain("--fresh");
        try (Connection c = pg.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select (select count(*) from tenants), (select count(*) from documents)")) {
            rs.next();
            assertThat(rs.getLong(1)).isEqualTo(3);
            assertThat(rs.getLong(2)).isEqualTo(30);
        }
        try (MongoClient mongo = MongoClients.create(mongoUri); S3Client client = s3.syncClient()) {
            assertThat(mongo.getDatabase("legacy").getCollection("patients").countDocuments()).isEqualTo(300);
            assertThat(client.listObjectsV2Paginator(b -> b.bucket(DemoSeeder.SHARED_BUCKET)).contents()
                    .stream().count()).isEqualTo(30);
        }
    }

    @Test
    void theObjectPlanIsDeterministicForAGivenSeed() {
        List<DemoSeeder.Tenant> tenants = List.of(new DemoSeeder.Tenant(1, "acme-health", "Acme Health"),
                new DemoSeeder.Tenant(2, "globex-clinic", "Globex Clinic"));
        DemoSeeder.Options options = DemoSeeder.Options.defaults().withCounts(2, 0, 200);
        var a = new DemoSeeder(options, null).planObjects(tenants);
        var b = new DemoSeeder(options, null).planObjects(tenants);
        assertThat(a).isEqualTo(b);
        assertThat(a).extracting(DemoSeeder.PlannedObject::key).doesNotHaveDuplicates();
        assertThat(a).allMatch(o -> o.size() >= 1_024 && o.size() <= 1_024 * 1_024);
        assertThat(a).anyMatch(o -> o.filename().length() >= 200);
    }
}
