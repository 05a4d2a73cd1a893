package io.silo.mongo;

import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import javax.crypto.Cipher;
import javax.crypto.Mac;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import org.bson.BsonBinary;
import org.bson.BsonBinarySubType;
import org.bson.BsonBinaryWriter;
import org.bson.BsonValue;
import org.bson.codecs.BsonValueCodec;
import org.bson.codecs.EncoderContext;
import org.bson.io.BasicOutputBuffer;

/**
 * CSFLE value encryption (AEAD_AES_256_CBC_HMAC_SHA_512, deterministic and random) with JCE primitives, byte-for-byte
 * what libmongocrypt's explicit encryption produces; used by the bulk copy instead of one JNA round trip per value.
 * Not thread-safe: it reuses one {@link Cipher} and one {@link Mac}, so keep one instance per thread.
 *
 * <p>The format (libmongocrypt's "FLE1"): the 96-byte key is MAC key || encryption key || IV key. A value's plaintext
 * is the BSON encoding of the value alone (no element header); its associated data is blob subtype (1 deterministic,
 * 2 random) || 16-byte key UUID || original BSON type. The AEAD output is IV || AES-256-CBC(PKCS#7) || the first 32
 * bytes of HMAC-SHA-512(MAC key, AAD || IV || ciphertext || bit length of AAD as uint64 big-endian). The deterministic
 * IV is the first 16 bytes of HMAC-SHA-512(IV key, AAD || bit length of AAD || plaintext). {@code CsfleOracleTest}
 * checks all of this against libmongocrypt itself.
 */
public final class CsfleCipher {

  /** Length of a data key and of a {@code local} master key. */
  public static final int KEY_LENGTH = 96;
  static final byte DETERMINISTIC = 1;
  static final byte RANDOM = 2;
  private static final int PART = 32;
  private static final int IV_LENGTH = 16;
  private static final int TAG_LENGTH = 32;
  private static final BsonValueCodec VALUES = new BsonValueCodec();

  /** A 96-byte key split into the JCE key objects the AEAD needs; immutable, shareable between threads. */
  public static final class Key {
    final SecretKeySpec mac;
    final SecretKeySpec enc;
    final SecretKeySpec iv;

    /** Copies what it needs from {@code key96}; the caller may zero its array afterwards. */
    public Key(byte[] key96) {
      if (key96.length != KEY_LENGTH) {
        throw new IllegalArgumentException("a CSFLE key has " + KEY_LENGTH + " bytes, not " + key96.length);
      }
      this.mac = new SecretKeySpec(key96, 0, PART, "HmacSHA512");
      this.enc = new SecretKeySpec(key96, PART, PART, "AES");
      this.iv = new SecretKeySpec(key96, 2 * PART, PART, "HmacSHA512");
    }
  }

  /**
   * The types this class encrypts: those the oracle test proved byte-identical to libmongocrypt. JavaScript code is
   * not among them (libmongocrypt's ciphertext of it differs), so it stays on libmongocrypt.
   */
  private static final java.util.Set<org.bson.BsonType> SUPPORTED = java.util.EnumSet.complementOf(java.util.EnumSet.of(
      org.bson.BsonType.JAVASCRIPT, org.bson.BsonType.JAVASCRIPT_WITH_SCOPE, org.bson.BsonType.NULL,
      org.bson.BsonType.UNDEFINED, org.bson.BsonType.MIN_KEY, org.bson.BsonType.MAX_KEY, org.bson.BsonType.DB_POINTER,
      org.bson.BsonType.SYMBOL, org.bson.BsonType.END_OF_DOCUMENT));

  /** Whether {@link #encrypt} takes values of this type; the caller sends the others to libmongocrypt. */
  public static boolean supports(org.bson.BsonType type) {
    return SUPPORTED.contains(type);
  }

  private final Cipher aes;
  private final Mac hmac;
  private final SecureRandom random;
  private final BasicOutputBuffer buffer = new BasicOutputBuffer(256);

  public CsfleCipher() {
    try {
      this.aes = Cipher.getInstance("AES/CBC/PKCS5Padding");
      this.hmac = Mac.getInstance("HmacSHA512");
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("this JVM lacks AES/CBC or HmacSHA512", e);
    }
    this.random = new SecureRandom();
  }

