package io.silo.mongo;

import com.mongodb.ErrorCategory;
import com.mongodb.MongoWriteException;
import com.mongodb.client.MongoClient;
import com.mongodb.client.MongoCollection;
import com.mongodb.client.model.Filters;
import com.mongodb.client.model.Projections;
import com.mongodb.client.model.Sorts;
import com.mongodb.client.vault.ClientEncryption;
import io.silo.keys.TenantKeys;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CancellationException;
import java.util.function.BooleanSupplier;
import org.bson.BsonArray;
import org.bson.BsonDocument;
import org.bson.BsonString;
import org.bson.BsonValue;
import org.bson.conversions.Bson;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The three operations that change a tenant's data after a copy, each decided per document by the data itself:
 * re-sync (the target converges to the source as it is now), purge (compare-and-delete of source documents whose
 * encrypted copy decrypts to exactly them) and rollback (removal of target documents whose source still exists).
 *
 * <p>Blocking: call from a worker thread. Every query carries the tenant filter, so nothing outside the tenant is
 * read as its own, written or deleted. Memory is bounded by one batch of documents.
 */
public final class TenantReconciler {

  private static final Logger LOG = LoggerFactory.getLogger(TenantReconciler.class);

  /** What a re-sync changed in the target. */
  public record ResyncResult(long checked, long inserted, long replaced, long deleted, long keptWithoutSource,
                             long conflicts) {
    /** True when the target did not change. */
    public boolean unchanged() {
      return inserted == 0 && replaced == 0 && deleted == 0;
    }
  }

  /**
   * What a purge did: source documents deleted, and kept because they differ from their copy or have none (which
   * includes documents the plan does not fit, never copied).
   */
  public record PurgeResult(long deleted, long keptChanged, long keptMissing) {
    public long kept() {
      return keptChanged + keptMissing;
    }
  }

  /** What a rollback did: target documents deleted, and kept because their source is gone. */
  public record RollbackResult(long deleted, long keptWithoutSource) {
  }

  private final MongoCollection<BsonDocument> source;
  private final MongoCollection<BsonDocument> target;
  private final EncryptionPlan plan;
  private final TenantVerifier verifier;
  private final DocumentEncryptor encryptor;

  /**
   * @param mongo      a plain client (ciphertext stays binary)
   * @param encryption encrypts and decrypts with the key vault holding the tenant's key
   */
  public TenantReconciler(MongoClient mongo, ClientEncryption encryption, EncryptionPlan plan) {
    this.plan = plan;
    this.source = mongo.getDatabase(plan.source().database())
        .getCollection(plan.source().collection(), BsonDocument.class);
    this.target = mongo.getDatabase(plan.target().database())
        .getCollection(plan.target().collection(), BsonDocument.class);
    this.verifier = new TenantVerifier(mongo, encryption, Runnable::run, plan);
    this.encryptor = new DocumentEncryptor(plan, encryption);
  }

  private Bson tenant(String tenant) {
    return Filters.eq(plan.tenantField(), tenant);
  }

