package io.silo.mongo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.tuple;

import com.mongodb.ClientEncryptionSettings;
import com.mongodb.MongoClientSettings;
import com.mongodb.client.MongoClient;
import com.mongodb.client.MongoClients;
import com.mongodb.client.MongoCollection;
import com.mongodb.client.model.Filters;
import com.mongodb.client.model.Sorts;
import com.mongodb.client.model.Updates;
import com.mongodb.client.model.vault.DataKeyOptions;
import com.mongodb.client.model.vault.EncryptOptions;
import com.mongodb.client.vault.ClientEncryption;
import com.mongodb.client.vault.ClientEncryptions;
import com.mongodb.event.CommandListener;
import com.mongodb.event.CommandStartedEvent;
import io.silo.dev.mongo.DevMongoServer;
import io.silo.keys.TenantKeys;
import io.silo.mongo.TenantVerifier.Finding;
import io.silo.mongo.TenantVerifier.Kind;
import io.silo.mongo.TenantVerifier.Summary;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;
import org.bson.BsonBinary;
import org.bson.BsonDocument;
import org.bson.BsonInt32;
import org.bson.BsonObjectId;
import org.bson.BsonString;
import org.bson.BsonValue;
import org.bson.UuidRepresentation;
import org.bson.types.ObjectId;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.TestInstance;