  /**
   * The subtype-6 ciphertext of {@code value} under the data key {@code keyId} (a 16-byte UUID). The caller checks
   * the type is allowed for the algorithm (see {@link FieldRule}); libmongocrypt's rules are the same.
   */
  public BsonBinary encrypt(Key key, byte[] keyId, boolean deterministic, BsonValue value) {
    if (!supports(value.getBsonType())) {
      throw new IllegalArgumentException("the Java CSFLE path does not encrypt " + value.getBsonType() + " values");
    }
    byte[] plaintext = valueBytes(value);
    byte[] aad = new byte[2 + keyId.length];
    aad[0] = deterministic ? DETERMINISTIC : RANDOM;
    System.arraycopy(keyId, 0, aad, 1, keyId.length);
    aad[aad.length - 1] = (byte) value.getBsonType().getValue();
    byte[] iv = deterministic ? deterministicIv(key, aad, plaintext) : randomIv();
    byte[] sealed = seal(key, aad, plaintext, iv);
    byte[] blob = new byte[aad.length + sealed.length];
    System.arraycopy(aad, 0, blob, 0, aad.length);
    System.arraycopy(sealed, 0, blob, aad.length, sealed.length);
    return new BsonBinary(BsonBinarySubType.ENCRYPTED, blob);
  }

  /** Decrypts an AEAD ciphertext (IV || C || tag), checking the tag first; {@code aad} may be null (key wrapping). */
  public byte[] open(Key key, byte[] aad, byte[] sealed) throws GeneralSecurityException {
    if (sealed.length < IV_LENGTH + 16 + TAG_LENGTH) {
      throw new GeneralSecurityException("ciphertext too short");
    }
    int body = sealed.length - TAG_LENGTH;
    byte[] expected = tag(key, aad, sealed, body);
    byte[] actual = java.util.Arrays.copyOfRange(sealed, body, sealed.length);
    if (!MessageDigest.isEqual(expected, actual)) {
      throw new GeneralSecurityException("HMAC validation failure");
    }
    aes.init(Cipher.DECRYPT_MODE, key.enc, new IvParameterSpec(sealed, 0, IV_LENGTH));
    return aes.doFinal(sealed, IV_LENGTH, body - IV_LENGTH);
  }

  /** IV || AES-256-CBC(plaintext) || tag, as libmongocrypt's FLE1 algorithm writes it. */
  byte[] seal(Key key, byte[] aad, byte[] plaintext, byte[] iv) {
    try {
      aes.init(Cipher.ENCRYPT_MODE, key.enc, new IvParameterSpec(iv));
      int cipherLength = aes.getOutputSize(plaintext.length);
      byte[] out = new byte[IV_LENGTH + cipherLength + TAG_LENGTH];
      System.arraycopy(iv, 0, out, 0, IV_LENGTH);
      int written = aes.doFinal(plaintext, 0, plaintext.length, out, IV_LENGTH);
      if (written != cipherLength) {
        throw new IllegalStateException("AES-CBC wrote " + written + " bytes, expected " + cipherLength);
      }
      byte[] tag = tag(key, aad, out, IV_LENGTH + cipherLength);
      System.arraycopy(tag, 0, out, IV_LENGTH + cipherLength, TAG_LENGTH);
      return out;
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("JCE encryption failed", e);
    }
  }

  private byte[] tag(Key key, byte[] aad, byte[] ivAndCipher, int length) throws GeneralSecurityException {
    hmac.init(key.mac);
    if (aad != null) {
      hmac.update(aad);
    }
    hmac.update(ivAndCipher, 0, length);
    hmac.update(bitLength(aad));
    return java.util.Arrays.copyOf(hmac.doFinal(), TAG_LENGTH);
  }

  private byte[] deterministicIv(Key key, byte[] aad, byte[] plaintext) {
    try {
      hmac.init(key.iv);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("JCE HMAC init failed", e);
    }
    hmac.update(aad);
    hmac.update(bitLength(aad));
    hmac.update(plaintext);
    return java.util.Arrays.copyOf(hmac.doFinal(), IV_LENGTH);
  }

  private byte[] randomIv() {
    byte[] iv = new byte[IV_LENGTH];
    random.nextBytes(iv);
    return iv;
  }

  private static byte[] bitLength(byte[] aad) {
    return ByteBuffer.allocate(Long.BYTES).putLong(aad == null ? 0L : 8L * aad.length).array();
  }

  /** The BSON bytes of the value alone: written as {"": value}, then the document framing is cut off. */
  private byte[] valueBytes(BsonValue value) {
    buffer.truncateToPosition(0);
    try (BsonBinaryWriter writer = new BsonBinaryWriter(buffer)) {
      writer.writeStartDocument();
      writer.writeName("");
      VALUES.encode(writer, value, EncoderContext.builder().build());
      writer.writeEndDocument();
    }
    byte[] doc = buffer.getInternalBuffer();
    int size = buffer.getPosition();
    // int32 length, type byte, empty name's NUL, ..., final NUL
    return java.util.Arrays.copyOfRange(doc, 6, size - 1);
  }
}
