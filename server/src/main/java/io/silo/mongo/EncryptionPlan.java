package io.silo.mongo;

import io.silo.Quote;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * What the MONGO phase does for a tenant: copy {@code source} documents whose {@code tenantField} equals the slug
 * into {@code target}, encrypting the listed fields and copying every other field as it is.
 *
 * <p>{@link #validate} names the offending field with the prefix the caller passes, so the same checks serve
 * start-up config ({@code migration.}) and request overrides ({@code definition.}).
 */
public record EncryptionPlan(Namespace source, Namespace target, String tenantField, List<FieldRule> fields,
                             int batchSize, Unplanned unplanned) {

  /** What happens to a top-level source field the plan does not name (other than _id and the tenant field). */
  public enum Unplanned {
    /** Copied as it is, in plaintext; plan, status and report name every such field. */
    COPY,
    /** Left out of the target. */
    DROP,
    /** The document is not copied and is reported as a failed item. */
    FAIL
  }

  /** A plan that copies unplanned fields as they are. */
  public EncryptionPlan(Namespace source, Namespace target, String tenantField, List<FieldRule> fields,
                        int batchSize) {
    this(source, target, tenantField, fields, batchSize, Unplanned.COPY);
  }

  public EncryptionPlan {
    unplanned = unplanned == null ? Unplanned.COPY : unplanned;
  }

  /** A copy with another policy for unplanned fields. */
  public EncryptionPlan withUnplanned(Unplanned policy) {
    return new EncryptionPlan(source, target, tenantField, fields, batchSize, policy);
  }

  /** The top-level names {@link #covers} accepts, for hot loops. */
  public Set<String> coveredTopLevel() {
    Set<String> names = new HashSet<>();
    names.add("_id");
    names.add(tenantField.split("\\.", 2)[0]);
    fields.forEach(rule -> names.add(rule.path().split("\\.", 2)[0]));
    return Set.copyOf(names);
  }

  /**
   * Whether a top-level field name is covered: {@code _id}, the tenant field, or the first segment of a planned path
   * (fields inside a partly planned document are copied with it).
   */
  public boolean covers(String topLevelName) {
    if (topLevelName.equals("_id") || topLevelName.equals(tenantField.split("\\.", 2)[0])) {
      return true;
    }
    for (FieldRule rule : fields) {
      if (rule.path().split("\\.", 2)[0].equals(topLevelName)) {
        return true;
      }
    }
    return false;
  }

  private static final Pattern DB_NAME = Pattern.compile("[A-Za-z0-9_-]{1,63}");
  private static final Pattern COLLECTION_NAME = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.-]{0,119}");
  private static final Pattern FIELD_SEGMENT = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_-]{0,127}");
  public static final int MAX_BATCH_SIZE = 10_000;
  /** Fields one plan may encrypt: validation compares every pair, and each field costs a KMS-free encrypt per document. */
  public static final int MAX_FIELDS = 200;
  /**
   * MongoDB's own databases: a migration reads from or writes into them, and rollback deletes from its target, so a
   * definition naming them could read credentials or break the deployment.
   */
  public static final Set<String> RESERVED_DATABASES = Set.of("admin", "config", "local");

  /** A database.collection pair. */
  public record Namespace(String database, String collection) {
    /** Parses {@code db.collection}; the collection part may itself contain dots. */
    public static Namespace parse(String fieldName, String text) {
      int dot = text == null ? -1 : text.indexOf('.');
      if (dot <= 0 || dot == text.length() - 1) {
        throw new InvalidPlanException(fieldName, "must be <database>.<collection>, got " + Quote.of(text));
      }
      Namespace ns = new Namespace(text.substring(0, dot), text.substring(dot + 1));
      if (!DB_NAME.matcher(ns.database).matches()) {
        throw new InvalidPlanException(fieldName, "database name " + Quote.of(ns.database)
            + " is not a valid MongoDB database name");
      }
      if (!COLLECTION_NAME.matcher(ns.collection).matches() || ns.collection.startsWith("system.")) {
        throw new InvalidPlanException(fieldName, "collection name " + Quote.of(ns.collection) + " is not allowed");
      }
      return ns;
    }

    @Override
    public String toString() {
      return database + "." + collection;
    }
  }

  /** A plan that cannot run, naming the setting or request field at fault. */
  public static final class InvalidPlanException extends RuntimeException {
    private final String field;

    public InvalidPlanException(String field, String message) {
      super(field + " " + message);
      this.field = field;
    }

    public String field() {
      return field;
    }
  }

  /** Checks everything that can be checked without a database; {@code prefix} is e.g. "definition." or "migration.". */
  public EncryptionPlan validate(String prefix) {
    return validate(prefix, null);
  }

  /**
   * As {@link #validate(String)}, and also refuses namespaces a migration must never read from or write into: the
   * key vault (a rollback deletes from its target by tenant field, which would destroy data keys without the shred
   * guard or audit) and MongoDB's own databases. A definition is data from a caller and is checked as such.
   */
  public EncryptionPlan validate(String prefix, Namespace keyVault) {
    namespaceAllowed(prefix + "source_namespace", source, keyVault);
    namespaceAllowed(prefix + "target_namespace", target, keyVault);
    if (source.database.equalsIgnoreCase(target.database) && source.collection.equals(target.collection)) {
      throw new InvalidPlanException(prefix + "target_namespace", "must differ from the source namespace " + source
          + " (the source is never modified before a verified purge)");
    }
    if (tenantField == null || tenantField.isEmpty() || !validPath(tenantField)) {
      throw new InvalidPlanException(prefix + "tenant_field", "must be a field name, got " + Quote.of(tenantField));
    }
    if (tenantField.equals("_id") || tenantField.startsWith("_id.")) {
      // A tenant selected by _id matches at most one document by accident, so a verify or purge of it "succeeds"
      // having looked at nothing of the tenant's.
      throw new InvalidPlanException(prefix + "tenant_field", "cannot be _id: documents are matched by it, and it "
          + "does not name a tenant");
    }
    if (fields.isEmpty()) {
      throw new InvalidPlanException(prefix + "fields", "must list at least one field to encrypt");
    }
    if (fields.size() > MAX_FIELDS) {
      throw new InvalidPlanException(prefix + "fields", "lists " + fields.size() + " fields; the limit is "
          + MAX_FIELDS + " per plan");
    }
    if (batchSize < 1 || batchSize > MAX_BATCH_SIZE) {
      throw new InvalidPlanException(prefix + "batch_size", "must be 1-" + MAX_BATCH_SIZE + ", got " + batchSize);
    }
    Set<String> seen = new HashSet<>();
    for (int i = 0; i < fields.size(); i++) {
      FieldRule rule = fields.get(i);
      String name = prefix + "fields[" + i + "]";
      if (rule.path() == null || rule.path().isEmpty()) {
        throw new InvalidPlanException(name + ".path", "is required");
      }
      if (!validPath(rule.path())) {
        throw new InvalidPlanException(name + ".path", Quote.of(rule.path()) + " is not a dotted field path");
      }
      if (rule.path().equals("_id") || rule.path().startsWith("_id.")) {
        throw new InvalidPlanException(name + ".path", "cannot encrypt _id: documents are matched by it");
      }
      if (overlaps(rule.path(), tenantField)) {
        throw new InvalidPlanException(name + ".path", Quote.of(rule.path()) + " overlaps the tenant field "
            + Quote.of(tenantField) + ", which stays plaintext for routing");
      }
      if (rule.algorithm() == null) {
        throw new InvalidPlanException(name + ".algorithm", "must be DETERMINISTIC or RANDOM");
      }
      if (rule.requiredType() == null) {
        throw new InvalidPlanException(name + ".bson_type", Quote.of(rule.bsonType()) + " is not one of "
            + FieldRule.typeNames() + FieldRule.whyUnsupported(rule.bsonType()));
      }
      if (rule.algorithm() == FieldRule.Algorithm.DETERMINISTIC
          && FieldRule.NOT_DETERMINISTIC.contains(rule.requiredType())) {
        throw new InvalidPlanException(name + ".algorithm", "DETERMINISTIC cannot encrypt bsonType "
            + Quote.of(rule.bsonType()) + "; use RANDOM");
      }
      for (String other : seen) {
        if (overlaps(other, rule.path())) {
          throw new InvalidPlanException(name + ".path", Quote.of(rule.path()) + " conflicts with " + Quote.of(other)
              + " (the same field, or one inside the other)");
        }
      }
      seen.add(rule.path());
    }
    return this;
  }

  /** Refuses the key vault and MongoDB's own databases (compared case-insensitively, as MongoDB refuses names that differ only in case). */
  private static void namespaceAllowed(String field, Namespace ns, Namespace keyVault) {
    if (RESERVED_DATABASES.contains(ns.database.toLowerCase(Locale.ROOT))) {
      throw new InvalidPlanException(field, "cannot be in MongoDB's own database " + Quote.of(ns.database));
    }
    if (keyVault != null && ns.database.equalsIgnoreCase(keyVault.database)
        && ns.collection.equals(keyVault.collection)) {
      throw new InvalidPlanException(field, "cannot be the key vault " + keyVault
          + " (it holds every tenant's data keys)");
    }
  }

  private static boolean validPath(String path) {
    for (String segment : path.split("\\.", -1)) {
      if (!FIELD_SEGMENT.matcher(segment).matches()) {
        return false;
      }
    }
    return true;
  }

  private static boolean overlaps(String a, String b) {
    return a.equals(b) || a.startsWith(b + ".") || b.startsWith(a + ".");
  }
}
