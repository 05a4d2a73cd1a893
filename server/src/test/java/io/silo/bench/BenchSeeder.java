package io.silo.bench;

import com.mongodb.client.MongoClient;
import com.mongodb.client.MongoCollection;
import com.mongodb.client.model.Filters;
import io.silo.mongo.EncryptionPlan.Namespace;
import java.nio.ByteBuffer;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.function.Consumer;
import org.bson.Document;
import org.bson.types.ObjectId;

/**
 * Fills the source collection with legacy patient documents shaped like {@code DemoSeeder}'s
 * ({@code _id, tenantId, name, ssn, diagnosis, dob, notes}), and reuses an earlier seed of the same size.
 */
final class BenchSeeder {

  private static final String[] FIRST = {"Maria", "James", "Aiko", "Olusegun", "Chloé", "Dmitri", "Priya", "Liam",
      "Fatima", "Noah", "Sofía", "Wei", "Emma", "Mateo", "Zoë", "Håkon"};
  private static final String[] LAST = {"García", "Smith", "Tanaka", "Adeyemi", "Dubois", "Ivanov", "Patel",
      "O'Connor", "Haddad", "Johnson", "Zhang", "Müller", "Rossi", "Nguyen", "Okafor", "Øberg"};
  private static final String[] DIAGNOSES = {"E11.9 Type 2 diabetes mellitus without complications",
      "I10 Essential (primary) hypertension", "J45.909 Unspecified asthma, uncomplicated", "M54.5 Low back pain",
      "F41.1 Generalized anxiety disorder", "K21.9 Gastro-esophageal reflux disease",
      "E78.5 Hyperlipidemia, unspecified", "G43.909 Migraine, unspecified"};
  private static final String[] NOTES = {"Patient reports improvement since last visit.", "Follow up in 3 months.",
      "Medication adjusted; monitor for side effects.", "Referred to specialist.", "Labs ordered: CBC, CMP, HbA1c.",
      "Discussed diet and exercise.", "No known drug allergies.", "Allergic to penicillin."};

  /** Where the seed's parameters are recorded, so a rerun with the same sizes skips seeding. */
  static final Namespace META = new Namespace("silo_bench", "seed");

  private final int tenants;
  private final int docs;
  private final boolean skewed;
  private final Consumer<String> progress;

  BenchSeeder(int tenants, int docs, boolean skewed, Consumer<String> progress) {
    this.tenants = tenants;
    this.docs = docs;
    this.skewed = skewed;
    this.progress = progress;
  }

  /** The benchmark's tenant slugs, {@code bench-01} and so on. */
  static List<String> slugs(int tenants) {
    List<String> out = new ArrayList<>();
    for (int i = 1; i <= tenants; i++) {
      out.add(String.format(Locale.ROOT, "bench-%02d", i));
    }
    return out;
  }

  /** Seeds {@code source} unless it already holds exactly this seed; returns true when it seeded. */
  boolean seed(MongoClient client, Namespace source, int batchSize) {
    MongoCollection<Document> meta = client.getDatabase(META.database()).getCollection(META.collection());
    MongoCollection<Document> collection = client.getDatabase(source.database()).getCollection(source.collection());
    Document wanted = new Document("_id", source.toString()).append("tenants", tenants).append("docs", docs)
        .append("skewed", skewed);
    Document recorded = meta.find(Filters.eq("_id", source.toString())).first();
    if (wanted.equals(recorded) && collection.countDocuments() == docs) {
      progress.accept(String.format(Locale.ROOT, "Reusing %,d documents in %s (%d tenants) from an earlier run",
          docs, source, tenants));
      return false;
    }
    ScratchCollections.drop(client, source);
    meta.deleteOne(Filters.eq("_id", source.toString()));
    List<String> slugs = slugs(tenants);
    Random random = new Random(20_261_125L);
    long start = LocalDate.of(1930, 1, 1).atStartOfDay(ZoneOffset.UTC).toInstant().toEpochMilli();
    long end = LocalDate.of(2020, 12, 31).atStartOfDay(ZoneOffset.UTC).toInstant().toEpochMilli();
    long t0 = System.nanoTime();
    long nextReport = 0;
    List<Document> batch = new ArrayList<>(batchSize);
    for (int i = 0; i < docs; i++) {
      batch.add(new Document("_id", id(i))
          .append("tenantId", slugs.get(tenantOf(random, i)))
          .append("name", FIRST[random.nextInt(FIRST.length)] + " " + LAST[random.nextInt(LAST.length)])
          .append("ssn", String.format(Locale.ROOT, "%03d-%02d-%04d", 1 + random.nextInt(665),
              1 + random.nextInt(99), 1 + random.nextInt(9999)))
          .append("diagnosis", DIAGNOSES[random.nextInt(DIAGNOSES.length)])
          .append("dob", new Date(start + (long) (random.nextDouble() * (end - start))))
          .append("notes", NOTES[random.nextInt(NOTES.length)] + " " + NOTES[random.nextInt(NOTES.length)]));
      if (batch.size() == batchSize || i == docs - 1) {
        collection.insertMany(batch);
        batch = new ArrayList<>(batchSize);
        long done = i + 1L;
        if (done >= nextReport || done == docs) {
          double secs = (System.nanoTime() - t0) / 1e9;
          progress.accept(String.format(Locale.ROOT, "  seeded %,d / %,d (%.0f docs/s)", done, docs, done / secs));
          nextReport = done + Math.max(batchSize, docs / 10);
        }
      }
    }
    meta.insertOne(wanted);
    progress.accept(String.format(Locale.ROOT, "Seeded %,d documents across %d tenants into %s in %.1f s", docs,
        tenants, source, (System.nanoTime() - t0) / 1e9));
    return true;
  }

  /**
   * Even by default (the "100,000 across 10 tenants"); skewed gives tenant k a share of 1/(k+1) like the demo
   * estate, which leaves Silo's largest tenant as a long tail.
   */
  private int tenantOf(Random random, int i) {
    return skewed ? io.silo.dev.DemoSeeder.pickTenant(random, i, tenants) : i % tenants;
  }


  /** Ascending ObjectIds, as an application inserting over time would have. */
  private static ObjectId id(int i) {
    ByteBuffer b = ByteBuffer.allocate(12);
    b.putInt(1_577_836_800 + i / 1000);
    b.putInt(0x51_10_be_4c);
    b.putInt(i);
    return new ObjectId(b.array());
  }
}
