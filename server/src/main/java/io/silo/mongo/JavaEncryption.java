package io.silo.mongo;

import java.util.Locale;
import org.bson.BsonBinary;
import org.bson.BsonValue;

/**
 * The fast encryption path of the bulk copy ({@code migration.encryptionPath}): chooses per data key between
 * {@link CsfleCipher} (JCE, keys unwrapped by {@link DataKeyCache}) and libmongocrypt, and holds one cipher per thread.
 * Only encryption takes this path; key management, rewrap, shredding and every decrypt stay with libmongocrypt.
 */
public final class JavaEncryption implements AutoCloseable {

  /** The values of {@code migration.encryptionPath}. */
  public enum Path {
    /** Java where the key's provider allows ({@code local}, and {@code aws} with AWS KMS set up), libmongocrypt otherwise. */
    AUTO,
    /** Java only; a key under another provider fails the batch. */
    JAVA,
    /** libmongocrypt for every value (the path before the fast one existed). */
    LIBMONGOCRYPT;

    /** Parses a setting value; the config layer has already checked it. */
    public static Path parse(String setting) {
      return valueOf(setting.trim().toUpperCase(Locale.ROOT));
    }

    public String settingValue() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /** One tenant's key bound to the calling thread's cipher, for the values of one document. */
  public record Bound(CsfleCipher cipher, DataKeyCache.Unwrapped key) {
    public BsonBinary encrypt(BsonValue value, boolean deterministic) {
      return cipher.encrypt(key.key(), key.idBytes(), deterministic, value);
    }
  }

  private final Path path;
  private final DataKeyCache keys;
  private final ThreadLocal<CsfleCipher> ciphers = ThreadLocal.withInitial(CsfleCipher::new);

  /** @param keys unused (may be null) when {@code path} is LIBMONGOCRYPT */
  public JavaEncryption(Path path, DataKeyCache keys) {
    this.path = path;
    this.keys = keys;
  }

  public Path path() {
    return path;
  }

  /**
   * The Java encryptor for this key on the calling thread, or null when libmongocrypt must encrypt. Blocking the first
   * time a key is seen in a key-expiry period (reads the key vault).
   *
   * @throws IllegalStateException under {@link Path#JAVA} for a key whose provider the Java path does not unwrap
   */
  public Bound bind(BsonBinary keyId) {
    if (path == Path.LIBMONGOCRYPT) {
      return null;
    }
    CsfleCipher cipher = ciphers.get();
    DataKeyCache.Unwrapped key = keys.get(keyId, cipher);
    if (key.inJava()) {
      return new Bound(cipher, key);
    }
    if (path == Path.JAVA) {
      throw new IllegalStateException("migration.encryptionPath is 'java', but data key " + key.id()
          + " is wrapped by KMS provider '" + key.provider() + "'; the Java path supports " + keys.javaProviders()
          + " providers only"
          + " (use 'auto' to fall back to libmongocrypt)");
    }
    return null;
  }

  /**
   * Which path the values of a data key under {@code provider} take and why, in one line for plan and status, e.g.
   * {@code libmongocrypt (data key under provider 'kmip', which the Java path does not unwrap;
   * migration.encryptionPath=auto)}. No key is read: the provider decides.
   */
  public String describe(String provider) {
    String setting = "migration.encryptionPath=" + path.settingValue();
    if (path == Path.LIBMONGOCRYPT) {
      return "libmongocrypt (" + setting + ")";
    }
    if (provider == null) {
      return "java for data keys under " + keys.javaProviders() + " providers, libmongocrypt for others ("
          + setting + ")";
    }
    String under = "data key under provider '" + provider + "'";
    if (keys.unwrapsInJava(provider)) {
      return "java (" + under + "; " + setting + ")";
    }
    if (path == Path.JAVA) {
      return "none: the copy fails (" + under + ", which the Java path does not unwrap; " + setting + ")";
    }
    return "libmongocrypt (" + under + ", which the Java path does not unwrap; " + setting + ")";
  }

  @Override
  public void close() {
    if (keys != null) {
      keys.close();
    }
  }
}