  /**
   * Brings the tenant's target to its source: missing documents are inserted, documents whose copy differs (or no
   * longer decrypts under {@code keyId}) are re-encrypted and replaced, and target documents without a source are
   * deleted, unless {@code sourcePurged}: then the target is the only copy of purged documents and nothing is deleted.
   * A target document of another tenant under the same {@code _id} is never touched (counted as a conflict).
   */
  public ResyncResult resync(String tenant, UUID keyId, boolean sourcePurged, BooleanSupplier stop) {
    long checked = 0;
    long inserted = 0;
    long replaced = 0;
    long conflicts = 0;
    BsonValue after = null;
    while (true) {
      List<BsonDocument> batch = sourceBatch(tenant, after);
      if (batch.isEmpty()) {
        break;
      }
      checkStop(stop);
      after = batch.get(batch.size() - 1).get("_id");
      Map<String, BsonDocument> targets = targetsById(ids(batch), null);
      for (BsonDocument doc : batch) {
        checked++;
        BsonDocument copy = targets.get(SourceIds.encode(doc.get("_id")));
        if (copy != null && !tenantOf(copy, tenant)) {
          conflicts++;
          continue;
        }
        if (copy != null && verifier.compareDocument(doc, copy, keyId).isEmpty()) {
          continue;
        }
        DocumentEncryptor.Outcome outcome = encryptor.encrypt(doc, TenantKeys.uuidBinary(keyId));
        if (!(outcome instanceof DocumentEncryptor.Encrypted encrypted)) {
          continue; // a misfit: the copy phase reports it as an item failure
        }
        if (copy == null) {
          try {
            target.insertOne(encrypted.target());
            inserted++;
          } catch (MongoWriteException e) {
            if (ErrorCategory.fromErrorCode(e.getCode()) != ErrorCategory.DUPLICATE_KEY) {
              throw e;
            }
            conflicts++; // written by someone else since we looked: left alone, verify will tell
          }
        } else if (target.replaceOne(Filters.and(Filters.eq("_id", doc.get("_id")), tenant(tenant)),
            encrypted.target()).getMatchedCount() == 1) {
          replaced++;
        }
      }
    }
    long[] extras = removeTargetsWithoutSource(tenant, !sourcePurged, stop);
    ResyncResult result = new ResyncResult(checked, inserted, replaced, extras[0], extras[1], conflicts);
    LOG.info("re-sync tenant={} target={}: checked={} inserted={} replaced={} deleted={} keptWithoutSource={}"
        + " conflicts={}", tenant, plan.target(), checked, inserted, replaced, extras[0], extras[1], conflicts);
    return result;
  }

  /**
   * Compare-and-delete of the tenant's source documents: one is deleted only when its target copy (same {@code _id},
   * same tenant) decrypts under {@code keyId} to exactly it, and the delete filter requires the whole document to be
   * unchanged since it was compared, so an update by the application in between keeps it.
   */
  public PurgeResult purge(String tenant, UUID keyId, BooleanSupplier stop) {
    long deleted = 0;
    long changed = 0;
    long missing = 0;
    BsonValue after = null;
    while (true) {
      List<BsonDocument> batch = sourceBatch(tenant, after);
      if (batch.isEmpty()) {
        break;
      }
      checkStop(stop);
      after = batch.get(batch.size() - 1).get("_id");
      Map<String, BsonDocument> targets = targetsById(ids(batch), tenant);
      List<Bson> verified = new ArrayList<>();
      for (BsonDocument doc : batch) {
        BsonDocument copy = targets.get(SourceIds.encode(doc.get("_id")));
        if (copy == null) {
          missing++;
          continue;
        }
        if (!verifier.compareDocument(doc, copy, keyId).isEmpty()) {
          changed++;
          continue;
        }
        verified.add(unchanged(doc, tenant));
      }
      if (!verified.isEmpty()) {
        // One delete per batch, still compare-and-delete per document: each $or branch matches only its document,
        // and only as it was compared; a document changed since matches no branch and stays.
        // Groups of 100 keep each filter well under MongoDB's 16 MB command limit whatever the batch size.
        for (int from = 0; from < verified.size(); from += 100) {
          List<Bson> group = verified.subList(from, Math.min(verified.size(), from + 100));
          long gone = source.deleteMany(Filters.or(group)).getDeletedCount();
          deleted += gone;
          changed += group.size() - gone;
        }
      }
    }
    return new PurgeResult(deleted, changed, missing);
  }

  /**
   * Deletes the tenant's target documents whose source document (same {@code _id}, same tenant) still exists; a
   * target document without a source may be the only copy and is kept.
   */
  public RollbackResult rollback(String tenant, BooleanSupplier stop) {
    long[] counts = removeTargetsWithSource(tenant, stop);
    return new RollbackResult(counts[0], counts[1]);
  }

