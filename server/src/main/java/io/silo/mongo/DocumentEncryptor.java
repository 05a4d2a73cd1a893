package io.silo.mongo;

import com.mongodb.client.model.vault.EncryptOptions;
import com.mongodb.client.vault.ClientEncryption;
import org.bson.BsonBinary;
import org.bson.BsonBinarySubType;
import org.bson.BsonDocument;
import org.bson.BsonType;
import org.bson.BsonValue;

/**
 * Turns one plaintext source document into its target form under one tenant's data key. Blocking and
 * CPU-heavy (JCE, or libmongocrypt over JNA, see {@link JavaEncryption}): call it from a worker thread, never from an
 * event loop.
 *
 * <p>A document that does not fit the plan is an item failure, not an exception; failure messages name fields
 * and types but never contain values.
 */
public final class DocumentEncryptor {

  /** Item failure codes that appear in completion reports. */
  public static final String TYPE_MISMATCH = "FIELD_TYPE_MISMATCH";
  public static final String NOT_A_DOCUMENT = "PATH_NOT_A_DOCUMENT";
  public static final String ALREADY_ENCRYPTED = "ALREADY_ENCRYPTED";
  /** Item failure code: a field outside the plan, under the FAIL policy. */
  public static final String UNPLANNED_FIELD = "UNPLANNED_FIELD";

  /** The result for one document: either the target document or why the item failed. */
  public sealed interface Outcome permits Encrypted, Failed {
  }

  /** The document to write, with every planned field present in the source encrypted. */
  public record Encrypted(BsonDocument target) implements Outcome {
  }

  /** The plan does not fit this document; it is reported and the migration goes on. */
  public record Failed(String code, String message) implements Outcome {
  }

  private final EncryptionPlan plan;
  private final java.util.function.Supplier<ClientEncryption> encryption;
  private final JavaEncryption fastPath;

  public DocumentEncryptor(EncryptionPlan plan, ClientEncryption encryption) {
    this(plan, () -> encryption);
  }

  /** @param encryption the ClientEncryption to use on the calling thread (e.g. one per pool thread) */
  public DocumentEncryptor(EncryptionPlan plan, java.util.function.Supplier<ClientEncryption> encryption) {
    this(plan, encryption, null);
  }

  /**
   * @param fastPath the fast path ({@code migration.encryptionPath}); null means libmongocrypt for every value. Keys it
   *             does not handle still go through {@code encryption}.
   */
  public DocumentEncryptor(EncryptionPlan plan, java.util.function.Supplier<ClientEncryption> encryption,
                           JavaEncryption fastPath) {
    this.plan = plan;
    this.encryption = encryption;
    this.fastPath = fastPath;
  }

  /** Checks every planned field first, then encrypts; the source document is not modified. */
  public Outcome encrypt(BsonDocument source, BsonBinary keyId) {
    return encrypt(source, keyId, true);
  }

  /**
   * As {@link #encrypt}, but encrypts in place: for a document the caller owns and will not use again (the
   * pipeline decodes a fresh copy per document), it saves a deep copy per document.
   */
  public Outcome encryptOwned(BsonDocument document, BsonBinary keyId) {
    return encrypt(document, keyId, false);
  }

  private Outcome encrypt(BsonDocument source, BsonBinary keyId, boolean copy) {
    for (FieldRule rule : plan.fields()) {
      Failed misfit = misfit(source, rule);
      if (misfit != null) {
        return misfit;
      }
    }
    java.util.List<String> unplanned = null;
    if (plan.unplanned() != EncryptionPlan.Unplanned.COPY) {
      for (String name : source.keySet()) {
        if (!plan.covers(name)) {
          if (plan.unplanned() == EncryptionPlan.Unplanned.FAIL) {
            return new Failed(UNPLANNED_FIELD, "field '" + name + "' is not in the plan and the plan's policy for"
                + " unplanned fields is FAIL");
          }
          (unplanned == null ? unplanned = new java.util.ArrayList<>() : unplanned).add(name);
        }
      }
    }
    BsonDocument target = copy ? source.clone() : source;
    if (unplanned != null) {
      unplanned.forEach(target::remove);
    }
    JavaEncryption.Bound fast = fastPath == null ? null : fastPath.bind(keyId);
    for (FieldRule rule : plan.fields()) {
      Located at = locate(target, rule.path());
      if (at == null || !at.parent.containsKey(at.name)) {
        continue; // absent optional field: nothing to protect
      }
      BsonValue plain = at.parent.get(at.name);
      BsonBinary cipher = fast != null && CsfleCipher.supports(plain.getBsonType())
          ? fast.encrypt(plain, rule.algorithm() == FieldRule.Algorithm.DETERMINISTIC)
          : encryption.get().encrypt(plain, options(keyId, rule));
      at.parent.put(at.name, cipher);
    }
    return new Encrypted(target);
  }

