package io.silo.mongo;

import com.mongodb.client.MongoClient;
import com.mongodb.client.MongoCollection;
import com.mongodb.client.MongoCursor;
import com.mongodb.client.model.Filters;
import com.mongodb.client.model.Projections;
import com.mongodb.client.model.Sorts;
import com.mongodb.client.vault.ClientEncryption;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import org.bson.BsonBinary;
import org.bson.BsonDocument;
import org.bson.BsonValue;
import org.bson.conversions.Bson;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Proves that one tenant's target collection is a faithful, encrypted copy of its source documents: every source
 * document has a target with the same {@code _id}, every planned field is ciphertext of the plan's algorithm under the
 * tenant's key that decrypts to the source value, every other field is equal, and no target document lacks a source.
 *
 * <p>Blocking: call {@link #verify} from a worker thread. Memory is bounded by {@link EncryptionPlan#batchSize()}
 * documents whatever the collection size. Findings, messages and logs name fields, BSON types, key ids and
 * {@code _id}s only, never a source or decrypted value, because they end up in gRPC streams and terminals.
 */
public final class TenantVerifier {

  private static final Logger LOG = LoggerFactory.getLogger(TenantVerifier.class);

  /** FLE1 ciphertext: tag byte, 16-byte key UUID, original BSON type byte, then the encrypted payload. */
  private static final int FLE1_HEADER_LENGTH = 18;

  /** What is wrong; names mirror the proto {@code FindingKind}. */
  public enum Kind { MISSING_TARGET, NOT_ENCRYPTED, VALUE_MISMATCH, FIELD_MISMATCH, EXTRA_TARGET }

  /**
   * One problem. {@code sourceId} is {@link SourceIds#display} of the document's {@code _id} (the target's for
   * {@link Kind#EXTRA_TARGET}); {@code field} is a dotted path, or "" when the whole document is at fault.
   */
  public record Finding(Kind kind, String sourceId, String field, String message) {
  }

  /** The outcome: source documents checked, findings in total, of which extra target documents; clean when none. */
  public record Summary(long checked, long findings, long extraTargets, boolean clean) {
  }

  /** Receives the results as they are found; called only from the thread that runs {@link #verify}. */
  public interface Sink {
    /**
     * One finding. May block until the consumer has room; may throw (e.g. {@link CancellationException} when the
     * caller went away), which stops the verify and propagates out of {@link #verify}.
     */
    void finding(Finding finding);

    /** Source documents checked so far, after each batch of source documents. */
    void checked(long soFar);
  }

  private final MongoClient mongo;
  private final ClientEncryption encryption;
  private final Executor decryptPool;
  private final EncryptionPlan plan;
  /** Planned paths and every document on the way to one, e.g. {@code contact} for {@code contact.phone}. */
  private final Set<String> plannedPrefixes = new HashSet<>();
  private final Set<String> plannedPaths = new HashSet<>();

  /**
   * @param mongo       a plain client: ciphertext must come back as subtype-6 binaries, not auto-decrypted
   * @param encryption  decrypts planned fields; needs the key vault holding the tenant's key
   * @param decryptPool runs decryption of a batch in parallel (libmongocrypt work is CPU-bound JNI)
   * @param plan        the plan the target was written with
   */
  public TenantVerifier(MongoClient mongo, ClientEncryption encryption, Executor decryptPool, EncryptionPlan plan) {
    this.mongo = Objects.requireNonNull(mongo, "mongo");
    this.encryption = Objects.requireNonNull(encryption, "encryption");
    this.decryptPool = Objects.requireNonNull(decryptPool, "decryptPool");
    this.plan = Objects.requireNonNull(plan, "plan");
    for (FieldRule rule : plan.fields()) {
      plannedPaths.add(rule.path());
      String[] segments = rule.path().split("\\.");
      StringBuilder prefix = new StringBuilder();
      for (int i = 0; i < segments.length - 1; i++) {
        prefix.append(i == 0 ? "" : ".").append(segments[i]);
        plannedPrefixes.add(prefix.toString());
      }
    }
  }

  /**
   * Checks every source document of {@code tenant}, then looks for target documents of the tenant without a source.
   *
   * @param tenantKeyId the tenant's data key id, or null when the tenant has no key (then no ciphertext can be right)
   * @throws RuntimeException whatever the sink or the database throws; a {@link CancellationException} when the
   *                          thread is interrupted while waiting for decryption
   */
  public Summary verify(String tenant, UUID tenantKeyId, Sink sink) {
    long startNanos = System.nanoTime();
    Counter counter = new Counter(sink);
    MongoCollection<BsonDocument> source = collection(plan.source());
    MongoCollection<BsonDocument> target = collection(plan.target());
    Bson tenantFilter = Filters.eq(plan.tenantField(), tenant);

    long checked = 0;
    // Source in _id order so findings arrive in the same order on every run and two runs can be compared.
    try (MongoCursor<BsonDocument> cursor = source.find(tenantFilter).sort(Sorts.ascending("_id"))
        .batchSize(plan.batchSize()).iterator()) {
      List<BsonDocument> batch = new ArrayList<>(plan.batchSize());
      while (cursor.hasNext()) {
        batch.add(cursor.next());
        if (batch.size() == plan.batchSize() || !cursor.hasNext()) {
          checkSourceBatch(batch, target, tenantKeyId, counter);
          checked += batch.size();
          batch.clear();
          sink.checked(checked);
        }
      }
    }

    // Second pass from the target side. Existence is checked with $in per batch rather than by merging two sorted
    // streams, because MongoDB orders mixed-type _ids by type bracket and a merge would have to mirror that exactly.
    try (MongoCursor<BsonDocument> cursor = target.find(tenantFilter).projection(Projections.include("_id"))
        .batchSize(plan.batchSize()).iterator()) {
      List<BsonValue> ids = new ArrayList<>(plan.batchSize());
      while (cursor.hasNext()) {
        ids.add(cursor.next().get("_id"));
        if (ids.size() == plan.batchSize() || !cursor.hasNext()) {
          checkTargetBatch(ids, source, tenantFilter, tenant, counter);
          ids.clear();
        }
      }
    }

    Summary summary = new Summary(checked, counter.findings, counter.extraTargets, counter.findings == 0);
    LOG.info("verified tenant={} source={} target={} checked={} findings={} extraTargets={} in {} ms", tenant,
        plan.source(), plan.target(), checked, counter.findings, counter.extraTargets,
        (System.nanoTime() - startNanos) / 1_000_000);
    return summary;
  }

  // ---- pass 1: source documents -----------------------------------------------------------------------------------

  /** A planned field whose ciphertext passed the header checks and still has to decrypt to the source value. */
  private record DecryptCheck(String path, BsonBinary ciphertext, BsonValue expected) {
  }

  private void checkSourceBatch(List<BsonDocument> batch, MongoCollection<BsonDocument> target, UUID tenantKeyId,
                                Counter counter) {
    List<BsonValue> ids = new ArrayList<>(batch.size());
    batch.forEach(doc -> ids.add(doc.get("_id")));
    // Keyed by the canonical extended JSON of the _id: it keeps BSON types apart (an int32 1 is not an int64 1)
    // and field order of document _ids, as MongoDB's own _id identity does.
    Map<String, BsonDocument> targets = new HashMap<>();
    for (BsonDocument doc : target.find(Filters.in("_id", ids)).batchSize(batch.size())) {
      targets.put(SourceIds.encode(doc.get("_id")), doc);
    }

    // Header checks are cheap and run on this thread; decryption is queued per document so the pool's cores work on
    // the whole batch while findings are still emitted in _id order.
    List<List<Finding>> structural = new ArrayList<>(batch.size());
    List<CompletableFuture<List<Finding>>> decrypted = new ArrayList<>(batch.size());
    try {
      queueChecks(batch, targets, tenantKeyId, structural, decrypted);
      for (int i = 0; i < batch.size(); i++) {
        List<Finding> valueFindings = await(decrypted.get(i));
        // Planned-field findings first, in plan order, then the other fields: one document's findings together.
        List<Finding> ordered = new ArrayList<>(structural.get(i));
        ordered.addAll(valueFindings);
        ordered.sort((a, b) -> Integer.compare(planOrder(a), planOrder(b)));
        for (Finding finding : ordered) {
          counter.emit(finding);
        }
      }
    } finally {
      // After a failure (usually the sink's) nothing else of this batch is wanted; queued decryptions are skipped.
      decrypted.forEach(future -> future.cancel(false));
    }
  }

  private void queueChecks(List<BsonDocument> batch, Map<String, BsonDocument> targets, UUID tenantKeyId,
                           List<List<Finding>> structural, List<CompletableFuture<List<Finding>>> decrypted) {
    for (BsonDocument sourceDoc : batch) {
      String sourceId = SourceIds.display(sourceDoc.get("_id"));
      BsonDocument targetDoc = targets.get(SourceIds.encode(sourceDoc.get("_id")));
      List<Finding> findings = new ArrayList<>();
      List<DecryptCheck> checks = new ArrayList<>();
      if (targetDoc == null) {
        findings.add(new Finding(Kind.MISSING_TARGET, sourceId, "", missingTargetMessage(sourceDoc)));
      } else {
        checkPlannedFields(sourceId, sourceDoc, targetDoc, tenantKeyId, findings, checks);
        compareFields("", sourceId, sourceDoc, targetDoc, findings);
      }
      structural.add(findings);
      decrypted.add(checks.isEmpty() ? CompletableFuture.completedFuture(List.of())
          : CompletableFuture.supplyAsync(() -> decryptAndCompare(sourceId, checks), decryptPool));
    }
  }

  private String missingTargetMessage(BsonDocument sourceDoc) {
    String where = "no document with this _id in " + plan.target();
    // Documents the plan does not fit are item failures of the copy and never get a target; say why.
    for (FieldRule rule : plan.fields()) {
      DocumentEncryptor.Failed misfit = DocumentEncryptor.misfit(sourceDoc, rule);
      if (misfit != null) {
        return where + "; the source document does not fit the plan (" + misfit.code() + ": " + misfit.message() + ")";
      }
    }
    return where;
  }

  private void checkPlannedFields(String sourceId, BsonDocument sourceDoc, BsonDocument targetDoc, UUID tenantKeyId,
                                  List<Finding> findings, List<DecryptCheck> checks) {
    for (FieldRule rule : plan.fields()) {
      String path = rule.path();
      BsonValue plain = DocumentEncryptor.valueAt(sourceDoc, path);
      BsonValue stored = DocumentEncryptor.valueAt(targetDoc, path);
      if (plain == null) {
        if (stored != null) {
          findings.add(new Finding(Kind.FIELD_MISMATCH, sourceId, path, "planned field is absent in the source but "
              + "present in the target (" + describe(stored) + ")"));
        }
        continue;
      }
      if (stored == null) {
        findings.add(new Finding(Kind.NOT_ENCRYPTED, sourceId, path, "planned field is present in the source ("
            + typeName(plain) + ") but absent in the target"));
        continue;
      }
      if (!DocumentEncryptor.isCiphertext(stored)) {
        findings.add(new Finding(Kind.NOT_ENCRYPTED, sourceId, path, "target holds " + describe(stored)
            + ", not a CSFLE ciphertext (binary subtype 6)"));
        continue;
      }
      byte[] blob = stored.asBinary().getData();
      if (blob.length <= FLE1_HEADER_LENGTH) {
        findings.add(new Finding(Kind.NOT_ENCRYPTED, sourceId, path, "target holds a subtype-6 binary of "
            + blob.length + " bytes, too short for a CSFLE ciphertext"));
        continue;
      }
      if (blob[0] != rule.algorithm().ciphertextTag()) {
        findings.add(new Finding(Kind.NOT_ENCRYPTED, sourceId, path, "encrypted as " + algorithmName(blob[0])
            + ", plan requires " + rule.algorithm()));
        continue;
      }
      UUID found = keyId(blob);
      if (tenantKeyId == null) {
        findings.add(new Finding(Kind.NOT_ENCRYPTED, sourceId, path, "encrypted under data key " + found
            + ", but the tenant has no data key"));
        continue;
      }
      if (!found.equals(tenantKeyId)) {
        findings.add(new Finding(Kind.NOT_ENCRYPTED, sourceId, path, "encrypted under data key " + found
            + ", expected the tenant's key " + tenantKeyId));
        continue;
      }
      checks.add(new DecryptCheck(path, stored.asBinary(), plain));
    }
  }

  /** Runs on the decrypt pool; returns findings rather than emitting them so the sink stays on the verify thread. */
  private List<Finding> decryptAndCompare(String sourceId, List<DecryptCheck> checks) {
    List<Finding> findings = new ArrayList<>();
    for (DecryptCheck check : checks) {
      BsonValue value;
      try {
        value = encryption.decrypt(check.ciphertext());
      } catch (RuntimeException e) {
        findings.add(new Finding(Kind.VALUE_MISMATCH, sourceId, check.path(), "cannot decrypt" + keyHint(e, check)
            + ": " + reason(e)));
        continue;
      }
      if (!check.expected().equals(value)) {
        String types = value.getBsonType() == check.expected().getBsonType()
            ? "both " + typeName(value) : "source " + typeName(check.expected()) + ", decrypted " + typeName(value);
        findings.add(new Finding(Kind.VALUE_MISMATCH, sourceId, check.path(),
            "decrypts to a different value than the source (" + types + ")"));
      }
    }
    return findings;
  }

  /**
   * Compares the fields outside the plan, naming the deepest differing path. Field order is not compared (BSON value
   * equality of the Java driver, which MongoDB documents do not depend on for reads by name).
   */
  private void compareFields(String prefix, String sourceId, BsonDocument sourceDoc, BsonDocument targetDoc,
                             List<Finding> findings) {
    Set<String> names = new LinkedHashSet<>(sourceDoc.keySet());
    names.addAll(targetDoc.keySet());
    for (String name : names) {
      String path = prefix + name;
      if (plannedPaths.contains(path)) {
        continue; // checked by checkPlannedFields
      }
      BsonValue expected = sourceDoc.get(name);
      BsonValue actual = targetDoc.get(name);
      if (actual == null) {
        findings.add(new Finding(Kind.FIELD_MISMATCH, sourceId, path, "field is missing in the target (source holds "
            + typeName(expected) + ")"));
      } else if (expected == null) {
        findings.add(new Finding(Kind.FIELD_MISMATCH, sourceId, path, "target has a field the source does not ("
            + describe(actual) + ")"));
      } else if (plannedPrefixes.contains(path) && expected.isDocument() && actual.isDocument()) {
        compareFields(path + ".", sourceId, expected.asDocument(), actual.asDocument(), findings);
      } else if (!expected.equals(actual)) {
        String types = expected.getBsonType() == actual.getBsonType() ? "both " + typeName(expected)
            : "source " + typeName(expected) + ", target " + describe(actual);
        findings.add(new Finding(Kind.FIELD_MISMATCH, sourceId, path, "value differs (" + types + ")"));
      }
    }
  }

  /** Sort key that keeps planned-field findings in plan order ahead of other fields; the sort is stable. */
  private int planOrder(Finding finding) {
    List<FieldRule> fields = plan.fields();
    for (int i = 0; i < fields.size(); i++) {
      if (fields.get(i).path().equals(finding.field())) {
        return i;
      }
    }
    return fields.size();
  }

  // ---- pass 2: target documents without a source ------------------------------------------------------------------

  private void checkTargetBatch(List<BsonValue> targetIds, MongoCollection<BsonDocument> source, Bson tenantFilter,
                                String tenant, Counter counter) {
    Set<String> inSource = new HashSet<>();
    for (BsonDocument doc : source.find(Filters.and(tenantFilter, Filters.in("_id", targetIds)))
        .projection(Projections.include("_id")).batchSize(targetIds.size())) {
      inSource.add(SourceIds.encode(doc.get("_id")));
    }
    for (BsonValue id : targetIds) {
      if (!inSource.contains(SourceIds.encode(id))) {
        counter.emit(new Finding(Kind.EXTRA_TARGET, SourceIds.display(id), "", "target document of tenant '" + tenant
            + "' has no source document of that tenant in " + plan.source()));
      }
    }
  }

  // ---- helpers ----------------------------------------------------------------------------------------------------

  /** Counts what reaches the sink, so the summary agrees with the stream even when the sink fails midway. */
  private static final class Counter {
    private final Sink sink;
    private long findings;
    private long extraTargets;

    Counter(Sink sink) {
      this.sink = sink;
    }

    void emit(Finding finding) {
      sink.finding(finding);
      findings++;
      if (finding.kind() == Kind.EXTRA_TARGET) {
        extraTargets++;
      }
    }
  }

  private MongoCollection<BsonDocument> collection(EncryptionPlan.Namespace ns) {
    return mongo.getDatabase(ns.database()).getCollection(ns.collection(), BsonDocument.class);
  }

  private static <T> T await(CompletableFuture<T> future) {
    try {
      return future.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CancellationException("verify interrupted while waiting for decryption");
    } catch (ExecutionException e) {
      // decryptAndCompare turns decryption failures into findings, so this is a bug or a rejected task.
      Throwable cause = e.getCause();
      throw cause instanceof RuntimeException runtime ? runtime : new IllegalStateException(cause);
    }
  }

  /** libmongocrypt reports a deleted data key only as unsatisfied keys; say which key, since shredding is the usual cause. */
  private static String keyHint(RuntimeException e, DecryptCheck check) {
    return String.valueOf(e.getMessage()).contains("not all keys requested were satisfied")
        ? " (data key " + keyId(check.ciphertext().getData()) + " is not in the key vault: shredded or deleted?)" : "";
  }

  private static UUID keyId(byte[] blob) {
    ByteBuffer bytes = ByteBuffer.wrap(blob, 1, 16);
    return new UUID(bytes.getLong(), bytes.getLong());
  }

  private static String algorithmName(byte tag) {
    for (FieldRule.Algorithm algorithm : FieldRule.Algorithm.values()) {
      if (algorithm.ciphertextTag() == tag) {
        return algorithm.name();
      }
    }
    return "an unknown blob subtype " + (tag & 0xff) + " (not FLE1 deterministic or random)";
  }

  private static String typeName(BsonValue value) {
    return DocumentEncryptor.typeName(value.getBsonType());
  }

  /** A value's type, with the binary subtype for binaries since that is what tells ciphertext from plain bytes. */
  private static String describe(BsonValue value) {
    if (value.isBinary()) {
      return "binData subtype " + (value.asBinary().getType() & 0xff);
    }
    return typeName(value);
  }

  /**
   * Why decryption failed: exception class and the first line of its message, bounded. libmongocrypt messages name
   * keys and states, never plaintext (it has none to name when decryption fails).
   */
  private static String reason(RuntimeException e) {
    String message = e.getMessage() == null ? "" : e.getMessage().lines().findFirst().orElse("");
    if (message.length() > 200) {
      message = message.substring(0, 200) + "...";
    }
    return e.getClass().getSimpleName() + (message.isEmpty() ? "" : ": " + message);
  }
}
