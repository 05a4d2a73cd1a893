package io.silo.mongo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.mongodb.ClientEncryptionSettings;
import com.mongodb.MongoException;
import com.mongodb.client.MongoClient;
import com.mongodb.client.MongoCollection;
import com.mongodb.client.model.vault.DataKeyOptions;
import com.mongodb.client.model.vault.EncryptOptions;
import com.mongodb.client.vault.ClientEncryption;
import com.mongodb.client.vault.ClientEncryptions;
import io.silo.dev.mongo.DevMongoServer;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;
import org.bson.BsonArray;
import org.bson.BsonBinary;
import org.bson.BsonBinarySubType;
import org.bson.BsonBoolean;
import org.bson.BsonDateTime;
import org.bson.BsonDecimal128;
import org.bson.BsonDocument;
import org.bson.BsonDouble;
import org.bson.BsonInt32;
import org.bson.BsonInt64;
import org.bson.BsonJavaScript;
import org.bson.BsonObjectId;
import org.bson.BsonRegularExpression;
import org.bson.BsonString;
import org.bson.BsonTimestamp;
import org.bson.BsonValue;
import org.bson.types.Decimal128;
import org.bson.types.ObjectId;

/**
 * libmongocrypt is the oracle for {@link CsfleCipher}: over generated values of every type a plan can encrypt,
 * deterministic ciphertext must be byte-identical to {@code ClientEncryption.encrypt}, random ciphertext must decrypt
 * through {@code ClientEncryption.decrypt} to the same value, and a flipped bit or a wrong key must fail. The data keys
 * are unwrapped by {@link DataKeyCache} from the key vault libmongocrypt wrote, so unwrapping is checked too.
 * {@code -Dsilo.oracle.values=N} sets the size of the bulk run (default 100,000).
 */
class CsfleOracleTest {

  private static final String VAULT = "encryption.__keyVault";
  private static DevMongoServer dev;
  private static MongoClient mongo;
  private static ClientEncryption oracle;
  private static DataKeyCache keys;
  private static final List<BsonBinary> KEY_IDS = new ArrayList<>();
  private static BsonBinary otherKeyId;
  private static final CsfleCipher CIPHER = new CsfleCipher();

  @BeforeContainer
  static void startKeyVault() {
    dev = DevMongoServer.start(null, "127.0.0.1", 0);
    byte[] master = new byte[CsfleCipher.KEY_LENGTH];
    new SecureRandom().nextBytes(master);
    Map<String, Map<String, Object>> providers = Map.of("local", Map.of("key", master));
    CryptLibrary.ensureBundledLibrary();
    oracle = ClientEncryptions.create(ClientEncryptionSettings.builder()
        .keyVaultMongoClientSettings(MongoClientFactory.settings(dev.connectionString()))
        .keyVaultNamespace(VAULT).kmsProviders(providers)
        .keyExpiration(1L, TimeUnit.HOURS).build());
    for (int i = 0; i < 3; i++) {
      KEY_IDS.add(oracle.createDataKey("local", new DataKeyOptions()));
    }
    otherKeyId = oracle.createDataKey("local", new DataKeyOptions());
    mongo = MongoClientFactory.sync(dev.connectionString());
    keys = new DataKeyCache(vault(), providers, 3600);
  }

  @AfterContainer
  static void stop() {
    keys.close();
    oracle.close();
    mongo.close();
    dev.close();
  }

  private static MongoCollection<BsonDocument> vault() {
    return mongo.getDatabase("encryption").getCollection("__keyVault", BsonDocument.class);
  }

  // ---- the bulk run ---------------------------------------------------------------------------------------------