  /** The plan's options under one key, one per field rule; the driver only reads them, so threads share them. */
  private record KeyOptions(BsonBinary keyId, java.util.Map<FieldRule, EncryptOptions> byRule) {
  }

  /** The options of the key seen last: a batch is one tenant's, so this saves two allocations per encrypted value. */
  private volatile KeyOptions lastOptions;

  private EncryptOptions options(BsonBinary keyId, FieldRule rule) {
    KeyOptions last = lastOptions;
    if (last == null || !last.keyId().equals(keyId)) {
      java.util.Map<FieldRule, EncryptOptions> byRule = new java.util.IdentityHashMap<>();
      for (FieldRule r : plan.fields()) {
        byRule.put(r, new EncryptOptions(r.algorithm().driverName()).keyId(keyId));
      }
      last = new KeyOptions(keyId, byRule);
      lastOptions = last;
    }
    return last.byRule().get(rule);
  }

  /** Why {@code rule} cannot apply to {@code doc}, or null when it can (including when the field is absent). */
  static Failed misfit(BsonDocument doc, FieldRule rule) {
    String[] segments = rule.path().split("\\.");
    BsonDocument current = doc;
    for (int i = 0; i < segments.length - 1; i++) {
      BsonValue next = current.get(segments[i]);
      if (next == null) {
        return null;
      }
      if (!next.isDocument()) {
        return new Failed(NOT_A_DOCUMENT, "field '" + rule.path() + "': '" + join(segments, i + 1)
            + "' holds " + typeName(next.getBsonType()) + ", not an embedded document");
      }
      current = next.asDocument();
    }
    BsonValue value = current.get(segments[segments.length - 1]);
    if (value == null) {
      return null;
    }
    if (isCiphertext(value)) {
      return new Failed(ALREADY_ENCRYPTED, "field '" + rule.path() + "' is already a CSFLE ciphertext (subtype 6)");
    }
    if (value.getBsonType() != rule.requiredType()) {
      return new Failed(TYPE_MISMATCH, "field '" + rule.path() + "' holds " + typeName(value.getBsonType())
          + ", plan requires " + rule.bsonType() + (rule.algorithm() == FieldRule.Algorithm.DETERMINISTIC
          && FieldRule.NOT_DETERMINISTIC.contains(value.getBsonType()) ? " (and " + typeName(value.getBsonType())
          + " cannot be encrypted deterministically)" : ""));
    }
    return null;
  }

  /** True for a BSON binary of subtype 6, the CSFLE ciphertext. */
  public static boolean isCiphertext(BsonValue value) {
    return value != null && value.isBinary()
        && value.asBinary().getType() == BsonBinarySubType.ENCRYPTED.getValue();
  }

  /** The value at a dotted path, or null if any segment is missing or not a document. */
  public static BsonValue valueAt(BsonDocument doc, String path) {
    Located at = locate(doc, path);
    return at == null ? null : at.parent.get(at.name);
  }

  private record Located(BsonDocument parent, String name) {
  }

  private static Located locate(BsonDocument doc, String path) {
    String[] segments = path.split("\\.");
    BsonDocument current = doc;
    for (int i = 0; i < segments.length - 1; i++) {
      BsonValue next = current.get(segments[i]);
      if (next == null || !next.isDocument()) {
        return null;
      }
      current = next.asDocument();
    }
    return new Located(current, segments[segments.length - 1]);
  }

  private static String join(String[] segments, int count) {
    return String.join(".", java.util.Arrays.copyOf(segments, count));
  }

  /** The plan's name for a BSON type, so messages use the same words users wrote. */
  static String typeName(BsonType type) {
    return FieldRule.TYPES.entrySet().stream().filter(e -> e.getValue() == type).map(java.util.Map.Entry::getKey)
        .findFirst().orElse(type.name().toLowerCase(java.util.Locale.ROOT));
  }
}
