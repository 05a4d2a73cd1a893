package io.silo.mongo;

import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.bson.BsonType;

/** One entry of a field plan: which dotted path to encrypt, with which algorithm, and the BSON type it must hold. */
public record FieldRule(String path, Algorithm algorithm, String bsonType) {

  /** CSFLE algorithms; deterministic ciphertext supports equality queries, random does not. */
  public enum Algorithm {
    DETERMINISTIC("AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic", (byte) 1),
    RANDOM("AEAD_AES_256_CBC_HMAC_SHA_512-Random", (byte) 2);

    private final String driverName;
    private final byte ciphertextTag;

    Algorithm(String driverName, byte ciphertextTag) {
      this.driverName = driverName;
      this.ciphertextTag = ciphertextTag;
    }

    /** The algorithm name libmongocrypt expects. */
    public String driverName() {
      return driverName;
    }

    /** First byte of a subtype-6 ciphertext made with this algorithm (the FLE1 blob format). */
    public byte ciphertextTag() {
      return ciphertextTag;
    }
  }

  /** The $jsonSchema type names Silo accepts in a plan, mapped to the BSON type a value must have. */
  static final Map<String, BsonType> TYPES = Map.ofEntries(
      Map.entry("string", BsonType.STRING),
      Map.entry("int", BsonType.INT32),
      Map.entry("long", BsonType.INT64),
      Map.entry("double", BsonType.DOUBLE),
      Map.entry("decimal", BsonType.DECIMAL128),
      Map.entry("bool", BsonType.BOOLEAN),
      Map.entry("date", BsonType.DATE_TIME),
      Map.entry("objectId", BsonType.OBJECT_ID),
      Map.entry("binData", BsonType.BINARY),
      Map.entry("object", BsonType.DOCUMENT),
      Map.entry("array", BsonType.ARRAY),
      Map.entry("timestamp", BsonType.TIMESTAMP),
      Map.entry("regex", BsonType.REGULAR_EXPRESSION),
      Map.entry("javascript", BsonType.JAVASCRIPT));

  /**
   * Types CSFLE refuses to encrypt deterministically: equality on them is ill-defined (floating point, booleans
   * with two values leak everything, documents and arrays have no canonical order).
   */
  static final Set<BsonType> NOT_DETERMINISTIC = Set.of(BsonType.DOUBLE, BsonType.DECIMAL128, BsonType.BOOLEAN,
      BsonType.DOCUMENT, BsonType.ARRAY, BsonType.JAVASCRIPT_WITH_SCOPE);

  /** Types MongoDB's ClientEncryption.encrypt refuses with either algorithm, and legacy types Silo does not copy. */
  static final Set<String> NEVER_ENCRYPTED = Set.of("null", "undefined", "minKey", "maxKey", "javascriptWithScope",
      "symbol", "dbPointer");

  /** A reason for an unknown bsonType that CSFLE itself cannot encrypt, or "". */
  static String whyUnsupported(String bsonType) {
    return NEVER_ENCRYPTED.contains(bsonType) ? " (CSFLE cannot encrypt " + bsonType + " values)" : "";
  }

  /** The accepted bsonType names, for error messages. */
  public static List<String> typeNames() {
    return TYPES.keySet().stream().sorted().toList();
  }

  /** The BSON type this rule requires. */
  public BsonType requiredType() {
    return TYPES.get(bsonType);
  }

  /** Parses the config form {@code path:ALGORITHM:bsonType}, e.g. {@code ssn:DETERMINISTIC:string}. */
  public static FieldRule parse(String spec) {
    String[] parts = spec.trim().split(":");
    if (parts.length != 3) {
      throw new IllegalArgumentException("'" + spec + "' is not path:ALGORITHM:bsonType");
    }
    Algorithm algorithm;
    try {
      algorithm = Algorithm.valueOf(parts[1].trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("'" + spec + "': algorithm must be DETERMINISTIC or RANDOM");
    }
    return new FieldRule(parts[0].trim(), algorithm, parts[2].trim());
  }

  @Override
  public String toString() {
    return path + ":" + algorithm + ":" + bsonType;
  }
}