  @Example
  void everyGeneratedValueMatchesLibmongocryptByteForByteOrDecryptsThroughIt() {
    int count = Integer.getInteger("silo.oracle.values", 100_000);
    AtomicLong deterministic = new AtomicLong();
    AtomicLong random = new AtomicLong();
    Map<org.bson.BsonType, AtomicLong> perType = new java.util.EnumMap<>(org.bson.BsonType.class);
    long[] index = {0};
    values().sampleStream().limit(count).forEach(value -> {
      BsonBinary keyId = KEY_IDS.get((int) (index[0]++ % KEY_IDS.size()));
      if (!FieldRule.NOT_DETERMINISTIC.contains(value.getBsonType())) {
        assertDeterministicMatches(value, keyId);
        deterministic.incrementAndGet();
      }
      assertRandomDecrypts(value, keyId);
      random.incrementAndGet();
      perType.computeIfAbsent(value.getBsonType(), t -> new AtomicLong()).incrementAndGet();
    });
    assertThat(random.get()).isEqualTo(count);
    assertThat(deterministic.get()).isGreaterThan(count / 3);
    // Every generated type really occurred, so a generator bug cannot quietly narrow the check.
    assertThat(perType.keySet()).containsAll(List.of(org.bson.BsonType.STRING, org.bson.BsonType.INT32,
        org.bson.BsonType.INT64, org.bson.BsonType.DOUBLE, org.bson.BsonType.BOOLEAN, org.bson.BsonType.DATE_TIME,
        org.bson.BsonType.BINARY, org.bson.BsonType.OBJECT_ID, org.bson.BsonType.DECIMAL128,
        org.bson.BsonType.DOCUMENT, org.bson.BsonType.ARRAY, org.bson.BsonType.TIMESTAMP,
        org.bson.BsonType.REGULAR_EXPRESSION));
  }

  // ---- shrinking properties (smaller, so a failure is reported with a minimal value) --------------------------------

  @Property(tries = 1000)
  void deterministicCiphertextIsByteIdenticalToLibmongocrypt(@ForAll("deterministicValue") BsonValue value) {
    assertDeterministicMatches(value, KEY_IDS.get(0));
  }

  @Property(tries = 1000)
  void randomCiphertextDecryptsThroughLibmongocrypt(@ForAll("anyValue") BsonValue value) {
    assertRandomDecrypts(value, KEY_IDS.get(1));
  }

  @Property(tries = 300)
  void aFlippedBitIsRejectedByLibmongocrypt(@ForAll("anyValue") BsonValue value, @ForAll boolean deterministic,
                                           @ForAll("anyPosition") double where, @ForAll("aBit") int bit) {
    BsonBinary cipher = java(value, KEY_IDS.get(2), deterministic);
    byte[] data = cipher.getData().clone();
    // Past the 18-byte header: flipping the key id would just name a missing key, which proves nothing about the AEAD.
    int at = 18 + (int) (where * (data.length - 18));
    data[at] ^= (byte) (1 << bit);
    assertThatThrownBy(() -> oracle.decrypt(new BsonBinary(BsonBinarySubType.ENCRYPTED, data)))
        .isInstanceOf(MongoException.class);
  }

  @Property(tries = 300)
  void ciphertextUnderAWrongKeyIsRejectedByLibmongocrypt(@ForAll("anyValue") BsonValue value,
                                                        @ForAll boolean deterministic) {
    // Encrypt with one key's material but label it with another key's id: libmongocrypt fetches the labelled key.
    DataKeyCache.Unwrapped wrong = keys.get(otherKeyId, CIPHER);
    byte[] labelled = KEY_IDS.get(0).getData();
    BsonBinary cipher = CIPHER.encrypt(wrong.key(), labelled, deterministic, value);
    assertThatThrownBy(() -> oracle.decrypt(cipher)).isInstanceOf(MongoException.class);
  }

  @Example
  void aWrappedKeyDoesNotOpenUnderAWrongMasterKey() {
    BsonDocument keyDoc = vault().find(com.mongodb.client.model.Filters.eq("_id", KEY_IDS.get(0))).first();
    byte[] material = keyDoc.getBinary("keyMaterial").getData().clone();
    byte[] master = new byte[CsfleCipher.KEY_LENGTH];
    assertThatThrownBy(() -> CIPHER.open(new CsfleCipher.Key(master), null, material))
        .isInstanceOf(java.security.GeneralSecurityException.class).hasMessageContaining("HMAC");
  }

