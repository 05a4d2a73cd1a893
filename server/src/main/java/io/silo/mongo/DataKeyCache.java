package io.silo.mongo;

import com.mongodb.client.MongoCollection;
import com.mongodb.client.model.Filters;
import java.security.GeneralSecurityException;
import java.util.Arrays;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import org.bson.BsonBinary;
import org.bson.BsonDocument;
import org.bson.BsonValue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Data keys unwrapped in Java for the fast encryption path, at most once per key-expiry period: a key whose master key
 * is a {@code local} (or {@code local:<name>}) provider is read from the key vault and decrypted with the master key
 * by the same AEAD libmongocrypt uses; a key under a provider the {@link RemoteUnwrap} handles (AWS KMS) is decrypted
 * by that KMS. Keys under any other provider are reported as such, so the caller keeps the libmongocrypt path for them.
 *
 * <p>Why an expiry: a shredded key must stop encrypting within {@code kms.keyExpirationSeconds}, exactly like
 * libmongocrypt's own DEK cache. An entry is dropped, and its key bytes zeroed, when it expires (a sweeper runs even when
 * nobody asks), on {@link #forget} and on {@link #close}. Blocking (reads the key vault): call from a worker thread.
 */
public final class DataKeyCache implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(DataKeyCache.class);

  /** An unwrapped data key and its 16-byte id; {@code key} is null when libmongocrypt must encrypt under it. */
  public record Unwrapped(UUID id, byte[] idBytes, String provider, CsfleCipher.Key key) {
    /** Whether the key was unwrapped here, so its values can be encrypted in Java. */
    public boolean inJava() {
      return key != null;
    }
  }

  /**
   * Unwraps data keys through their KMS (AWS KMS Decrypt), for the providers it {@link #handles}. Blocking. Called
   * from the copy's crypto threads while a batch holds a permit of the key's KMS budget, as libmongocrypt's own unwrap
   * would be; a throttled KMS must surface as the SDK's exception, so the batch backs off and the budget slows down.
   */
  public interface RemoteUnwrap {
    boolean handles(String provider);

    /** The key material's plaintext (96 bytes for a data key); the caller zeroes it. */
    byte[] unwrap(String provider, BsonDocument masterKey, byte[] keyMaterial);
  }

  private record Entry(Unwrapped unwrapped, byte[] raw, long expiresAt) {
    void wipe() {
      if (raw != null) {
        Arrays.fill(raw, (byte) 0);
      }
    }
  }

  private final MongoCollection<BsonDocument> vault;
  private final Map<String, Map<String, Object>> kmsProviders;
  private final long ttlNanos;
  private final LongSupplier nanoClock;
  private final RemoteUnwrap remote;
  private final ConcurrentHashMap<UUID, Entry> entries = new ConcurrentHashMap<>();
  private final java.util.Set<UUID> announced = ConcurrentHashMap.newKeySet();
  private final ScheduledExecutorService sweeper;

  /**
   * @param vault the key vault collection
   * @param kmsProviders the providers as handed to the driver; only {@code local*} entries' {@code key} is read
   * @param ttlSeconds {@code kms.keyExpirationSeconds}
   */
  public DataKeyCache(MongoCollection<BsonDocument> vault, Map<String, Map<String, Object>> kmsProviders,
                      long ttlSeconds) {
    this(vault, kmsProviders, null, ttlSeconds);
  }

  /** @param remote unwraps keys under KMS providers (AWS); null keeps all of those on libmongocrypt */
  public DataKeyCache(MongoCollection<BsonDocument> vault, Map<String, Map<String, Object>> kmsProviders,
                      RemoteUnwrap remote, long ttlSeconds) {
    this(vault, kmsProviders, remote, TimeUnit.SECONDS.toNanos(ttlSeconds), System::nanoTime, true);
  }

  DataKeyCache(MongoCollection<BsonDocument> vault, Map<String, Map<String, Object>> kmsProviders, long ttlNanos,
               LongSupplier nanoClock, boolean sweep) {
    this(vault, kmsProviders, null, ttlNanos, nanoClock, sweep);
  }

  DataKeyCache(MongoCollection<BsonDocument> vault, Map<String, Map<String, Object>> kmsProviders, RemoteUnwrap remote,
               long ttlNanos, LongSupplier nanoClock, boolean sweep) {
    this.vault = vault;
    this.kmsProviders = kmsProviders;
    this.remote = remote;
    this.ttlNanos = ttlNanos;
    this.nanoClock = nanoClock;
    if (sweep) {
      this.sweeper = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "silo-dek-sweeper");
        t.setDaemon(true);
        return t;
      });
      long period = Math.max(TimeUnit.MILLISECONDS.toNanos(200), Math.min(ttlNanos / 4, TimeUnit.SECONDS.toNanos(1)));
      sweeper.scheduleAtFixedRate(this::sweep, period, period, TimeUnit.NANOSECONDS);
    } else {
      this.sweeper = null;
    }
  }

  /**
   * The key with this id, unwrapped now if it is not cached or its period expired.
   *
   * @param cipher the calling thread's cipher, used to unwrap
   * @throws IllegalStateException if the key is not in the vault (e.g. shredded) or does not unwrap
   */
  public Unwrapped get(BsonBinary keyId, CsfleCipher cipher) {
    UUID id = keyId.asUuid();
    Entry entry = entries.get(id);
    long now = nanoClock.getAsLong();
    if (entry != null && now - entry.expiresAt < 0) {
      return entry.unwrapped;
    }
    Entry fresh = entries.compute(id, (k, old) -> {
      if (old != null && nanoClock.getAsLong() - old.expiresAt < 0) {
        return old; // another thread refreshed it meanwhile
      }
      if (old != null) {
        old.wipe();
      }
      return load(id, keyId, cipher);
    });
    return fresh.unwrapped;
  }

  /** The providers whose data keys this cache unwraps, in words (for plan and status lines). */
  String javaProviders() {
    return remote == null ? "local" : "local and aws";
  }

  /** Whether a data key under {@code provider} is unwrapped here (else libmongocrypt encrypts its values). */
  public boolean unwrapsInJava(String provider) {
    return isLocal(provider) || remote != null && remote.handles(provider);
  }

  private static boolean isLocal(String provider) {
    return provider.equals("local") || provider.startsWith("local:");
  }

  /** Drops the key now (e.g. it was just shredded); the next {@link #get} reads the vault again. */
  public void forget(UUID id) {
    Entry gone = entries.remove(id);
    if (gone != null) {
      gone.wipe();
    }
  }

  /** Drops every expired entry; runs on the sweeper. */
  void sweep() {
    long now = nanoClock.getAsLong();
    entries.forEach((id, e) -> {
      if (now - e.expiresAt >= 0 && entries.remove(id, e)) {
        e.wipe();
      }
    });
  }

  int size() {
    return entries.size();
  }

  private Entry load(UUID id, BsonBinary keyId, CsfleCipher cipher) {
    byte[] idBytes = keyId.getData();
    BsonDocument doc = vault.find(Filters.eq("_id", keyId)).first();
    if (doc == null) {
      throw new IllegalStateException("the tenant's data key " + id
          + " is no longer in the key vault (shredded or deleted?)");
    }
    BsonValue provider = doc.isDocument("masterKey") ? doc.getDocument("masterKey").get("provider") : null;
    String name = provider != null && provider.isString() ? provider.asString().getValue() : "";
    long expiresAt = nanoClock.getAsLong() + ttlNanos;
    if (!unwrapsInJava(name)) {
      announce(id, name, "libmongocrypt");
      return new Entry(new Unwrapped(id, idBytes.clone(), name, null), null, expiresAt);
    }
    if (!doc.isBinary("keyMaterial")) {
      throw new IllegalStateException("data key " + id + " has no binary keyMaterial");
    }
    byte[] material = doc.getBinary("keyMaterial").getData();
    byte[] raw = isLocal(name) ? unwrapLocal(id, name, material, cipher)
        : remote.unwrap(name, doc.getDocument("masterKey"), material);
    if (raw.length != CsfleCipher.KEY_LENGTH) {
      Arrays.fill(raw, (byte) 0);
      throw new IllegalStateException("data key " + id + " unwraps to " + raw.length + " bytes, not "
          + CsfleCipher.KEY_LENGTH);
    }
    announce(id, name, "java");
    return new Entry(new Unwrapped(id, idBytes.clone(), name, new CsfleCipher.Key(raw)), raw, expiresAt);
  }

  private byte[] unwrapLocal(UUID id, String name, byte[] material, CsfleCipher cipher) {
    Map<String, Object> settings = kmsProviders.get(name);
    Object master = settings == null ? null : settings.get("key");
    if (!(master instanceof byte[] masterBytes) || masterBytes.length != CsfleCipher.KEY_LENGTH) {
      throw new IllegalStateException("data key " + id + " is wrapped by KMS provider '" + name
          + "', which is not configured with a " + CsfleCipher.KEY_LENGTH + "-byte key on this server");
    }
    try {
      return cipher.open(new CsfleCipher.Key(masterBytes), null, material);
    } catch (GeneralSecurityException e) {
      // No detail: it would only say the tag did not match, i.e. a wrong master key or damaged key material.
      throw new IllegalStateException("data key " + id + " does not unwrap with the '" + name
          + "' master key (wrong master key or damaged keyMaterial)");
    }
  }

  private void announce(UUID id, String provider, String path) {
    if (announced.add(id)) {
      LOG.info("encryption path for data key {} (provider '{}'): {}", id, provider, path);
    }
  }

  @Override
  public void close() {
    if (sweeper != null) {
      sweeper.shutdownNow();
    }
    entries.keySet().forEach(this::forget);
  }
}
