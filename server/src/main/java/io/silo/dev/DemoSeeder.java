package io.silo.dev;

import com.mongodb.ConnectionString;
import com.mongodb.MongoClientSettings;
import com.mongodb.client.MongoClient;
import com.mongodb.client.MongoClients;
import com.mongodb.client.MongoCollection;
import java.nio.ByteBuffer;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import org.bson.Document;
import org.bson.types.ObjectId;
import software.amazon.awssdk.core.async.AsyncRequestBody;
import software.amazon.awssdk.services.s3.S3AsyncClient;
import software.amazon.awssdk.services.s3.model.BucketAlreadyOwnedByYouException;
import software.amazon.awssdk.services.s3.model.NoSuchBucketException;

/**
 * Seeds a realistic, deterministic legacy estate for {@code silo-server dev --demo}: tenants and documents rows in
 * PostgreSQL, plaintext patient records in MongoDB, and objects with hostile names in one shared S3 bucket.
 */
public final class DemoSeeder {

    /** What to seed; {@link #defaults()} is the full demo. */
    public record Options(int tenants, int patients, int objects, long seed, String bucket, String mongoDatabase,
                          String mongoCollection, int uploadConcurrency, int insertBatchSize, AppSchema schema) {
        public Options {
            if (tenants < 1) {
                throw new IllegalArgumentException("tenants must be >= 1");
            }
            if (patients < 0 || objects < 0) {
                throw new IllegalArgumentException("patients and objects must be >= 0");
            }
            if (uploadConcurrency < 1 || insertBatchSize < 1) {
                throw new IllegalArgumentException("uploadConcurrency and insertBatchSize must be >= 1");
            }
            Objects.requireNonNull(bucket, "bucket");
            Objects.requireNonNull(mongoDatabase, "mongoDatabase");
            Objects.requireNonNull(mongoCollection, "mongoCollection");
            Objects.requireNonNull(schema, "schema");
        }

        /** 3 tenants, 30,000 patients, 3,000 objects in {@code dataroom-v2-demo-company-documents}. */
        public static Options defaults() {
            return new Options(3, 30_000, 3_000, 20261125L, SHARED_BUCKET, "legacy", "patients", 32, 1_000,
                    AppSchema.defaults());
        }

        public Options withCounts(int tenants, int patients, int objects) {
            return new Options(tenants, patients, objects, seed, bucket, mongoDatabase, mongoCollection,
                    uploadConcurrency, insertBatchSize, schema);
        }
    }

    /** What a run did; {@code skipped} runs changed nothing. */
    public record Result(boolean skipped, int tenants, long patients, int objects, long bytes, Duration elapsed,
                         String message) {
    }

    /** Opens JDBC connections to the application database (e.g. {@code DevPostgres::connect}). */
    @FunctionalInterface
    public interface ConnectionFactory {
        Connection open() throws SQLException;
    }

    /** The legacy app's shared bucket, from the migration guide. */
    public static final String SHARED_BUCKET = "dataroom-v2-demo-company-documents";

    private static final List<String[]> KNOWN_TENANTS = List.of(
            new String[] {"acme-health", "Acme Health"},
            new String[] {"globex-clinic", "Globex Clinic"},
            new String[] {"initech-care", "Initech Care"},
            new String[] {"umbrella-medical", "Umbrella Medical Group"},
            new String[] {"stark-pediatrics", "Stark Pediatrics"},
            new String[] {"wayne-family-practice", "Wayne Family Practice"});
    private static final String[] NAME_PARTS_A = {"North", "Blue", "Cedar", "Harbor", "Summit", "Maple", "River",
            "Lakeside", "Pioneer", "Evergreen", "Silver", "Oak"};
    private static final String[] NAME_PARTS_B = {"Dental", "Clinic", "Health", "Care", "Orthopedics", "Wellness",
            "Cardiology", "Dermatology", "Pediatrics", "Physio"};

