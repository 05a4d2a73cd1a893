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
 * <p>Source and target documents of the tenant are both read in {@code _id} order and joined like a merge, so a
 * verify reads each collection once and needs no per-batch {@code $in} query (which the dev stand-in answers with a
 * collection scan, making verify quadratic). Findings arrive in {@code _id} order: a source document's findings
 * together, and an {@link Kind#EXTRA_TARGET} between the source documents around its {@code _id}. The merge relies on
 * {@link IdOrder} knowing the server's order; from the first {@code _id} pair it cannot order (mixed or unsupported
 * {@code _id} types, or a cursor out of IdOrder's order) the rest of the run looks documents up by {@code _id} instead,
 * and the extra target documents the merge had not reached yet come after all source documents. Either way the
 * findings are the same, and a document the merge could not pair is decided by an {@code _id} lookup.
 *
 * <p>Blocking: call {@link #verify} from a worker thread. Memory is bounded by about one
 * {@link EncryptionPlan#batchSize()} of source documents, their targets and extra target ids, whatever the collection
 * size. Findings, messages and logs name fields, BSON types, key ids and {@code _id}s only, never a source or
 * decrypted value, because they end up in gRPC streams and terminals.
 */
public final class TenantVerifier {

  private static final Logger LOG = LoggerFactory.getLogger(TenantVerifier.class);

  /** FLE1 ciphertext: tag byte, 16-byte key UUID, original BSON type byte, then the encrypted payload. */
  private static final int FLE1_HEADER_LENGTH = 18;

  /** Both collections are walked in this order; it is also the order of the findings. */
  private static final Bson BY_ID = Sorts.ascending("_id");

  /** What is wrong; names mirror the proto {@code FindingKind}. */
  public enum Kind { MISSING_TARGET, NOT_ENCRYPTED, VALUE_MISMATCH, FIELD_MISMATCH, EXTRA_TARGET }

  /**
   * One problem. {@code sourceId} is {@link SourceIds#display} of the document's {@code _id} (the target's for
   * {@link Kind#EXTRA_TARGET}); {@code field} is a dotted path, or "" when the whole document is at fault.
   */
  public record Finding(Kind kind, String sourceId, String field, String message) {
  }

  /** The outcome: source documents checked, findings in total, of which extra target documents; clean when none. */
  public record Summary(long checked, long findings, long extraTargets, boolean clean, long unfit) {
    /** Findings beyond source documents that do not fit the plan (the copy reports those as failed items). */
    public long problems() {
      return findings - unfit;
    }
  }

  /** Words of a MISSING_TARGET message for a source document the plan does not fit. */
  private static final String UNFIT = "the source document does not fit the plan";

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
  private boolean sourcePurged;

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
   * Tells the verifier that the tenant's source was purged: target documents without a source are then the only
   * copies of purged documents, not findings.
   */
  public TenantVerifier sourcePurged(boolean purged) {
    this.sourcePurged = purged;
    return this;
  }

  /**
   * Checks every source document of {@code tenant} and looks for target documents of the tenant without a source.
   *
   * @param tenantKeyId the tenant's data key id, or null when the tenant has no key (then no ciphertext can be right)
   * @throws RuntimeException whatever the sink or the database throws; a {@link CancellationException} when the
   *                          thread is interrupted while waiting for decryption
   */
  public Summary verify(String tenant, UUID tenantKeyId, Sink sink) {
    long startNanos = System.nanoTime();
    Counter counter = new Counter(sink);
    long checked = 0;
    boolean merged;
    // Both collections in _id order: the merge needs it, and findings arrive in the same order on every run, so two
    // runs can be compared.
    try (Run run = new Run(tenant, tenantKeyId, counter);
         MongoCursor<BsonDocument> cursor = run.source.find(run.tenantFilter).sort(BY_ID)
             .batchSize(plan.batchSize()).iterator()) {
      List<BsonDocument> batch = new ArrayList<>(plan.batchSize());
      while (cursor.hasNext()) {
        batch.add(cursor.next());
        if (batch.size() == plan.batchSize() || !cursor.hasNext()) {
          run.sourceBatch(batch);
          checked += batch.size();
          batch.clear();
          sink.checked(checked);
        }
      }
      run.remainingTargets();
      merged = run.merging;
    }

    Summary summary = new Summary(checked, counter.findings, counter.extraTargets, counter.findings == 0,
        counter.unfit);
    LOG.info("verified tenant={} source={} target={} checked={} findings={} extraTargets={} by {} in {} ms", tenant,
        plan.source(), plan.target(), checked, counter.findings, counter.extraTargets,
        merged ? "merge" : "_id lookups", (System.nanoTime() - startNanos) / 1_000_000);
    return summary;
  }

  // ---- walking source and target together -------------------------------------------------------------------------

  /**
   * One position in {@code _id} order: a source document and its target (null when the merge found none there), or
   * ({@code source == null}) the {@code _id} of a target document the merge found no source document for.
   */
  private record Step(BsonDocument source, BsonDocument target, BsonValue extraId) {
  }

  /**
   * The state of one {@link #verify}: the target cursor of the merge, and the steps not yet emitted. While every
   * {@code _id} order is known the target is read alongside the source; from the first one that is not, the rest of
   * the run looks documents up by {@code _id} ("falls back") as the verifier did before it merged.
   */
  private final class Run implements AutoCloseable {
    private final String tenant;
    private final UUID tenantKeyId;
    private final Counter counter;
    private final MongoCollection<BsonDocument> source;
    private final MongoCollection<BsonDocument> target;
    private final Bson tenantFilter;
    /** The tenant's target documents in _id order, sorted by the server that sorts the source the same way. */
    private final MongoCursor<BsonDocument> targets;
    /** Checked and emitted together: at most one source batch with its targets and one batch of extra ids. */
    private final List<Step> steps = new ArrayList<>();
    private int pendingExtras;

    private boolean merging = true;
    /** Read from {@link #targets} but not placed yet; null when none is. */
    private BsonDocument nextTarget;
    private BsonValue lastTargetId;
    private BsonValue lastSourceId;
    /** Target documents the merge placed: a prefix of the sorted target, which the fallback's target pass skips. */
    private long targetsPlaced;

    Run(String tenant, UUID tenantKeyId, Counter counter) {
      this.tenant = tenant;
      this.tenantKeyId = tenantKeyId;
      this.counter = counter;
      this.source = collection(plan.source());
      this.target = collection(plan.target());
      this.tenantFilter = Filters.eq(plan.tenantField(), tenant);
      this.targets = target.find(tenantFilter).sort(BY_ID).batchSize(plan.batchSize()).iterator();
    }

    /** Checks one batch of source documents (in _id order) and emits its findings, and extra targets among them. */
    void sourceBatch(List<BsonDocument> batch) {
      int placed = 0;
      while (merging && placed < batch.size()) {
        if (!place(batch.get(placed))) {
          fallBack();
          break;
        }
        placed++;
      }
      for (int i = placed; i < batch.size(); i++) {
        steps.add(new Step(batch.get(i), null, null)); // looked up by _id when emitted
      }
      flush();
    }

    /** After the last source batch: target documents of the tenant that no source document was placed against. */
    void remainingTargets() {
      while (merging) {
        if (!readTarget()) {
          fallBack();
        } else if (nextTarget == null) {
          break;
        } else {
          extra(takeTarget().get("_id")); // the source is exhausted, so no source document can match it
        }
      }
      flush();
      if (!merging) {
        targetPass();
      }
    }

    /**
     * Adds a step for the source document, first one for every target document before its _id; the target with the
     * same _id becomes its target. False, adding no step for the document, when an _id order is not known.
     */
    private boolean place(BsonDocument sourceDoc) {
      BsonValue id = sourceDoc.get("_id");
      if (lastSourceId != null && !ascending(lastSourceId, id)) {
        return false;
      }
      BsonDocument match = null;
      while (true) {
        if (!readTarget()) {
          return false;
        }
        if (nextTarget == null) {
          break;
        }
        BsonValue targetId = nextTarget.get("_id");
        Integer order = IdOrder.compare(targetId, id);
        if (order == null) {
          unknownOrder(targetId, id);
          return false;
        }
        if (order > 0) {
          break;
        }
        if (order == 0) {
          // Same place in the order is not the same _id when the types differ (int 7 and long 7 are two _ids, as the
          // lookups keyed by canonical JSON always treated them); such a target stays for the next source document.
          if (SourceIds.encode(targetId).equals(SourceIds.encode(id))) {
            match = takeTarget();
          }
          break;
        }
        extra(takeTarget().get("_id"));
      }
      steps.add(new Step(sourceDoc, match, null));
      lastSourceId = id;
      return true;
    }

    /**
     * Reads the next target document into {@link #nextTarget} unless one is waiting (null at the end). False when
     * its _id is not after the previous one by {@link IdOrder}: the server sorts in an order IdOrder does not know
     * (a collection collation; the dev stand-in orders strings by UTF-16 units), and merging would pair it wrongly.
     */
    private boolean readTarget() {
      if (nextTarget != null || !targets.hasNext()) {
        return true;
      }
      BsonDocument doc = targets.next();
      if (lastTargetId != null && !ascending(lastTargetId, doc.get("_id"))) {
        return false;
      }
      lastTargetId = doc.get("_id");
      nextTarget = doc;
      return true;
    }

    private BsonDocument takeTarget() {
      BsonDocument doc = nextTarget;
      nextTarget = null;
      targetsPlaced++;
      return doc;
    }

    /** Queues a target document without a source document at its place; emits early if such ids pile up. */
    private void extra(BsonValue id) {
      steps.add(new Step(null, null, id));
      if (++pendingExtras >= plan.batchSize()) {
        flush();
      }
    }

    private boolean ascending(BsonValue earlier, BsonValue later) {
      Integer order = IdOrder.compare(earlier, later);
      if (order == null || order >= 0) {
        unknownOrder(earlier, later);
        return false;
      }
      return true;
    }

    private void unknownOrder(BsonValue a, BsonValue b) {
      // Types tell an operator why (mixed _id types, a collation); the values would add nothing.
      LOG.info("verify tenant={} target={}: cannot merge by _id ({} then {}: order unknown here or not the server's); "
          + "looking the rest up by _id", tenant, plan.target(), a == null ? "no _id" : typeName(a),
          b == null ? "no _id" : typeName(b));
    }

    /** From now on source documents are looked up by _id and the unplaced targets get their own pass. */
    private void fallBack() {
      merging = false;
      nextTarget = null; // not placed: the target pass reads it again
      targets.close();
    }

    /**
     * The fallback's pass over the target: every target document of the tenant the merge did not place, checked for
     * a source document by _id. Read in the merge's order and skipping what it placed, so no extra target already
     * emitted is emitted again.
     */
    private void targetPass() {
      try (MongoCursor<BsonDocument> cursor = target.find(tenantFilter).projection(Projections.include("_id"))
          .sort(BY_ID).skip(Math.toIntExact(targetsPlaced)).batchSize(plan.batchSize()).iterator()) {
        while (cursor.hasNext()) {
          extra(cursor.next().get("_id"));
        }
      }
      flush();
    }

    /**
     * Checks and emits the pending steps in order. Steps the merge did not pair are decided by _id lookups, exactly
     * as before there was a merge: a source document's target by _id in the whole target (so a target moved to
     * another tenant is still compared), a target's source by _id among the tenant's source documents. A clean
     * verify that merged has none; and a cursor order IdOrder misjudged costs lookups rather than wrong findings.
     */
    private void flush() {
      if (steps.isEmpty()) {
        return;
      }
      List<BsonValue> unpaired = new ArrayList<>();
      List<BsonValue> extraIds = new ArrayList<>();
      for (Step step : steps) {
        if (step.source() == null) {
          extraIds.add(step.extraId());
        } else if (step.target() == null) {
          unpaired.add(step.source().get("_id"));
        }
      }
      Map<String, BsonDocument> found = unpaired.isEmpty() ? Map.of() : targetsById(unpaired);
      Set<String> sourced = extraIds.isEmpty() ? Set.of() : tenantSourceIds(extraIds);

      // Header checks are cheap and run on this thread; decryption is queued per document so the pool's cores work
      // on the whole batch while findings are still emitted in _id order.
      List<List<Finding>> structural = new ArrayList<>(steps.size());
      List<CompletableFuture<List<Finding>>> decrypted = new ArrayList<>(steps.size());
      try {
        for (Step step : steps) {
          queueChecks(step, found, sourced, structural, decrypted);
        }
        for (int i = 0; i < steps.size(); i++) {
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
        // After a failure (usually the sink's) nothing else of these steps is wanted; queued decryptions are skipped.
        decrypted.forEach(future -> future.cancel(false));
        steps.clear();
        pendingExtras = 0;
      }
    }

    private void queueChecks(Step step, Map<String, BsonDocument> found, Set<String> sourced,
                             List<List<Finding>> structural, List<CompletableFuture<List<Finding>>> decrypted) {
      if (step.source() == null) {
        structural.add(sourcePurged || sourced.contains(SourceIds.encode(step.extraId())) ? List.of()
            : List.of(new Finding(Kind.EXTRA_TARGET, SourceIds.display(step.extraId()), "", "target document of tenant '"
            + tenant + "' has no source document of that tenant in " + plan.source())));
        decrypted.add(CompletableFuture.completedFuture(List.of()));
        return;
      }
      BsonDocument sourceDoc = step.source();
      String sourceId = SourceIds.display(sourceDoc.get("_id"));
      BsonDocument targetDoc = step.target() != null ? step.target() : found.get(SourceIds.encode(sourceDoc.get("_id")));
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

    /**
     * Target documents with these _ids, of any tenant. Keyed by the canonical extended JSON of the _id: it keeps BSON
     * types apart (an int32 1 is not an int64 1) and field order of document _ids, as MongoDB's own _id identity does.
     */
    private Map<String, BsonDocument> targetsById(List<BsonValue> ids) {
      Map<String, BsonDocument> found = new HashMap<>();
      for (BsonDocument doc : target.find(Filters.in("_id", ids)).batchSize(ids.size())) {
        found.put(SourceIds.encode(doc.get("_id")), doc);
      }
      return found;
    }

    /** Which of these _ids the tenant's source documents have, keyed as in {@link #targetsById}. */
    private Set<String> tenantSourceIds(List<BsonValue> ids) {
      Set<String> inSource = new HashSet<>();
      for (BsonDocument doc : source.find(Filters.and(tenantFilter, Filters.in("_id", ids)))
          .projection(Projections.include("_id")).batchSize(ids.size())) {
        inSource.add(SourceIds.encode(doc.get("_id")));
      }
      return inSource;
    }

    @Override
    public void close() {
      targets.close();
    }
  }

  /**
   * The findings of one source document against its target, decrypting on the calling thread. Purge and re-sync use
   * it to decide per document from the data itself, not from an earlier verification.
   */
  public List<Finding> compareDocument(BsonDocument sourceDoc, BsonDocument targetDoc, UUID tenantKeyId) {
    String sourceId = SourceIds.display(sourceDoc.get("_id"));
    List<Finding> findings = new ArrayList<>();
    List<DecryptCheck> checks = new ArrayList<>();
    checkPlannedFields(sourceId, sourceDoc, targetDoc, tenantKeyId, findings, checks);
    compareFields("", sourceId, sourceDoc, targetDoc, findings);
    findings.addAll(decryptAndCompare(sourceId, checks));
    return findings;
  }

  // ---- source documents against their targets --------------------------------------------------------------------

  /** A planned field whose ciphertext passed the header checks and still has to decrypt to the source value. */
  private record DecryptCheck(String path, BsonBinary ciphertext, BsonValue expected) {
  }

  private String missingTargetMessage(BsonDocument sourceDoc) {
    String where = "no document with this _id in " + plan.target();
    // Documents the plan does not fit are item failures of the copy and never get a target; say why.
    for (FieldRule rule : plan.fields()) {
      DocumentEncryptor.Failed misfit = DocumentEncryptor.misfit(sourceDoc, rule);
      if (misfit != null) {
        return where + "; " + UNFIT + " (" + misfit.code() + ": " + misfit.message() + ")";
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
      if (actual == null && prefix.isEmpty() && plan.unplanned() == EncryptionPlan.Unplanned.DROP
          && !plan.covers(name)) {
        continue; // dropped on purpose by the plan's policy for unplanned fields
      }
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

  // ---- helpers ----------------------------------------------------------------------------------------------------

  /** Counts what reaches the sink, so the summary agrees with the stream even when the sink fails midway. */
  private static final class Counter {
    private final Sink sink;
    private long findings;
    private long extraTargets;
    private long unfit;

    Counter(Sink sink) {
      this.sink = sink;
    }

    void emit(Finding finding) {
      sink.finding(finding);
      findings++;
      if (finding.kind() == Kind.EXTRA_TARGET) {
        extraTargets++;
      }
      if (finding.kind() == Kind.MISSING_TARGET && finding.message().contains(UNFIT)) {
        unfit++;
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