  /** Filter matching the document only while every field still equals what was read: the compare of the delete. */
  public static Bson unchanged(BsonDocument doc, String tenant) {
    // $literal keeps values that look like field paths or operators ("$x") from being evaluated.
    return Filters.and(Filters.eq("_id", doc.get("_id")), Filters.expr(new BsonDocument("$eq",
        new BsonArray(List.of(new BsonString("$$ROOT"), new BsonDocument("$literal", doc))))));
  }

  private List<BsonDocument> sourceBatch(String tenant, BsonValue after) {
    Bson filter = after == null ? tenant(tenant) : Filters.and(tenant(tenant), Filters.gt("_id", after));
    return source.find(filter).sort(Sorts.ascending("_id")).limit(plan.batchSize()).into(new ArrayList<>());
  }

  private static List<BsonValue> ids(List<BsonDocument> docs) {
    List<BsonValue> ids = new ArrayList<>(docs.size());
    docs.forEach(d -> ids.add(d.get("_id")));
    return ids;
  }

  /** Target documents with these ids, of the tenant or (tenant null) of anyone, keyed by canonical _id. */
  private Map<String, BsonDocument> targetsById(List<BsonValue> ids, String tenant) {
    Bson filter = tenant == null ? Filters.in("_id", ids) : Filters.and(Filters.in("_id", ids), tenant(tenant));
    Map<String, BsonDocument> found = new HashMap<>();
    for (BsonDocument doc : target.find(filter)) {
      found.put(SourceIds.encode(doc.get("_id")), doc);
    }
    return found;
  }

  private boolean tenantOf(BsonDocument doc, String tenant) {
    BsonValue value = DocumentEncryptor.valueAt(doc, plan.tenantField());
    return value != null && value.isString() && value.asString().getValue().equals(tenant);
  }

  /** Deletes target documents without a source when {@code delete}; returns {deleted, kept without source}. */
  private long[] removeTargetsWithoutSource(String tenant, boolean delete, BooleanSupplier stop) {
    return walkTargets(tenant, stop, false, delete);
  }

  private long[] removeTargetsWithSource(String tenant, BooleanSupplier stop) {
    return walkTargets(tenant, stop, true, true);
  }

  /**
   * Walks the tenant's target ids in batches and deletes those whose source existence equals {@code withSource}
   * (when {@code delete}); returns {deleted, target documents without a source that were kept}.
   */
  private long[] walkTargets(String tenant, BooleanSupplier stop, boolean withSource, boolean delete) {
    long deleted = 0;
    long keptWithoutSource = 0;
    BsonValue after = null;
    while (true) {
      checkStop(stop);
      Bson filter = after == null ? tenant(tenant) : Filters.and(tenant(tenant), Filters.gt("_id", after));
      List<BsonValue> ids = new ArrayList<>();
      target.find(filter).projection(Projections.include("_id")).sort(Sorts.ascending("_id"))
          .limit(plan.batchSize()).forEach(d -> ids.add(d.get("_id")));
      if (ids.isEmpty()) {
        return new long[] {deleted, keptWithoutSource};
      }
      after = ids.get(ids.size() - 1);
      Set<String> sourced = new HashSet<>();
      source.find(Filters.and(Filters.in("_id", ids), tenant(tenant))).projection(Projections.include("_id"))
          .forEach(d -> sourced.add(SourceIds.encode(d.get("_id"))));
      List<BsonValue> doomed = new ArrayList<>();
      for (BsonValue id : ids) {
        boolean hasSource = sourced.contains(SourceIds.encode(id));
        if (!hasSource && (withSource || !delete)) {
          keptWithoutSource++;
        }
        if (hasSource == withSource && delete) {
          doomed.add(id);
        }
      }
      if (!doomed.isEmpty()) {
        deleted += target.deleteMany(Filters.and(Filters.in("_id", doomed), tenant(tenant))).getDeletedCount();
      }
    }
  }

  private static void checkStop(BooleanSupplier stop) {
    if (stop != null && stop.getAsBoolean()) {
      throw new CancellationException("stop requested");
    }
  }
}
