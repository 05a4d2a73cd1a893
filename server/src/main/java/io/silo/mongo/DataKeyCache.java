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
 * Data keys unwrapped in Java for the fast encryption path: a key whose master key is a {@code local} (or
 * {@code local:<name>}) provider is read from the key vault and decrypted with the master key by the same AEAD
 * libmongocrypt uses, at most once per key-expiry period. Keys under any other provider are reported as such, so the
 * caller keeps the libmongocrypt path for them.
 *
 * <p>Why an expiry: a shredded key must stop encrypting within {@code kms.keyExpirationSeconds}, exactly like
 * libmongocrypt's own DEK cache. An entry is dropped, and its key bytes zeroed, when it expires (a sweeper runs even when
 * nobody asks), on {@link #forget} and on {@link #close}. Blocking (reads the key vault): call from a worker thread.
 */
public final class DataKeyCache implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(DataKeyCache.class);

  /** An unwrapped data key and its 16-byte id; {@code key} is null when the key's provider is not {@code local}. */
  public record Unwrapped(UUID id, byte[] idBytes, String provider, CsfleCipher.Key key) {
    public boolean local() {
      return key != null;
    }
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
    this(vault, kmsProviders, TimeUnit.SECONDS.toNanos(ttlSeconds), System::nanoTime, true);
  }

  DataKeyCache(MongoCollection<BsonDocument> vault, Map<String, Map<String, Object>> kmsProviders, long ttlNanos,
               LongSupplier nanoClock, boolean sweep) {
    this.vault = vault;
    this.kmsProviders = kmsProviders;
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
    if (!(name.equals("local") || name.startsWith("local:"))) {
      announce(id, name, "libmongocrypt");
      return new Entry(new Unwrapped(id, idBytes.clone(), name, null), null, expiresAt);
    }
    Map<String, Object> settings = kmsProviders.get(name);
    Object master = settings == null ? null : settings.get("key");
    if (!(master instanceof byte[] masterBytes) || masterBytes.length != CsfleCipher.KEY_LENGTH) {
      throw new IllegalStateException("data key " + id + " is wrapped by KMS provider '" + name
          + "', which is not configured with a " + CsfleCipher.KEY_LENGTH + "-byte key on this server");
    }
    if (!doc.isBinary("keyMaterial")) {
      throw new IllegalStateException("data key " + id + " has no binary keyMaterial");
    }
    byte[] raw;
    try {
      raw = cipher.open(new CsfleCipher.Key(masterBytes), null, doc.getBinary("keyMaterial").getData());
    } catch (GeneralSecurityException e) {
      // No detail: it would only say the tag did not match, i.e. a wrong master key or damaged key material.
      throw new IllegalStateException("data key " + id + " does not unwrap with the '" + name
          + "' master key (wrong master key or damaged keyMaterial)");
    }
    if (raw.length != CsfleCipher.KEY_LENGTH) {
      Arrays.fill(raw, (byte) 0);
      throw new IllegalStateException("data key " + id + " unwraps to " + raw.length + " bytes, not "
          + CsfleCipher.KEY_LENGTH);
    }
    announce(id, name, "java");
    return new Entry(new Unwrapped(id, idBytes.clone(), name, new CsfleCipher.Key(raw)), raw, expiresAt);
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