    private static final String[] FIRST = {"Maria", "James", "Aiko", "Olusegun", "Chloé", "Dmitri", "Priya", "Liam",
            "Fatima", "Noah", "Sofía", "Wei", "Emma", "Mateo", "Zoë", "Håkon", "Ngozi", "Lucas", "Ana", "Yusuf"};
    private static final String[] LAST = {"García", "Smith", "Tanaka", "Adeyemi", "Dubois", "Ivanov", "Patel",
            "O'Connor", "Haddad", "Johnson", "Fernández", "Zhang", "Müller", "Rossi", "Nguyen", "Kowalski", "Okafor",
            "Silva", "Novak", "Øberg"};
    private static final String[] DIAGNOSES = {"E11.9 Type 2 diabetes mellitus without complications",
            "I10 Essential (primary) hypertension", "J45.909 Unspecified asthma, uncomplicated",
            "M54.5 Low back pain", "F41.1 Generalized anxiety disorder", "K21.9 Gastro-esophageal reflux disease",
            "E78.5 Hyperlipidemia, unspecified", "J06.9 Acute upper respiratory infection",
            "N39.0 Urinary tract infection, site not specified", "G43.909 Migraine, unspecified",
            "L20.9 Atopic dermatitis, unspecified", "Z00.00 General adult medical examination"};
    private static final String[] NOTES = {"Patient reports improvement since last visit.",
            "Follow up in 3 months.", "Medication adjusted; monitor for side effects.",
            "Referred to specialist.", "Labs ordered: CBC, CMP, HbA1c.", "Discussed diet and exercise.",
            "No known drug allergies.", "Allergic to penicillin.", "Patient declined flu vaccine.",
            "BP elevated at intake, rechecked after 10 min.", "Family history of heart disease."};

    /** Names that broke legacy code paths somewhere: the copy pipeline must carry them byte for byte. */
    static final List<String> HOSTILE_FILENAMES = List.of(
            "Q3 board deck FINAL (2).pdf",
            "résumé 履歴書.pdf",
            "re\u0301sume\u0301 decomposed-NFD.pdf",
            "📎 contract 🔒 signed ✅.docx",
            "👩‍⚕️ intake form ZWJ.png",
            "../../../etc/passwd",
            "..\\..\\windows\\system32\\config\\SAM",
            "./.env",
            "O'Brien \"intake\" form.pdf",
            "100% + growth plan+v2.xlsx",
            "a%2Fb%20already-encoded%3F.txt",
            "question?mark&amp=1#hash.pdf",
            "  leading and trailing spaces  .txt",
            "slashes/inside/the/name.pdf",
            "<script>alert(1)</script>.html",
            "invoice\u202Efdp.exe",
            "semi;colon,comma`backtick`$dollar.csv",
            "tab\tseparated.tsv",
            "Ελληνικά Русский עברית العربية.txt",
            "CON.txt",
            ("very long name " + "lorem ipsum dolor sit amet ".repeat(9)).trim() + " end.pdf");