/**
 * TenantVerifier against the dev MongoDB stand-in with real local-KMS data keys. Each test migrates its own pair of
 * collections exactly as the copy pipeline does (DocumentEncryptor per source document), then damages the target.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TenantVerifierTest {

  private static final String KEY_VAULT = "encryption.__keyVault";
  private static final int ACME_DOCS = 40;
  private static final int GLOBEX_DOCS = 5;

  private DevMongoServer dev;
  private MongoClient mongo;
  private Map<String, Map<String, Object>> kmsProviders;
  private ClientEncryption encryption;
  private ExecutorService pool;
  private UUID acmeKey;
  private UUID globexKey;

  @BeforeAll
  void startMongoAndCreateTenantKeys() {
    dev = DevMongoServer.start(null, "127.0.0.1", 0);
    mongo = MongoClientFactory.sync(dev.connectionString());
    byte[] masterKey = new byte[96];
    new SecureRandom().nextBytes(masterKey);
    kmsProviders = Map.of("local", Map.of("key", masterKey));
    encryption = newEncryption();
    acmeKey = createKey("acme");
    globexKey = createKey("globex");
    pool = Executors.newFixedThreadPool(2);
  }

  @AfterAll
  void stop() {
    if (pool != null) pool.shutdownNow();
    if (encryption != null) encryption.close();
    if (mongo != null) mongo.close();
    if (dev != null) dev.close();
  }

  // ---- a faithful migration -----------------------------------------------------------------------------------------

  @Test
  void correctlyMigratedTenantIsCleanAndDecryptsOnTheExecutor(TestInfo test) {
    Fixture f = migrated(test, "acme", acmeKey, ACME_DOCS, 16);
    AtomicInteger decryptTasks = new AtomicInteger();
    Executor counting = task -> {
      decryptTasks.incrementAndGet();
      pool.execute(task);
    };
    RecordingSink sink = new RecordingSink();

    Summary summary = new TenantVerifier(mongo, encryption, counting, f.plan).verify("acme", acmeKey, sink);

    assertThat(summary).isEqualTo(new Summary(ACME_DOCS, 0, 0, true, 0));
    assertThat(sink.findings).isEmpty();
    assertThat(sink.events).containsExactly("checked 16", "checked 32", "checked 40");
    assertThat(decryptTasks).hasValue(ACME_DOCS);
    assertThat(verify(f, "globex", globexKey).summary).isEqualTo(new Summary(GLOBEX_DOCS, 0, 0, true, 0));
  }

  // ---- source documents without a faithful target --------------------------------------------------------------------

  @Test
  void missingTargetDocumentIsReported(TestInfo test) {
    Fixture f = migrated(test, "acme", acmeKey, ACME_DOCS, 16);
    f.target.deleteOne(Filters.eq("_id", f.id(7)));

    Run run = verify(f, "acme", acmeKey);

    assertThat(run.findings).containsExactly(new Finding(Kind.MISSING_TARGET, f.display(7), "",
        "no document with this _id in " + f.plan.target()));
    assertThat(run.summary).isEqualTo(new Summary(ACME_DOCS, 1, 0, false, 0));
  }

  @Test
  void sourceDocumentThePlanDoesNotFitIsMissingWithTheReason(TestInfo test) {
    Fixture f = migrated(test, "acme", acmeKey, 3, 16);
    // The pipeline reports this as an item failure and writes no target for it.
    f.source.insertOne(new BsonDocument("_id", new BsonString("misfit")).append("tenant", new BsonString("acme"))
        .append("ssn", new BsonInt32(123456789)));

    Run run = verify(f, "acme", acmeKey);

    assertThat(run.findings).singleElement().satisfies(finding -> {
      assertThat(finding.kind()).isEqualTo(Kind.MISSING_TARGET);
      assertThat(finding.sourceId()).isEqualTo("misfit");
      assertThat(finding.message()).contains(DocumentEncryptor.TYPE_MISMATCH, "'ssn'", "int")
          .doesNotContain("123456789");
    });
  }

  @Test
  void plannedFieldLeftPlaintextOrDroppedIsNotEncrypted(TestInfo test) {
    Fixture f = migrated(test, "acme", acmeKey, ACME_DOCS, 16);
    f.setTarget(3, "ssn", f.sourceValue(3, "ssn"));
    f.setTarget(4, "contact.phone", f.sourceValue(4, "contact.phone"));
    f.target.updateOne(Filters.eq("_id", f.id(6)), Updates.unset("notes"));
    f.setTarget(8, "ssn", new BsonBinary(new byte[] {1, 2, 3}));

    Run run = verify(f, "acme", acmeKey);

    assertThat(run.findings).extracting(Finding::kind).containsOnly(Kind.NOT_ENCRYPTED);
    assertThat(run.findings).extracting(Finding::sourceId, Finding::field).containsExactlyInAnyOrder(
        tuple(f.display(3), "ssn"),
        tuple(f.display(4), "contact.phone"),
        tuple(f.display(6), "notes"),
        tuple(f.display(8), "ssn"));
    assertThat(f.findingFor(run, 3).message()).isEqualTo("target holds string, not a CSFLE ciphertext (binary subtype 6)");
    assertThat(f.findingFor(run, 6).message()).contains("absent in the target");
    assertThat(f.findingFor(run, 8).message()).contains("binData subtype 0");
    assertThat(run.summary).isEqualTo(new Summary(ACME_DOCS, 4, 0, false, 0));
  }

  @Test
  void fieldEncryptedUnderAnotherTenantsKeyIsNotEncrypted(TestInfo test) {
    Fixture f = migrated(test, "acme", acmeKey, ACME_DOCS, 16);
    f.setTarget(2, "ssn", encrypt(f.sourceValue(2, "ssn"), FieldRule.Algorithm.DETERMINISTIC, globexKey));

    Run run = verify(f, "acme", acmeKey);

    assertThat(run.findings).containsExactly(new Finding(Kind.NOT_ENCRYPTED, f.display(2), "ssn",
        "encrypted under data key " + globexKey + ", expected the tenant's key " + acmeKey));
  }

  @Test
  void tenantWithoutADataKeyHasNoAcceptableCiphertext(TestInfo test) {
    Fixture f = migrated(test, "acme", acmeKey, 6, 16);

    Run run = verify(f, "acme", null);

    // Six documents with ssn and contact.phone, four of them with notes (every fifth has none).
    assertThat(run.findings).hasSize(6 * 2 + 4).extracting(Finding::kind).containsOnly(Kind.NOT_ENCRYPTED);
    assertThat(run.findings).extracting(Finding::message)
        .allSatisfy(m -> assertThat(m).isEqualTo("encrypted under data key " + acmeKey + ", but the tenant has no data key"));
  }

  @Test
  void fieldEncryptedWithTheWrongAlgorithmIsNotEncrypted(TestInfo test) {
    Fixture f = migrated(test, "acme", acmeKey, ACME_DOCS, 16);
    f.setTarget(5, "ssn", encrypt(f.sourceValue(5, "ssn"), FieldRule.Algorithm.RANDOM, acmeKey));
    f.setTarget(6, "notes", encrypt(f.sourceValue(6, "notes"), FieldRule.Algorithm.DETERMINISTIC, acmeKey));

    Run run = verify(f, "acme", acmeKey);

    assertThat(run.findings).containsExactlyInAnyOrder(
        new Finding(Kind.NOT_ENCRYPTED, f.display(5), "ssn", "encrypted as RANDOM, plan requires DETERMINISTIC"),
        new Finding(Kind.NOT_ENCRYPTED, f.display(6), "notes", "encrypted as DETERMINISTIC, plan requires RANDOM"));
  }

  @Test
  void ciphertextThatDecryptsToAnotherValueIsAValueMismatch(TestInfo test) {
    Fixture f = migrated(test, "acme", acmeKey, ACME_DOCS, 16);
    BsonValue ssn1 = f.targetValue(1, "ssn");
    f.setTarget(1, "ssn", f.targetValue(2, "ssn"));
    f.setTarget(2, "ssn", ssn1);
    f.setTarget(3, "contact.phone", encrypt(new BsonInt32(5550103), FieldRule.Algorithm.DETERMINISTIC, acmeKey));

    Run run = verify(f, "acme", acmeKey);

    assertThat(run.findings).containsExactlyInAnyOrder(
        new Finding(Kind.VALUE_MISMATCH, f.display(1), "ssn", "decrypts to a different value than the source (both string)"),
        new Finding(Kind.VALUE_MISMATCH, f.display(2), "ssn", "decrypts to a different value than the source (both string)"),
        new Finding(Kind.VALUE_MISMATCH, f.display(3), "contact.phone",
            "decrypts to a different value than the source (source string, decrypted int)"));
  }

  @Test
  void ciphertextUnderAShreddedKeyIsAValueMismatchNamingTheFailure(TestInfo test) {
    UUID initechKey = createKey("initech");
    Fixture f = migrated(test, "initech", initechKey, 6, 16);
    encryption.deleteKey(TenantKeys.uuidBinary(initechKey));

    // A fresh ClientEncryption: the long-lived one may still hold the data key in its cache.
    try (ClientEncryption fresh = newEncryption()) {
      RecordingSink sink = new RecordingSink();
      Summary summary = new TenantVerifier(mongo, fresh, pool, f.plan).verify("initech", initechKey, sink);

      assertThat(summary.findings()).isEqualTo(6 * 2 + 4);
      assertThat(sink.findings).extracting(Finding::kind).containsOnly(Kind.VALUE_MISMATCH);
      assertThat(sink.findings).extracting(Finding::message).allSatisfy(m -> assertThat(m)
          .startsWith("cannot decrypt (data key " + initechKey + " is not in the key vault: shredded or deleted?): "));
    }
  }

  @Test
  void changedMissingOrExtraNonPlannedFieldsAreFieldMismatches(TestInfo test) {
    Fixture f = migrated(test, "acme", acmeKey, ACME_DOCS, 16);
    f.setTarget(1, "name", new BsonString("Mallory"));
    f.target.updateOne(Filters.eq("_id", f.id(2)), Updates.unset("age"));
    f.setTarget(3, "insurer", new BsonString("Initrode"));
    f.setTarget(4, "contact.city", new BsonString("Shelbyville"));
    f.setTarget(5, "age", new BsonString("35"));
    f.setTarget(6, "tenant", new BsonString("globex"));
    f.setTarget(10, "notes", encrypt(new BsonString("invented"), FieldRule.Algorithm.RANDOM, acmeKey));

    Run run = verify(f, "acme", acmeKey);

    assertThat(run.findings).containsExactlyInAnyOrder(
        new Finding(Kind.FIELD_MISMATCH, f.display(1), "name", "value differs (both string)"),
        new Finding(Kind.FIELD_MISMATCH, f.display(2), "age", "field is missing in the target (source holds int)"),
        new Finding(Kind.FIELD_MISMATCH, f.display(3), "insurer", "target has a field the source does not (string)"),
        new Finding(Kind.FIELD_MISMATCH, f.display(4), "contact.city", "value differs (both string)"),
        new Finding(Kind.FIELD_MISMATCH, f.display(5), "age", "value differs (source int, target string)"),
        new Finding(Kind.FIELD_MISMATCH, f.display(6), "tenant", "value differs (both string)"),
        new Finding(Kind.FIELD_MISMATCH, f.display(10), "notes",
            "planned field is absent in the source but present in the target (binData subtype 6)"));
  }

  // ---- target documents without a source ---------------------------------------------------------------------------

  @Test
  void extraTargetDocumentOfTheTenantIsReportedButOtherTenantsDocumentsAreNot(TestInfo test) {
    Fixture f = migrated(test, "acme", acmeKey, ACME_DOCS, 16);
    f.target.insertOne(new BsonDocument("_id", new BsonString("stray")).append("tenant", new BsonString("acme")));
    f.target.insertOne(new BsonDocument("_id", new BsonString("g-stray")).append("tenant", new BsonString("globex")));

    Run acme = verify(f, "acme", acmeKey);
    Run globex = verify(f, "globex", globexKey);

    assertThat(acme.findings).containsExactly(new Finding(Kind.EXTRA_TARGET, "stray", "",
        "target document of tenant 'acme' has no source document of that tenant in " + f.plan.source()));
    assertThat(acme.summary).isEqualTo(new Summary(ACME_DOCS, 1, 1, false, 0));
    assertThat(globex.findings).extracting(Finding::sourceId).containsExactly("g-stray");
    assertThat(globex.summary).isEqualTo(new Summary(GLOBEX_DOCS, 1, 1, false, 0));
  }

  // ---- streaming and cancellation ----------------------------------------------------------------------------------

  @Test
  void findingsAreStreamedPerSourceIdBeforeTheirBatchIsCounted(TestInfo test) {
    Fixture f = migrated(test, "acme", acmeKey, 30, 8);
    List<Integer> broken = List.of(2, 9, 20, 21, 29);
    broken.forEach(i -> f.target.deleteOne(Filters.eq("_id", f.id(i))));
    List<String> brokenIds = broken.stream().map(f::display).toList();

    RecordingSink sink = new RecordingSink();
    new TenantVerifier(mongo, encryption, pool, f.plan).verify("acme", acmeKey, sink);

    // Expected stream: source documents in the database's _id order, in batches of 8, each batch's findings
    // in that order followed by the running count.
    List<String> expected = new ArrayList<>();
    List<String> sorted = new ArrayList<>();
    f.source.find(Filters.eq("tenant", "acme")).sort(Sorts.ascending("_id"))
        .forEach(doc -> sorted.add(SourceIds.display(doc.get("_id"))));
    for (int i = 0; i < sorted.size(); i++) {
      if (brokenIds.contains(sorted.get(i))) {
        expected.add("finding " + sorted.get(i));
      }
      if ((i + 1) % 8 == 0 || i == sorted.size() - 1) {
        expected.add("checked " + (i + 1));
      }
    }
    assertThat(sink.events).containsExactlyElementsOf(expected);
  }

  @Test
  void sinkThatThrowsStopsTheVerify(TestInfo test) {
    Fixture f = migrated(test, "acme", acmeKey, ACME_DOCS, 16);
    f.target.deleteMany(Filters.eq("tenant", "acme"));
    f.target.insertOne(new BsonDocument("_id", new BsonString("stray")).append("tenant", new BsonString("acme")));
    List<Finding> seen = new ArrayList<>();
    List<Long> counts = new ArrayList<>();
    TenantVerifier.Sink goneAway = new TenantVerifier.Sink() {
      @Override
      public void finding(Finding finding) {
        if (seen.size() == 3) {
          throw new CancellationException("caller went away");
        }
        seen.add(finding);
      }

      @Override
      public void checked(long soFar) {
        counts.add(soFar);
      }
    };

    assertThatThrownBy(() -> new TenantVerifier(mongo, encryption, pool, f.plan).verify("acme", acmeKey, goneAway))
        .isInstanceOf(CancellationException.class).hasMessage("caller went away");
    assertThat(seen).hasSize(3).extracting(Finding::kind).containsOnly(Kind.MISSING_TARGET);
    assertThat(counts).isEmpty();
  }

  // ---- merging source and target in _id order ---------------------------------------------------------------------

  @Test
  void extraTargetsBetweenSourceIdsAreReportedAtTheirPlaceInIdOrder(TestInfo test) {
    Fixture f = migrated(test, "acme", acmeKey, ACME_DOCS, 16, IdStyle.STRING);
    for (String id : List.of("a-first", "p003a", "p015a", "p020a", "p039z")) {
      f.target.insertOne(stray(new BsonString(id), "acme"));
    }
    f.target.insertOne(stray(new BsonString("p004a"), "globex"));
    f.target.deleteOne(Filters.eq("_id", f.id(10)));

    RecordingSink sink = new RecordingSink();
    Summary summary = new TenantVerifier(mongo, encryption, pool, f.plan).verify("acme", acmeKey, sink);

    // Batches are p000-p015, p016-p031 and p032-p039: p015a is met while placing p016, p039z after the last batch.
    assertThat(sink.events).containsExactly("finding a-first", "finding p003a", "finding p010", "checked 16",
        "finding p015a", "finding p020a", "checked 32", "checked 40", "finding p039z");
    assertThat(sink.findings).filteredOn(finding -> finding.kind() == Kind.EXTRA_TARGET)
        .containsExactly(extra(f, "acme", "a-first"), extra(f, "acme", "p003a"), extra(f, "acme", "p015a"),
            extra(f, "acme", "p020a"), extra(f, "acme", "p039z"));
    assertThat(f.findingFor(new Run(summary, sink.findings), 10).kind()).isEqualTo(Kind.MISSING_TARGET);
    assertThat(summary).isEqualTo(new Summary(ACME_DOCS, 6, 5, false, 0));
    assertThat(verify(f, "globex", globexKey).findings).containsExactly(extra(f, "globex", "p004a"));
  }

  @Test
  void moreExtraTargetsInARowThanABatchAreReportedInOrder(TestInfo test) {
    Fixture f = migrated(test, "acme", acmeKey, 6, 4, IdStyle.STRING);
    List<String> strays = IntStream.range(0, 10).mapToObj(i -> "p001-" + i).toList();
    strays.forEach(id -> f.target.insertOne(stray(new BsonString(id), "acme")));

    RecordingSink sink = new RecordingSink();
    Summary summary = new TenantVerifier(mongo, encryption, pool, f.plan).verify("acme", acmeKey, sink);

    List<String> expected = new ArrayList<>(strays.stream().map(id -> "finding " + id).toList());
    expected.addAll(List.of("checked 4", "checked 6"));
    assertThat(sink.events).containsExactlyElementsOf(expected);
    assertThat(summary).isEqualTo(new Summary(6, 10, 10, false, 0));
  }

  @Test
  void targetMovedToAnotherTenantIsComparedNotMissing(TestInfo test) {
    Fixture f = migrated(test, "acme", acmeKey, ACME_DOCS, 16, IdStyle.STRING);
    f.setTarget(6, "tenant", new BsonString("globex"));

    // As with lookups by _id: the acme source document finds its target outside acme's part of the target ...
    assertThat(verify(f, "acme", acmeKey).findings).containsExactly(
        new Finding(Kind.FIELD_MISMATCH, f.display(6), "tenant", "value differs (both string)"));
    // ... and for globex that target has no source document.
    assertThat(verify(f, "globex", globexKey).findings).containsExactly(extra(f, "globex", f.display(6)));
  }

  @Test
  void cleanVerifyOfObjectIdOrStringIdsIssuesNoInQuery(TestInfo test) {
    FindRecorder finds = new FindRecorder();
    try (MongoClient recording = MongoClients.create(MongoClientSettings.builder(
        MongoClientFactory.settings(dev.connectionString())).addCommandListener(finds).build())) {
      for (IdStyle style : List.of(IdStyle.OBJECT_ID, IdStyle.STRING)) {
        Fixture f = migrated(test, "acme", acmeKey, ACME_DOCS, 16, style);
        finds.filters.clear();

        Summary summary = new TenantVerifier(recording, encryption, pool, f.plan).verify("acme", acmeKey,
            new RecordingSink());

        assertThat(summary).isEqualTo(new Summary(ACME_DOCS, 0, 0, true, 0));
        // One sorted find on each collection, then only getMores.
        assertThat(finds.on(f)).as("finds of a %s verify", style).hasSize(2)
            .allSatisfy(filter -> assertThat(filter).doesNotContain("$in"));
      }

      // The control: a run that falls back looks documents up with $in, and the recorder sees it.
      Fixture mixed = migrated(test, "acme", acmeKey, ACME_DOCS, 16, IdStyle.MIXED);
      finds.filters.clear();
      new TenantVerifier(recording, encryption, pool, mixed.plan).verify("acme", acmeKey, new RecordingSink());
      assertThat(finds.on(mixed)).anySatisfy(filter -> assertThat(filter).contains("\"_id\": {\"$in\""));
    }
  }

  @Test
  void sinkThatThrowsStopsAMergingVerify(TestInfo test) {
    Fixture f = migrated(test, "acme", acmeKey, ACME_DOCS, 16, IdStyle.STRING);
    f.target.deleteMany(Filters.eq("tenant", "acme"));
    f.target.insertOne(stray(new BsonString("a-stray"), "acme"));
    List<Finding> seen = new ArrayList<>();
    TenantVerifier.Sink goneAway = new TenantVerifier.Sink() {
      @Override
      public void finding(Finding finding) {
        if (seen.size() == 3) {
          throw new CancellationException("caller went away");
        }
        seen.add(finding);
      }

      @Override
      public void checked(long soFar) {
        throw new AssertionError("no batch completes");
      }
    };

    assertThatThrownBy(() -> new TenantVerifier(mongo, encryption, pool, f.plan).verify("acme", acmeKey, goneAway))
        .isInstanceOf(CancellationException.class).hasMessage("caller went away");
    assertThat(seen).extracting(Finding::kind)
        .containsExactly(Kind.EXTRA_TARGET, Kind.MISSING_TARGET, Kind.MISSING_TARGET);
  }

  // ---- falling back to lookups by _id ------------------------------------------------------------------------------

  @Test
  void mixedIdTypesFallBackAndReportAMissingAndAnExtraTargetOnceEach(TestInfo test) {
    Fixture f = migrated(test, "acme", acmeKey, ACME_DOCS, 16, IdStyle.MIXED);
    assertThat(verify(f, "acme", acmeKey).summary).isEqualTo(new Summary(ACME_DOCS, 0, 0, true, 0));

    f.target.deleteOne(Filters.eq("_id", f.id(9)));
    f.target.insertOne(stray(new BsonInt32(1000), "acme"));
    f.target.insertOne(stray(new BsonString("p001a"), "acme"));

    Run run = verify(f, "acme", acmeKey);

    assertThat(f.id(9)).isEqualTo(new BsonInt32(9));
    // Numbers sort before strings: the run merges the int _ids, then falls back at the first string.
    assertThat(run.findings).containsExactly(
        new Finding(Kind.MISSING_TARGET, "9", "", "no document with this _id in " + f.plan.target()),
        extra(f, "acme", "1000"),
        extra(f, "acme", "p001a"));
    assertThat(run.summary).isEqualTo(new Summary(ACME_DOCS, 3, 2, false, 0));
  }

  @Test
  void fallbackLateInTheRunReportsNoExtraTargetTwice(TestInfo test) {
    Fixture f = migrated(test, "acme", acmeKey, ACME_DOCS, 16, IdStyle.STRING);
    f.target.insertOne(stray(new BsonString("p005a"), "acme"));
    f.target.deleteOne(Filters.eq("_id", f.id(30)));
    // ObjectIds sort after strings: the merge reaches this document last, cannot order it and falls back there.
    BsonDocument late = patient(new BsonObjectId(new ObjectId()), "acme", 99);
    f.source.insertOne(late);
    f.target.insertOne(encrypted(new DocumentEncryptor(f.plan, encryption), late, acmeKey));
    ObjectId strayId = new ObjectId();
    f.target.insertOne(stray(new BsonObjectId(strayId), "acme"));

    Run run = verify(f, "acme", acmeKey);

    assertThat(run.findings).containsExactly(
        extra(f, "acme", "p005a"),
        new Finding(Kind.MISSING_TARGET, f.display(30), "", "no document with this _id in " + f.plan.target()),
        extra(f, "acme", strayId.toHexString()));
    assertThat(run.summary).isEqualTo(new Summary(ACME_DOCS + 1, 3, 2, false, 0));
  }

  @Test
  void cursorOrderThatIdOrderDoesNotShareCostsLookupsNotWrongFindings(TestInfo test) {
    Fixture f = migrated(test, "acme", acmeKey, 3, 16, IdStyle.STRING);
    // U+FF5E sorts before U+1F600 by UTF-8 bytes (MongoDB, IdOrder), after it by UTF-16 units (the dev stand-in).
    BsonString tilde = new BsonString("\uFF5E");
    BsonString emoji = new BsonString("\uD83D\uDE00");
    DocumentEncryptor encryptor = new DocumentEncryptor(f.plan, encryption);
    for (BsonString id : List.of(tilde, emoji)) {
      BsonDocument doc = patient(id, "acme", 50);
      f.source.insertOne(doc);
      f.target.insertOne(encrypted(encryptor, doc, acmeKey));
    }
    f.target.deleteOne(Filters.eq("_id", emoji));
    List<BsonValue> served = new ArrayList<>();
    f.source.find(Filters.eq("tenant", "acme")).sort(Sorts.ascending("_id")).forEach(doc -> served.add(doc.get("_id")));
    assertThat(served).as("premise: the dev stand-in sorts strings by UTF-16 units").endsWith(emoji, tilde);

    // The merge meets the tilde target first and takes it for an extra target; the lookup by _id corrects that.
    Run run = verify(f, "acme", acmeKey);

    assertThat(run.findings).containsExactly(new Finding(Kind.MISSING_TARGET, emoji.getValue(), "",
        "no document with this _id in " + f.plan.target()));
    assertThat(run.summary).isEqualTo(new Summary(5, 1, 0, false, 0));
  }

  // ---- no plaintext leaves the verifier ----------------------------------------------------------------------------

  @Test
  void noFindingContainsASourceOrDecryptedPlaintextValue(TestInfo test) {
    Fixture f = migrated(test, "acme", acmeKey, ACME_DOCS, 16);
    f.setTarget(1, "ssn", f.sourceValue(1, "ssn"));
    f.setTarget(2, "ssn", encrypt(f.sourceValue(2, "ssn"), FieldRule.Algorithm.DETERMINISTIC, globexKey));
    f.setTarget(3, "ssn", encrypt(f.sourceValue(3, "ssn"), FieldRule.Algorithm.RANDOM, acmeKey));
    f.setTarget(4, "ssn", f.targetValue(5, "ssn"));
    f.setTarget(6, "notes", encrypt(new BsonString("decrypted secret"), FieldRule.Algorithm.RANDOM, acmeKey));
    f.setTarget(7, "name", new BsonString("Mallory Target"));
    f.setTarget(8, "contact.city", new BsonString("Shelbyville"));
    f.setTarget(9, "contact.phone", f.sourceValue(9, "contact.phone"));
    f.target.deleteOne(Filters.eq("_id", f.id(11)));
    f.source.insertOne(new BsonDocument("_id", new BsonString("misfit")).append("tenant", new BsonString("acme"))
        .append("contact", new BsonString("misfit contact text")));
    f.target.insertOne(new BsonDocument("_id", new BsonString("stray")).append("tenant", new BsonString("acme"))
        .append("ssn", new BsonString("999-99-9999")));

    Run run = verify(f, "acme", acmeKey);

    List<String> secrets = new ArrayList<>(List.of("decrypted secret", "Mallory Target", "Shelbyville",
        "misfit contact text", "999-99-9999"));
    f.source.find().forEach(doc -> collectStrings(doc, secrets));
    assertThat(run.findings).hasSizeGreaterThanOrEqualTo(11)
        .extracting(Finding::kind).contains(Kind.values());
    for (Finding finding : run.findings) {
      for (String secret : secrets) {
        assertThat(finding.message() + " " + finding.field() + " " + finding.sourceId())
            .as("finding %s", finding).doesNotContain(secret);
      }
    }
  }

  // ---- fixture ------------------------------------------------------------------------------------------------------

  /** One test's source and target collections, migrated; {@code docs} are the tenant's source documents by index. */
  private record Fixture(EncryptionPlan plan, MongoCollection<BsonDocument> source, MongoCollection<BsonDocument> target,
                         List<BsonDocument> docs) {
    BsonValue id(int i) {
      return docs.get(i).get("_id");
    }

    String display(int i) {
      return SourceIds.display(id(i));
    }

    BsonValue sourceValue(int i, String path) {
      return DocumentEncryptor.valueAt(docs.get(i), path);
    }

    BsonValue targetValue(int i, String path) {
      return DocumentEncryptor.valueAt(target.find(Filters.eq("_id", id(i))).first(), path);
    }

    void setTarget(int i, String path, BsonValue value) {
      target.updateOne(Filters.eq("_id", id(i)), Updates.set(path, value));
    }

    Finding findingFor(Run run, int i) {
      return run.findings.stream().filter(x -> x.sourceId().equals(display(i))).findFirst().orElseThrow();
    }
  }

  /** How the fixture's documents of the tenant are identified. */
  private enum IdStyle {
    /** int32, string and ObjectId in turn: no order between them is known, so the verifier falls back to lookups. */
    MIXED,
    /** "p000", "p001"...: index order is _id order, and the verifier merges. */
    STRING,
    /** Fresh ObjectIds: the verifier merges. */
    OBJECT_ID;

    BsonValue id(int i) {
      return switch (this) {
        case MIXED -> switch (i % 3) {
          case 0 -> new BsonInt32(i);
          case 1 -> new BsonString(String.format("p%03d", i));
          default -> new BsonObjectId(new ObjectId());
        };
        case STRING -> new BsonString(String.format("p%03d", i));
        case OBJECT_ID -> new BsonObjectId(new ObjectId());
      };
    }
  }

  /** {@link #migrated(TestInfo, String, UUID, int, int, IdStyle)} with mixed _id types. */
  private Fixture migrated(TestInfo test, String tenant, UUID key, int count, int batchSize) {
    return migrated(test, tenant, key, count, batchSize, IdStyle.MIXED);
  }

  /**
   * Source collection with {@code count} documents of {@code tenant} (_ids as {@code ids} makes them, every fifth
   * without notes) and five of globex, and the target written the way the copy pipeline writes it.
   */
  private Fixture migrated(TestInfo test, String tenant, UUID key, int count, int batchSize, IdStyle ids) {
    String name = test.getTestMethod().orElseThrow().getName() + "_" + ids.name().toLowerCase(Locale.ROOT);
    EncryptionPlan plan = new EncryptionPlan(new EncryptionPlan.Namespace("legacy", name),
        new EncryptionPlan.Namespace("medical", name), "tenant", List.of(
        FieldRule.parse("ssn:DETERMINISTIC:string"),
        FieldRule.parse("notes:RANDOM:string"),
        FieldRule.parse("contact.phone:DETERMINISTIC:string")), batchSize).validate("test.");
    MongoCollection<BsonDocument> source = mongo.getDatabase("legacy").getCollection(name, BsonDocument.class);
    MongoCollection<BsonDocument> target = mongo.getDatabase("medical").getCollection(name, BsonDocument.class);
    List<BsonDocument> docs = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      docs.add(patient(ids.id(i), tenant, i));
    }
    List<BsonDocument> others = new ArrayList<>();
    if (!tenant.equals("globex")) {
      for (int i = 0; i < GLOBEX_DOCS; i++) {
        others.add(patient(new BsonString(String.format("g%03d", i)), "globex", 100 + i));
      }
    }
    source.insertMany(docs);
    if (!others.isEmpty()) {
      source.insertMany(others);
    }
    DocumentEncryptor encryptor = new DocumentEncryptor(plan, encryption);
    List<BsonDocument> written = new ArrayList<>();
    docs.forEach(doc -> written.add(encrypted(encryptor, doc, key)));
    others.forEach(doc -> written.add(encrypted(encryptor, doc, globexKey)));
    target.insertMany(written);
    return new Fixture(plan, source, target, docs);
  }

  private static BsonDocument patient(BsonValue id, String tenant, int i) {
    BsonDocument doc = new BsonDocument("_id", id)
        .append("tenant", new BsonString(tenant))
        .append("name", new BsonString("Patient " + tenant + " " + i))
        .append("ssn", new BsonString(String.format("%03d-45-%04d", 100 + i, 6789 - i)));
    if (i % 5 != 0) {
      doc.append("notes", new BsonString("allergic to penicillin, case " + i));
    }
    return doc.append("contact", new BsonDocument("phone", new BsonString(String.format("555-01%02d", i)))
            .append("city", new BsonString("Springfield")))
        .append("age", new BsonInt32(30 + i));
  }

  private static BsonDocument encrypted(DocumentEncryptor encryptor, BsonDocument doc, UUID key) {
    DocumentEncryptor.Outcome outcome = encryptor.encrypt(doc, TenantKeys.uuidBinary(key));
    assertThat(outcome).isInstanceOf(DocumentEncryptor.Encrypted.class);
    return ((DocumentEncryptor.Encrypted) outcome).target();
  }

  private BsonBinary encrypt(BsonValue value, FieldRule.Algorithm algorithm, UUID key) {
    return encryption.encrypt(value, new EncryptOptions(algorithm.driverName()).keyId(TenantKeys.uuidBinary(key)));
  }

  /** Every string in a document except its _id and tenant, which findings may name. */
  private static void collectStrings(BsonDocument doc, List<String> out) {
    doc.forEach((name, value) -> {
      if (name.equals("_id") || name.equals("tenant")) {
        return;
      }
      if (value.isString()) {
        out.add(value.asString().getValue());
      } else if (value.isDocument()) {
        collectStrings(value.asDocument(), out);
      }
    });
  }

  private ClientEncryption newEncryption() {
    CryptLibrary.ensureBundledLibrary();
    return ClientEncryptions.create(ClientEncryptionSettings.builder()
        .keyVaultMongoClientSettings(MongoClientFactory.settings(dev.connectionString()))
        .keyVaultNamespace(KEY_VAULT)
        .kmsProviders(kmsProviders)
        .build());
  }

  private UUID createKey(String slug) {
    return encryption.createDataKey("local", new DataKeyOptions().keyAltNames(List.of(TenantKeys.altName(slug))))
        .asUuid(UuidRepresentation.STANDARD);
  }

  private static BsonDocument stray(BsonValue id, String tenant) {
    return new BsonDocument("_id", id).append("tenant", new BsonString(tenant));
  }

  private static Finding extra(Fixture f, String tenant, String id) {
    return new Finding(Kind.EXTRA_TARGET, id, "", "target document of tenant '" + tenant
        + "' has no source document of that tenant in " + f.plan.source());
  }

  // ---- sinks --------------------------------------------------------------------------------------------------------

  private record Run(Summary summary, List<Finding> findings) {
  }

  private Run verify(Fixture f, String tenant, UUID key) {
    RecordingSink sink = new RecordingSink();
    Summary summary = new TenantVerifier(mongo, encryption, pool, f.plan).verify(tenant, key, sink);
    assertThat(summary.findings()).isEqualTo(sink.findings.size());
    return new Run(summary, sink.findings);
  }

  /** Records findings and progress calls in the order they arrive. */
  private static final class RecordingSink implements TenantVerifier.Sink {
    final List<Finding> findings = new ArrayList<>();
    final List<String> events = new ArrayList<>();

    @Override
    public void finding(Finding finding) {
      findings.add(finding);
      events.add("finding " + finding.sourceId());
    }

    @Override
    public void checked(long soFar) {
      events.add("checked " + soFar);
    }
  }

  /** Records the namespace and filter of every {@code find} command a client sends. */
  private static final class FindRecorder implements CommandListener {
    final List<String> filters = new CopyOnWriteArrayList<>();

    @Override
    public void commandStarted(CommandStartedEvent event) {
      if (event.getCommandName().equals("find")) {
        // Rendered now: the command document belongs to the driver once the callback returns.
        BsonDocument command = event.getCommand();
        filters.add(event.getDatabaseName() + "." + command.getString("find").getValue() + " "
            + command.getDocument("filter", new BsonDocument()).toJson());
      }
    }

    /** Filters of the finds on the fixture's source or target collection. */
    List<String> on(Fixture f) {
      return filters.stream().filter(entry -> entry.startsWith(f.plan.source() + " ")
          || entry.startsWith(f.plan.target() + " ")).map(entry -> entry.substring(entry.indexOf(' ') + 1)).toList();
    }
  }
}