  @Example
  void javaScriptIsLeftToLibmongocrypt() {
    // libmongocrypt's ciphertext of JavaScript code differs from the Java encoding, so the Java path refuses it and
    // DocumentEncryptor sends such values to libmongocrypt.
    assertThat(CsfleCipher.supports(org.bson.BsonType.JAVASCRIPT)).isFalse();
    DataKeyCache.Unwrapped key = keys.get(KEY_IDS.get(0), CIPHER);
    assertThatThrownBy(() -> CIPHER.encrypt(key.key(), key.idBytes(), false, new BsonJavaScript("f()")))
        .isInstanceOf(IllegalArgumentException.class);
  }

  // ---- helpers -----------------------------------------------------------------------------------------------

  private static BsonBinary java(BsonValue value, BsonBinary keyId, boolean deterministic) {
    DataKeyCache.Unwrapped key = keys.get(keyId, CIPHER);
    assertThat(key.inJava()).isTrue();
    return CIPHER.encrypt(key.key(), key.idBytes(), deterministic, value);
  }

  private static void assertDeterministicMatches(BsonValue value, BsonBinary keyId) {
    BsonBinary expected = oracle.encrypt(value,
        new EncryptOptions(FieldRule.Algorithm.DETERMINISTIC.driverName()).keyId(keyId));
    BsonBinary actual = java(value, keyId, true);
    if (!java.util.Arrays.equals(expected.getData(), actual.getData()) || expected.getType() != actual.getType()) {
      throw new AssertionError("deterministic ciphertext differs from libmongocrypt's for a " + value.getBsonType()
          + " value " + value);
    }
  }

  private static void assertRandomDecrypts(BsonValue value, BsonBinary keyId) {
    BsonBinary cipher = java(value, keyId, false);
    assertThat(cipher.getType()).isEqualTo(BsonBinarySubType.ENCRYPTED.getValue());
    assertThat(cipher.getData()[0]).isEqualTo(FieldRule.Algorithm.RANDOM.ciphertextTag());
    BsonValue back = oracle.decrypt(cipher);
    if (!back.equals(value)) {
      throw new AssertionError("random ciphertext of a " + value.getBsonType() + " value decrypts to " + back
          + " instead of " + value);
    }
  }

  // ---- generators ------------------------------------------------------------------------------------------------

  @Provide
  Arbitrary<Double> anyPosition() {
    return Arbitraries.doubles().between(0, 0.999_999).ofScale(6);
  }

  @Provide
  Arbitrary<Integer> aBit() {
    return Arbitraries.integers().between(0, 7);
  }

  @Provide
  Arbitrary<BsonValue> deterministicValue() {
    return Arbitraries.oneOf(strings(), int32(), int64(), dates(), binaries(), objectIds(), timestamps(), regexes());
  }

  @Provide
  Arbitrary<BsonValue> anyValue() {
    return values();
  }

  private static Arbitrary<BsonValue> values() {
    Arbitrary<BsonValue> leaf = Arbitraries.oneOf(strings(), int32(), int64(), doubles(), bools(), dates(), binaries(),
        objectIds(), decimals(), timestamps(), regexes());
    Arbitrary<BsonValue> nested = Arbitraries.oneOf(documentsOf(leaf), arraysOf(leaf));
    return Arbitraries.frequencyOf(
        net.jqwik.api.Tuple.of(12, leaf),
        net.jqwik.api.Tuple.of(2, nested),
        net.jqwik.api.Tuple.of(1, Arbitraries.oneOf(documentsOf(nested), arraysOf(nested))));
  }