    private static final String[] ORDINARY_STEMS = {"lab-results", "Scan", "referral letter", "insurance card",
            "consent_form", "x-ray", "discharge summary", "prescription", "invoice", "MRI report", "vaccination record"};
    private static final String[][] TYPES = {{"pdf", "application/pdf"}, {"jpg", "image/jpeg"},
            {"png", "image/png"}, {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
            {"txt", "text/plain"}, {"csv", "text/csv"}, {"xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}};

    private final Options options;
    private final Consumer<String> progress;

    public DemoSeeder(Options options, Consumer<String> progress) {
        this.options = Objects.requireNonNull(options, "options");
        this.progress = progress == null ? s -> { } : progress;
    }

    /**
     * Seeds everything unless demo data is already present in any of the three stores, in which case it changes
     * nothing and says so (a partial estate from an interrupted run is reported as such: wipe with --fresh).
     */
    public Result seed(ConnectionFactory pg, String mongoConnectionString, S3AsyncClient s3) throws Exception {
        long t0 = System.nanoTime();
        AppSchema schema = options.schema();
        try (Connection c = pg.open()) {
            schema.createIfAbsent(c);
        }
        try (MongoClient mongo = MongoClients.create(MongoClientSettings.builder()
                .applyConnectionString(new ConnectionString(mongoConnectionString))
                .build())) {
            MongoCollection<Document> patients =
                    mongo.getDatabase(options.mongoDatabase()).getCollection(options.mongoCollection());

            long existingTenants = count(pg, schema.tenantsTable());
            long existingDocuments = count(pg, schema.documentsTable());
            long existingPatients = patients.estimatedDocumentCount();
            boolean bucketHasObjects = bucketHasObjects(s3);
            if (existingTenants > 0 || existingDocuments > 0 || existingPatients > 0 || bucketHasObjects) {
                boolean complete = existingTenants == options.tenants() && existingDocuments == options.objects()
                        && existingPatients == options.patients() && (bucketHasObjects || options.objects() == 0);
                String msg = String.format(Locale.ROOT,
                        "Demo data already present (%d tenants, %d documents rows, %d %s.%s documents, bucket %s %s);"
                                + " nothing seeded.%s",
                        existingTenants, existingDocuments, existingPatients, options.mongoDatabase(),
                        options.mongoCollection(), options.bucket(), bucketHasObjects ? "not empty" : "empty",
                        complete ? "" : " It does not match a complete demo estate; restart with --fresh to reseed.");
                progress.accept(msg);
                return new Result(true, 0, 0, 0, 0, Duration.ofNanos(System.nanoTime() - t0), msg);
            }

            List<Tenant> tenants = insertTenants(pg);
            long patientCount = insertPatients(patients, tenants);
            long[] objectsAndBytes = uploadObjectsAndRecordRows(pg, s3, tenants);
            Duration elapsed = Duration.ofNanos(System.nanoTime() - t0);
            String msg = String.format(Locale.ROOT,
                    "Demo estate seeded in %.1f s: %d tenants, %d patients in %s.%s, %d objects (%.1f MB) in s3://%s",
                    elapsed.toMillis() / 1000.0, tenants.size(), patientCount, options.mongoDatabase(),
                    options.mongoCollection(), objectsAndBytes[0], objectsAndBytes[1] / 1e6, options.bucket());
            progress.accept(msg);
            return new Result(false, tenants.size(), patientCount, (int) objectsAndBytes[0], objectsAndBytes[1],
                    elapsed, msg);
        }
    }

    /** A tenant row as seeded. */
    record Tenant(long id, String slug, String name) {
    }

    /** The slug and display name of the i-th demo tenant: a few well-known ones, then generated ones. */
    static String[] tenantIdentity(int i) {
        if (i < KNOWN_TENANTS.size()) {
            return KNOWN_TENANTS.get(i);
        }
        String a = NAME_PARTS_A[i % NAME_PARTS_A.length];
        String b = NAME_PARTS_B[(i / NAME_PARTS_A.length) % NAME_PARTS_B.length];
        String name = a + " " + b + " " + (i + 1);
        return new String[] {name.toLowerCase(Locale.ROOT).replace(' ', '-'), name};
    }

    private List<Tenant> insertTenants(ConnectionFactory pg) throws SQLException {
        List<Tenant> out = new ArrayList<>();
        try (Connection c = pg.open();
             PreparedStatement ps = c.prepareStatement("insert into " + options.schema().tenantsTable()
                     + " (name, slug) values (?, ?) returning id")) {
            c.setAutoCommit(false);
            for (int i = 0; i < options.tenants(); i++) {
                String[] identity = tenantIdentity(i);
                ps.setString(1, identity[1]);
                ps.setString(2, identity[0]);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    out.add(new Tenant(rs.getLong(1), identity[0], identity[1]));
                }
            }
            c.commit();
        }
        progress.accept("Seeded " + out.size() + " tenants: "
                + String.join(", ", out.stream().map(Tenant::slug).toList()));
        return out;
    }

    /**
     * Picks a tenant for item {@code i} with a skewed (1/(k+1)) distribution, as real estates are uneven; the
     * first {@code tenants} items go one to each tenant so even tiny seeds give every tenant data.
     */
    public static int pickTenant(Random random, int i, int tenants) {
        if (i < tenants) {
            return i;
        }
        double total = 0;
        for (int k = 0; k < tenants; k++) {
            total += 1.0 / (k + 1);
        }
        double r = random.nextDouble() * total;
        for (int k = 0; k < tenants; k++) {
            r -= 1.0 / (k + 1);
            if (r < 0) {
                return k;
            }
        }
        return tenants - 1;
    }

    private long insertPatients(MongoCollection<Document> collection, List<Tenant> tenants) {
        Random random = new Random(options.seed());
        long start = LocalDate.of(1930, 1, 1).atStartOfDay(ZoneOffset.UTC).toInstant().toEpochMilli();
        long end = LocalDate.of(2020, 12, 31).atStartOfDay(ZoneOffset.UTC).toInstant().toEpochMilli();
        List<Document> batch = new ArrayList<>(options.insertBatchSize());
        long inserted = 0;
        long nextReport = Math.max(1, options.patients() / 5);
        for (int i = 0; i < options.patients(); i++) {
            Tenant tenant = tenants.get(pickTenant(random, i, tenants.size()));
            Document d = new Document("_id", patientId(i))
                    .append("tenantId", tenant.slug())
                    .append("name", FIRST[random.nextInt(FIRST.length)] + " " + LAST[random.nextInt(LAST.length)])
                    .append("ssn", String.format(Locale.ROOT, "%03d-%02d-%04d",
                            // Area 001-665 and 667-899: never 000, 666 or 9xx, which are not issued.
                            validArea(random), 1 + random.nextInt(99), 1 + random.nextInt(9999)))
                    .append("diagnosis", DIAGNOSES[random.nextInt(DIAGNOSES.length)])
                    .append("dob", new Date(start + (long) (random.nextDouble() * (end - start))))
                    .append("notes", NOTES[random.nextInt(NOTES.length)] + " " + NOTES[random.nextInt(NOTES.length)]);
            batch.add(d);
            if (batch.size() == options.insertBatchSize()) {
                collection.insertMany(batch);
                inserted += batch.size();
                batch = new ArrayList<>(options.insertBatchSize());
                if (inserted >= nextReport) {
                    progress.accept(String.format(Locale.ROOT, "  patients: %,d / %,d", inserted, options.patients()));
                    nextReport += Math.max(1, options.patients() / 5);
                }
            }
        }
        if (!batch.isEmpty()) {
            collection.insertMany(batch);
            inserted += batch.size();
        }
        progress.accept(String.format(Locale.ROOT, "Seeded %,d patients into %s.%s", inserted,
                options.mongoDatabase(), options.mongoCollection()));
        return inserted;
    }

    private static int validArea(Random random) {
        int area = 1 + random.nextInt(898);
        return area == 666 ? 667 : area;
    }

    /** A deterministic ObjectId: a fixed 2020 timestamp plus the index, so ids sort in insertion order. */
    private ObjectId patientId(int i) {
        ByteBuffer b = ByteBuffer.allocate(12);
        b.putInt(1_577_836_800 + i / 1000);
        b.putInt((int) (options.seed() ^ (options.seed() >>> 32)));
        b.putInt(i);
        return new ObjectId(b.array());
    }

    /** One planned object: its key, the original filename the user uploaded, and its size and type. */
    record PlannedObject(Tenant tenant, String key, String filename, int size, String contentType, long contentSeed) {
    }

    /** Deterministic object plan; kept separate from uploading so tests can reason about it. */
    List<PlannedObject> planObjects(List<Tenant> tenants) {
        Random random = new Random(options.seed() * 31 + 7);
        List<PlannedObject> plan = new ArrayList<>(options.objects());
        for (int i = 0; i < options.objects(); i++) {
            Tenant tenant = tenants.get(pickTenant(random, i, tenants.size()));
            String[] type = TYPES[random.nextInt(TYPES.length)];
            String filename;
            if (i < HOSTILE_FILENAMES.size()) {
                filename = HOSTILE_FILENAMES.get(i); // every hostile kind appears even in small seeds
            } else if (random.nextInt(5) == 0) {
                filename = HOSTILE_FILENAMES.get(random.nextInt(HOSTILE_FILENAMES.size()));
            } else {
                filename = String.format(Locale.ROOT, "%s %04d.%s",
                        ORDINARY_STEMS[random.nextInt(ORDINARY_STEMS.length)], random.nextInt(10_000), type[0]);
            }
            int size = objectSize(random);
            UUID uuid = new UUID((random.nextLong() & ~0xF000L) | 0x4000L,
                    (random.nextLong() & 0x3FFFFFFFFFFFFFFFL) | 0x8000000000000000L);
            String key = legacyKey(tenant.slug(), uuid, filename);
            plan.add(new PlannedObject(tenant, key, filename, size, contentTypeFor(filename, type[1]),
                    random.nextLong()));
        }
        return plan;
    }

    /**
     * The legacy app's layout {@code uploads/<tenant-slug>/<uuid>-<original filename>}: the filename is appended
     * as-is, {@code ../}, quotes, {@code %} and all. Two exceptions, because S3Mock's Tomcat answers 400 to them
     * although real S3 accepts both: a backslash (sent as {@code %5C}) and an empty path segment ({@code //}).
     * Those become {@code _} and {@code /} in the key only; {@code documents.filename} keeps the original.
     */
    static String legacyKey(String tenantSlug, UUID uuid, String filename) {
        String keySafe = filename.replace('\\', '_').replaceAll("/{2,}", "/");
        return "uploads/" + tenantSlug + "/" + uuid + "-" + keySafe;
    }

    /**
     * Mostly small files (1-20 KB, 85 %), some medium (20-100 KB, 12 %), a few large (100 KB-1 MB, 3 %): about
     * 30 KB on average, so the 3,000-object demo stays near 90 MB.
     */
    private static int objectSize(Random random) {
        int tier = random.nextInt(100);
        if (tier < 85) {
            return 1_024 + random.nextInt(19 * 1_024);
        } else if (tier < 97) {
            return 20 * 1_024 + random.nextInt(80 * 1_024);
        }
        return 100 * 1_024 + random.nextInt(924 * 1_024);
    }

    private static String contentTypeFor(String filename, String fallback) {
        String lower = filename.toLowerCase(Locale.ROOT);
        for (String[] t : TYPES) {
            if (lower.endsWith("." + t[0])) {
                return t[1];
            }
        }
        if (lower.endsWith(".html")) {
            return "text/html";
        }
        return lower.lastIndexOf('.') > 0 ? "application/octet-stream" : fallback;
    }

    private long[] uploadObjectsAndRecordRows(ConnectionFactory pg, S3AsyncClient s3, List<Tenant> tenants)
            throws Exception {
        if (options.objects() == 0) {
            return new long[] {0, 0};
        }
        try {
            s3.createBucket(b -> b.bucket(options.bucket())).join();
        } catch (java.util.concurrent.CompletionException e) {
            if (!(e.getCause() instanceof BucketAlreadyOwnedByYouException)) {
                throw e;
            }
        }
        List<PlannedObject> plan = planObjects(tenants);
        // Bounded concurrency: a semaphore permit per in-flight PUT, so memory (one body per permit) and
        // connections stay bounded however many objects are planned.
        Semaphore permits = new Semaphore(options.uploadConcurrency());
        AtomicLong done = new AtomicLong();
        AtomicLong bytes = new AtomicLong();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<CompletableFuture<?>> inFlight = new ArrayList<>();
        long reportEvery = Math.max(1, plan.size() / 10);
        for (PlannedObject o : plan) {
            if (failure.get() != null) {
                break;
            }
            permits.acquire();
            byte[] body = new byte[o.size()];
            new Random(o.contentSeed()).nextBytes(body);
            CompletableFuture<?> f = s3.putObject(b -> b.bucket(options.bucket()).key(o.key())
                            .contentType(o.contentType()).contentLength((long) o.size()),
                    AsyncRequestBody.fromBytes(body))
                    .whenComplete((r, e) -> {
                        permits.release();
                        if (e != null) {
                            failure.compareAndSet(null, new IllegalStateException(
                                    "Upload of s3://" + options.bucket() + "/" + o.key() + " failed: " + e, e));
                            return;
                        }
                        bytes.addAndGet(o.size());
                        long n = done.incrementAndGet();
                        if (n % reportEvery == 0 || n == plan.size()) {
                            progress.accept(String.format(Locale.ROOT, "  objects: %,d / %,d (%.1f MB)", n,
                                    plan.size(), bytes.get() / 1e6));
                        }
                    });
            inFlight.add(f);
        }
        CompletableFuture.allOf(inFlight.toArray(CompletableFuture[]::new)).exceptionally(e -> null).join();
        if (failure.get() != null) {
            throw new IllegalStateException("Seeding S3 failed; the bucket is now partial, restart with --fresh",
                    failure.get());
        }

        // Rows go in after every upload succeeded, in one transaction, so documents rows never point at objects
        // that were not written.
        try (Connection c = pg.open();
             PreparedStatement ps = c.prepareStatement("insert into " + options.schema().documentsTable()
                     + " (tenant_id, filename, s3_bucket, s3_key, size_bytes, content_type) values (?,?,?,?,?,?)")) {
            c.setAutoCommit(false);
            int n = 0;
            for (PlannedObject o : plan) {
                ps.setLong(1, o.tenant().id());
                ps.setString(2, o.filename());
                ps.setString(3, options.bucket());
                ps.setString(4, o.key());
                ps.setLong(5, o.size());
                ps.setString(6, o.contentType());
                ps.addBatch();
                if (++n % 1_000 == 0) {
                    ps.executeBatch();
                }
            }
            ps.executeBatch();
            c.commit();
        }
        progress.accept(String.format(Locale.ROOT, "Seeded %,d objects (%.1f MB) into s3://%s and %s",
                plan.size(), bytes.get() / 1e6, options.bucket(), options.schema().documentsTable()));
        return new long[] {plan.size(), bytes.get()};
    }

    private static long count(ConnectionFactory pg, String table) throws SQLException {
        try (Connection c = pg.open(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select count(*) from " + table)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private boolean bucketHasObjects(S3AsyncClient s3) {
        try {
            return s3.listObjectsV2(b -> b.bucket(options.bucket()).maxKeys(1)).join().keyCount() > 0;
        } catch (java.util.concurrent.CompletionException e) {
            if (e.getCause() instanceof NoSuchBucketException) {
                return false;
            }
            throw e;
        }
    }
}
