package io.silo.jobs;

import static org.assertj.core.api.Assertions.assertThat;

import com.mongodb.ClientEncryptionSettings;
import com.mongodb.client.MongoClient;
import com.mongodb.client.MongoCollection;
import com.mongodb.client.model.Filters;
import com.mongodb.client.model.Updates;
import com.mongodb.client.vault.ClientEncryption;
import com.mongodb.client.vault.ClientEncryptions;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.StatusRuntimeException;
import io.silo.SiloServer;
import io.silo.TestPostgres;
import io.silo.TestServer;
import io.silo.api.v1.CancelMigrationRequest;
import io.silo.api.v1.GetMigrationRequest;
import io.silo.api.v1.KeyServiceGrpc;
import io.silo.api.v1.ListMigrationsRequest;
import io.silo.api.v1.MasterKey;
import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationServiceGrpc;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.PauseMigrationRequest;
import io.silo.api.v1.PurgeSourceRequest;
import io.silo.api.v1.RegisterTenantRequest;
import io.silo.api.v1.ResumeMigrationRequest;
import io.silo.api.v1.RollbackMigrationRequest;
import io.silo.api.v1.RotateTenantKeyRequest;
import io.silo.api.v1.ShredTenantKeyRequest;
import io.silo.api.v1.StartMigrationRequest;
import io.silo.api.v1.TenantServiceGrpc;
import io.silo.api.v1.VerifyTenantRequest;
import io.silo.config.SiloConfig;
import io.silo.dev.mongo.DevMongoServer;
import io.silo.keys.LocalMasterKeyFile;
import io.silo.mongo.MongoClientFactory;
import io.vertx.core.Vertx;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.bson.BsonBinary;
import org.bson.BsonDocument;
import org.bson.BsonValue;
import org.bson.RawBsonDocument;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * A stateful property test of the data-safety promise: seeded random walks of application writes and operator verbs
 * (migrate, re-sync, verify, pause, resume, cancel, rollback, purge, key rotation, shredding, a Silo restart) over
 * two tenants, with the invariants checked after every step:
 * <ul>
 *   <li>every document's latest value is recoverable, from the plaintext source or by decrypting the target;</li>
 *   <li>every ciphertext in a tenant's target is under that tenant's own key, so no other tenant's key reads it;</li>
 *   <li>a shredded tenant's target is undecryptable (its key is gone from the vault);</li>
 *   <li>a refused operation changed nothing (MongoDB digests of source, target and key vault, and Silo's rows).</li>
 * </ul>
 * {@code -Dsilo.walk.sequences=N} (default 200) and {@code -Dsilo.walk.seed=S} choose the walks. A failure prints its
 * seed and the sequence shrunk to the steps that still fail.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DataSafetyWalkTest {

  private static final int SEQUENCES = Integer.getInteger("silo.walk.sequences", 200);
  private static final int STEPS = Integer.getInteger("silo.walk.steps", 7);
  private static final long SEED = Long.getLong("silo.walk.seed", System.currentTimeMillis());
  private static final String SOURCE = "legacy.patients";
  private static final String TARGET = "medical.patients";

  @TempDir
  static Path keyDir;

  private DevMongoServer mongoServer;
  private MongoClient mongo;
  private Map<String, Object> settings;
  private Vertx vertx;
  private SiloServer silo;
  private ManagedChannel channel;
  private ClientEncryption decryptor;
  private int run;
  /** Outcomes per verb over the whole run, printed at the end so a reader can see what the walks exercised. */
  private final Map<String, Integer> outcomes = new TreeMap<>();

  /** The verbs of a walk; weights favour the ones that change data. */
  enum Kind {
    INSERT(3), UPDATE(4), DELETE(2), MIGRATE(6), START_AND_PAUSE(2), RESUME(2), CANCEL(1), VERIFY(2),
    ROLLBACK(2), PURGE(4), ROTATE(1), SHRED(1), RESTART(1);

    final int weight;

    Kind(int weight) {
      this.weight = weight;
    }
  }

  /** One step: a verb, the tenant it acts on (0 or 1) and a number that picks documents deterministically. */
  record Step(Kind kind, int tenant, int pick) {
    @Override
    public String toString() {
      return kind + "(t" + tenant + (kind == Kind.UPDATE || kind == Kind.DELETE ? ", #" + pick : "") + ")";
    }
  }

  @BeforeAll
  void start() throws Exception {
    mongoServer = DevMongoServer.start(null, "127.0.0.1", 0);
    mongo = MongoClientFactory.sync(mongoServer.connectionString());
    byte[] named = LocalMasterKeyFile.loadOrCreate(keyDir.resolve("mk-2026.bin")).keyBytes();
    settings = new HashMap<>(TestPostgres.freshDatabase());
    settings.put("mongo.uri", mongoServer.connectionString());
    settings.put("kms.local.keyBase64", TestServer.LOCAL_KEY_BASE64);
    settings.put("kms.local.named", List.of("2026=" + keyDir.resolve("mk-2026.bin")));
    settings.put("kms.keyExpirationSeconds", 1);
    settings.put("grpc.host", "127.0.0.1");
    settings.put("grpc.port", 0);
    settings.put("auth.disabled", true);
    settings.put("grpc.shutdownGraceSeconds", 1);
    settings.put("jobs.pollMillis", 50);
    settings.put("migration.batchSize", 4);
    startSilo();
    decryptor = ClientEncryptions.create(ClientEncryptionSettings.builder()
        .keyVaultMongoClientSettings(MongoClientFactory.settings(mongoServer.connectionString()))
        .keyVaultNamespace("encryption.__keyVault")
        .kmsProviders(Map.of("local", Map.of("key", Base64.getDecoder().decode(TestServer.LOCAL_KEY_BASE64)),
            "local:2026", Map.of("key", named)))
        .keyExpiration(1L, TimeUnit.MILLISECONDS)
        .build());
  }

  private void startSilo() throws Exception {
    vertx = Vertx.vertx();
    silo = SiloServer.start(vertx, SiloConfig.of(settings)).toCompletionStage().toCompletableFuture()
        .get(60, TimeUnit.SECONDS);
    channel = ManagedChannelBuilder.forAddress("127.0.0.1", silo.port()).usePlaintext().build();
  }

  private void stopSilo() throws Exception {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    silo.shutdown().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  @AfterAll
  void stop() throws Exception {
    if (decryptor != null) {
      decryptor.close();
    }
    if (silo != null) {
      stopSilo();
    }
    if (mongo != null) {
      mongo.close();
    }
    if (mongoServer != null) {
      mongoServer.close();
    }
  }

  @Test
  void noSequenceOfOperationsLosesOrExposesATenantsData() throws Exception {
    System.out.println("data-safety walk: " + SEQUENCES + " sequences of " + STEPS + " steps, -Dsilo.walk.seed="
        + SEED);
    for (int i = 0; i < SEQUENCES; i++) {
      long seed = SEED + i;
      List<Step> steps = generate(new Random(seed));
      String failure = replay(steps);
      if (failure != null) {
        List<Step> shrunk = shrink(steps);
        throw new AssertionError("data-safety walk failed: -Dsilo.walk.seed=" + seed + " -Dsilo.walk.sequences=1\n"
            + "  sequence: " + steps + "\n  shrunk:   " + shrunk + "\n  failure:  " + failure);
      }
    }
    System.out.println("data-safety walk outcomes: " + outcomes);
    // The walks must have reached the irreversible verbs, or they proved nothing about them.
    assertThat(outcomes.getOrDefault("PURGE done", 0)).isPositive();
    assertThat(outcomes.getOrDefault("ROLLBACK done", 0)).isPositive();
  }

  private static List<Step> generate(Random random) {
    int total = 0;
    for (Kind k : Kind.values()) {
      total += k.weight;
    }
    List<Step> steps = new ArrayList<>();
    for (int i = 0; i < STEPS; i++) {
      int roll = random.nextInt(total);
      Kind kind = Kind.INSERT;
      for (Kind k : Kind.values()) {
        if (roll < k.weight) {
          kind = k;
          break;
        }
        roll -= k.weight;
      }
      // Mostly one tenant, so verbs meet the states they guard; the other tenant checks isolation.
      steps.add(new Step(kind, random.nextInt(4) == 0 ? 1 : 0, random.nextInt(1000)));
    }
    return steps;
  }

  /** Removes steps one at a time while the sequence still fails; bounded so a failure is reported promptly. */
  private List<Step> shrink(List<Step> failing) throws Exception {
    List<Step> current = new ArrayList<>(failing);
    long deadline = System.nanoTime() + 120_000_000_000L;
    boolean progress = true;
    while (progress && System.nanoTime() < deadline) {
      progress = false;
      for (int i = 0; i < current.size() && System.nanoTime() < deadline; i++) {
        List<Step> candidate = new ArrayList<>(current);
        candidate.remove(i);
        if (replay(candidate) != null) {
          current = candidate;
          progress = true;
          break;
        }
      }
    }
    return current;
  }

  /** The application's own view of one tenant: the latest value it wrote of every document it has not deleted. */
  private final class World {
    final String[] tenants;
    final List<Map<String, BsonDocument>> truth = List.of(new TreeMap<>(), new TreeMap<>());
    final boolean[] shredded = new boolean[2];
    int next;

    World(int run) {
      tenants = new String[] {"walk" + run + "-a", "walk" + run + "-b"};
    }
  }

  /** Runs a sequence on fresh tenants; returns why it broke an invariant, or null. */
  private String replay(List<Step> steps) throws Exception {
    World world = new World(++run);
    for (int t = 0; t < 2; t++) {
      TenantServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS).registerTenant(
          RegisterTenantRequest.newBuilder().setSlug(world.tenants[t]).setDisplayName("Walk").build());
      for (int i = 0; i < 3; i++) {
        insert(world, t);
      }
    }
    List<Step> done = new ArrayList<>();
    for (Step step : steps) {
      done.add(step);
      String snapshot = quiet(world) ? digest(world) : null;
      boolean refused;
      try {
        refused = !apply(world, step);
      } catch (StatusRuntimeException e) {
        refused = true;
      }
      outcomes.merge(step.kind() + (refused ? " refused" : " done"), 1, Integer::sum);
      if (refused && snapshot != null && quiet(world) && !snapshot.equals(digest(world))) {
        return "after " + done + ": the refused " + step + " changed data";
      }
      String broken = checkInvariants(world);
      if (broken != null) {
        return "after " + done + ": " + broken;
      }
    }
    return null;
  }

  private MigrationServiceGrpc.MigrationServiceBlockingStub api() {
    return MigrationServiceGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS);
  }

  /** Applies a step; false when the step was a no-op or refused without an exception. */
  private boolean apply(World world, Step step) throws Exception {
    String tenant = world.tenants[step.tenant()];
    MongoCollection<BsonDocument> source = MigrationFixture.collection(mongo, SOURCE);
    List<String> ids = new ArrayList<>();
    source.find(Filters.eq("tenantId", tenant)).forEach(d -> ids.add(d.getString("_id").getValue()));
    ids.sort(null);
    switch (step.kind()) {
      case INSERT -> insert(world, step.tenant());
      case UPDATE -> {
        if (ids.isEmpty()) {
          return false;
        }
        String id = ids.get(step.pick() % ids.size());
        var update = step.pick() % 2 == 0 ? Updates.set("diagnosis", "changed-" + step.pick())
            : Updates.set("visits", step.pick());
        source.updateOne(Filters.eq("_id", id), update);
        world.truth.get(step.tenant()).put(id, source.find(Filters.eq("_id", id)).first());
      }
      case DELETE -> {
        if (ids.isEmpty()) {
          return false;
        }
        String id = ids.get(step.pick() % ids.size());
        source.deleteOne(Filters.eq("_id", id));
        world.truth.get(step.tenant()).remove(id);
      }
      case MIGRATE -> awaitSettled(startMigration(tenant));
      case START_AND_PAUSE -> {
        String id = startMigration(tenant);
        try {
          api().pauseMigration(PauseMigrationRequest.newBuilder().setMigrationId(id).build());
        } catch (StatusRuntimeException e) {
          // Already finished: nothing to pause.
        }
        awaitSettled(id);
      }
      case RESUME -> {
        Migration latest = latest(tenant);
        if (latest == null) {
          return false;
        }
        api().resumeMigration(ResumeMigrationRequest.newBuilder().setMigrationId(latest.getId()).build());
        awaitSettled(latest.getId());
      }
      case CANCEL -> {
        Migration latest = latest(tenant);
        if (latest == null) {
          return false;
        }
        api().cancelMigration(CancelMigrationRequest.newBuilder().setMigrationId(latest.getId()).build());
        awaitSettled(latest.getId());
      }
      case VERIFY -> api().verifyTenant(VerifyTenantRequest.newBuilder().setTenant(tenant).build())
          .forEachRemaining(r -> { });
      case ROLLBACK -> api().rollbackMigration(RollbackMigrationRequest.newBuilder().setTenant(tenant).build());
      case PURGE -> api().purgeSource(PurgeSourceRequest.newBuilder().setTenant(tenant).setConfirm(tenant).build());
      case ROTATE -> KeyServiceGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS).rotateTenantKey(
          RotateTenantKeyRequest.newBuilder().setTenant(tenant).setNewMasterKey(MasterKey.newBuilder()
              .setProvider(step.pick() % 2 == 0 ? "local:2026" : "local")).build());
      case SHRED -> {
        KeyServiceGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS).shredTenantKey(
            ShredTenantKeyRequest.newBuilder().setTenant(tenant).setConfirm(tenant).build());
        world.shredded[step.tenant()] = true;
      }
      case RESTART -> {
        stopSilo();
        startSilo();
        for (String t : world.tenants) {
          Migration m = latest(t);
          if (m != null) {
            awaitSettled(m.getId());
          }
        }
      }
    }
    return true;
  }

  private void insert(World world, int t) {
    BsonDocument doc = MigrationFixture.patient(world.tenants[t], 100 + world.next++);
    MigrationFixture.collection(mongo, SOURCE).insertOne(doc);
    world.truth.get(t).put(doc.getString("_id").getValue(), doc);
  }

  private String startMigration(String tenant) {
    return api().startMigration(StartMigrationRequest.newBuilder().addTenants(tenant).build()).getMigrations(0)
        .getId();
  }

  private Migration latest(String tenant) {
    List<Migration> list = api().listMigrations(ListMigrationsRequest.newBuilder().setTenant(tenant).setPageSize(1)
        .build()).getMigrationsList();
    return list.isEmpty() ? null : list.get(0);
  }

  /** Waits until the migration is no longer PLANNED or RUNNING. */
  private void awaitSettled(String id) throws InterruptedException {
    long deadline = System.nanoTime() + 120_000_000_000L;
    while (System.nanoTime() < deadline) {
      Migration m = api().getMigration(GetMigrationRequest.newBuilder().setMigrationId(id).build()).getMigration();
      if (m.getState() != MigrationState.MIGRATION_STATE_RUNNING
          && m.getState() != MigrationState.MIGRATION_STATE_PLANNED) {
        return;
      }
      Thread.sleep(20);
    }
    throw new AssertionError("migration " + id + " did not settle");
  }

  /** True when neither tenant has a migration that could still write. */
  private boolean quiet(World world) {
    for (String t : world.tenants) {
      Migration m = latest(t);
      if (m != null && (m.getState() == MigrationState.MIGRATION_STATE_RUNNING
          || m.getState() == MigrationState.MIGRATION_STATE_PLANNED)) {
        return false;
      }
    }
    return true;
  }

  /** Digest of the tenants' source and target documents, their keys and Silo's rows about them. */
  private String digest(World world) throws Exception {
    MessageDigest sha = MessageDigest.getInstance("SHA-256");
    for (String t : world.tenants) {
      for (String ns : List.of(SOURCE, TARGET)) {
        Map<String, ByteBuffer> raw = new TreeMap<>();
        String[] parts = ns.split("\\.");
        mongo.getDatabase(parts[0]).getCollection(parts[1], RawBsonDocument.class).find(Filters.eq("tenantId", t))
            .forEach(d -> raw.put(d.get("_id").toString(), d.getByteBuffer().asNIO()));
        raw.forEach((k, v) -> {
          sha.update(k.getBytes(java.nio.charset.StandardCharsets.UTF_8));
          sha.update(v);
        });
      }
      mongo.getDatabase("encryption").getCollection("__keyVault", RawBsonDocument.class)
          .find(Filters.eq("keyAltNames", "tenant-" + t)).forEach(d -> sha.update(d.getByteBuffer().asNIO()));
      sha.update(String.valueOf(TestPostgres.queryOne(settings, "SELECT count(*) || '/' || coalesce(string_agg(state"
          + " || phase, ',' ORDER BY id), '') FROM silo.migrations WHERE tenant_slug = '" + t + "'"))
          .getBytes(java.nio.charset.StandardCharsets.UTF_8));
      sha.update(String.valueOf(TestPostgres.queryOne(settings, "SELECT count(*) FROM silo.data_audit WHERE"
          + " tenant_slug = '" + t + "' AND outcome <> 'STARTED'")).getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }
    return Base64.getEncoder().encodeToString(sha.digest());
  }

  private UUID keyOf(String tenant) {
    BsonDocument key = mongo.getDatabase("encryption").getCollection("__keyVault", BsonDocument.class)
        .find(Filters.eq("keyAltNames", "tenant-" + tenant)).first();
    return key == null ? null : key.getBinary("_id").asUuid();
  }

  private static UUID keyIdOf(BsonBinary ciphertext) {
    ByteBuffer b = ByteBuffer.wrap(ciphertext.getData(), 1, 16);
    return new UUID(b.getLong(), b.getLong());
  }

  private String checkInvariants(World world) {
    MongoCollection<BsonDocument> source = MigrationFixture.collection(mongo, SOURCE);
    MongoCollection<BsonDocument> target = MigrationFixture.collection(mongo, TARGET);
    Set<UUID> vault = new HashSet<>();
    mongo.getDatabase("encryption").getCollection("__keyVault", BsonDocument.class).find()
        .forEach(k -> vault.add(k.getBinary("_id").asUuid()));
    for (int t = 0; t < 2; t++) {
      String tenant = world.tenants[t];
      UUID key = keyOf(tenant);
      Map<String, BsonDocument> targets = new HashMap<>();
      for (BsonDocument doc : target.find(Filters.eq("tenantId", tenant))) {
        targets.put(doc.getString("_id").getValue(), doc);
        for (Map.Entry<String, BsonValue> field : doc.entrySet()) {
          if (field.getValue().isBinary() && field.getValue().asBinary().getType() == 6) {
            UUID used = keyIdOf(field.getValue().asBinary());
            if (world.shredded[t] && vault.contains(used)) {
              return "tenant " + tenant + " was shredded but its target field " + field.getKey()
                  + " is under key " + used + ", which is still in the vault";
            }
            if (!world.shredded[t] && !used.equals(key)) {
              return "target document " + doc.get("_id") + " of " + tenant + " has " + field.getKey()
                  + " under key " + used + ", not the tenant's key " + key;
            }
          }
        }
      }
      for (Map.Entry<String, BsonDocument> expected : world.truth.get(t).entrySet()) {
        BsonDocument inSource = source.find(Filters.eq("_id", expected.getKey())).first();
        if (expected.getValue().equals(inSource)) {
          continue;
        }
        if (world.shredded[t]) {
          continue; // destroyed on purpose: crypto-shredding is the one sanctioned loss, confirmed by the operator
        }
        BsonDocument copy = targets.get(expected.getKey());
        if (copy == null) {
          return "document " + expected.getKey() + " of " + tenant + " is lost: not in the source"
              + (inSource == null ? "" : " as last written") + " and not in the target";
        }
        BsonDocument plain = new BsonDocument();
        try {
          for (Map.Entry<String, BsonValue> field : copy.entrySet()) {
            BsonValue v = field.getValue();
            plain.put(field.getKey(), v.isBinary() && v.asBinary().getType() == 6 ? decryptor.decrypt(v.asBinary())
                : v);
          }
        } catch (RuntimeException e) {
          return "document " + expected.getKey() + " of " + tenant + " is only in the target and does not decrypt: "
              + e.getMessage();
        }
        if (!plain.equals(expected.getValue())) {
          return "document " + expected.getKey() + " of " + tenant + " is lost: the source no longer has its latest"
              + " value and the target decrypts to an older one";
        }
      }
    }
    return null;
  }
}