  private static Arbitrary<BsonValue> strings() {
    // ASCII (incl. NUL), 2-byte and 3-byte UTF-8, plus 4-byte UTF-8 via surrogate pairs; empty and long ones too.
    net.jqwik.api.arbitraries.StringArbitrary bmp = Arbitraries.strings().withCharRange('\u0000', '\u007f').withCharRange('\u0080', '\u07ff')
        .withCharRange('\u0800', '\ud7ff').withCharRange('\ue000', '\uffff');
    Arbitrary<String> emoji = Arbitraries.integers().between(0x1F300, 0x1FAFF).map(Character::toString);
    Arbitrary<String> piece = Arbitraries.frequencyOf(net.jqwik.api.Tuple.of(6, bmp.ofMaxLength(40)),
        net.jqwik.api.Tuple.of(1, emoji));
    Arbitrary<String> text = Arbitraries.frequencyOf(
        net.jqwik.api.Tuple.of(1, Arbitraries.just("")),
        net.jqwik.api.Tuple.of(10, piece.list().ofMaxSize(4).map(l -> String.join("", l))),
        net.jqwik.api.Tuple.of(1, bmp.ofMinLength(100).ofMaxLength(1500)));
    return text.map(BsonString::new);
  }

  private static Arbitrary<BsonValue> int32() {
    return Arbitraries.integers().edgeCases(c -> c.includeOnly(0, -1, Integer.MIN_VALUE, Integer.MAX_VALUE))
        .map(BsonInt32::new);
  }

  private static Arbitrary<BsonValue> int64() {
    return Arbitraries.longs().map(BsonInt64::new);
  }

  private static Arbitrary<BsonValue> doubles() {
    return Arbitraries.oneOf(Arbitraries.doubles(),
        Arbitraries.of(0.0, -0.0, Double.NaN, Double.POSITIVE_INFINITY, Double.MIN_VALUE, Double.MAX_VALUE))
        .map(BsonDouble::new);
  }

  private static Arbitrary<BsonValue> bools() {
    return Arbitraries.of(BsonBoolean.TRUE, BsonBoolean.FALSE);
  }

  private static Arbitrary<BsonValue> dates() {
    return Arbitraries.longs().between(-62_135_596_800_000L, 253_402_300_799_999L).map(BsonDateTime::new);
  }

  private static Arbitrary<BsonValue> binaries() {
    Arbitrary<byte[]> bytes = Arbitraries.bytes().array(byte[].class).ofMaxSize(300);
    Arbitrary<Byte> subtype = Arbitraries.of((byte) 0, (byte) 2, (byte) 5, (byte) 0x80);
    return Combinators.combine(subtype, bytes).as((t, b) -> (BsonValue) new BsonBinary(t, b));
  }

  private static Arbitrary<BsonValue> objectIds() {
    return Arbitraries.bytes().array(byte[].class).ofSize(12).map(b -> new BsonObjectId(new ObjectId(b)));
  }

  private static Arbitrary<BsonValue> decimals() {
    return Combinators.combine(Arbitraries.longs(), Arbitraries.integers().between(-30, 30))
        .as((unscaled, scale) -> (BsonValue) new BsonDecimal128(
            new Decimal128(java.math.BigDecimal.valueOf(unscaled, scale))));
  }

  private static Arbitrary<BsonValue> timestamps() {
    return Combinators.combine(Arbitraries.integers(), Arbitraries.integers())
        .as((seconds, inc) -> (BsonValue) new BsonTimestamp(seconds, inc));
  }

  private static Arbitrary<BsonValue> regexes() {
    return Combinators.combine(Arbitraries.strings().alpha().ofMaxLength(20), Arbitraries.of("", "i", "im", "imsx"))
        .as((p, o) -> (BsonValue) new BsonRegularExpression(p, o));
  }


  private static Arbitrary<BsonValue> documentsOf(Arbitrary<BsonValue> values) {
    Arbitrary<String> names = Arbitraries.strings().alpha().numeric().ofMinLength(1).ofMaxLength(8);
    return Combinators.combine(names, values).as(Map::entry).list().ofMaxSize(5).map(entries -> {
      BsonDocument doc = new BsonDocument();
      entries.forEach(e -> doc.put(e.getKey(), e.getValue()));
      return (BsonValue) doc;
    });
  }

  private static Arbitrary<BsonValue> arraysOf(Arbitrary<BsonValue> values) {
    return values.list().ofMaxSize(5).map(l -> (BsonValue) new BsonArray(l));
  }
}
