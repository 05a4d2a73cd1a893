package io.silo.keys;

import static org.assertj.core.api.Assertions.assertThat;

import com.mongodb.client.MongoClient;
import com.mongodb.client.MongoClients;
import com.mongodb.client.MongoCollection;
import com.mongodb.client.model.Filters;
import com.mongodb.client.model.IndexOptions;
import com.mongodb.client.model.Indexes;
import io.silo.TestServer;
import io.silo.api.v1.CreateTenantKeyRequest;
import io.silo.api.v1.KeyServiceGrpc;
import io.silo.api.v1.RegisterTenantRequest;
import io.silo.api.v1.TenantServiceGrpc;
import io.silo.dev.mongo.DevMongoServer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.bson.Document;
import org.junit.jupiter.api.Test;

/** Start-up accepts any unique index on keyAltNames that the vault already has, and creates one only when none exists. */
class KeyVaultIndexTest {

  @Test
  void startUpKeepsAnExistingDifferentlyNamedUniquePartialIndexAndAddsNoSecondOne() throws Exception {
    try (DevMongoServer mongo = DevMongoServer.start(null, "127.0.0.1", 0);
         MongoClient client = MongoClients.create(mongo.connectionString())) {
      MongoCollection<Document> vault = client.getDatabase("encryption").getCollection("__keyVault");
      // The index as MongoDB's CSFLE documentation creates it.
      vault.createIndex(Indexes.ascending("keyAltNames"), new IndexOptions().unique(true).name("keyAltNames_1")
          .partialFilterExpression(Filters.exists("keyAltNames")));

      try (TestServer server = TestServer.start(Map.of("mongo.uri", mongo.connectionString(),
          "kms.local.keyBase64", TestServer.LOCAL_KEY_BASE64))) {
        assertThat(altNameIndexes(vault)).containsExactly("keyAltNames_1");
        // The existing index is the one that keeps concurrent creates to one key.
        TenantServiceGrpc.newBlockingStub(server.channel).registerTenant(RegisterTenantRequest.newBuilder()
            .setSlug("partial-co").setDisplayName("Partial Co").build());
        KeyServiceGrpc.KeyServiceBlockingStub keys = KeyServiceGrpc.newBlockingStub(server.channel);
        keys.createTenantKey(CreateTenantKeyRequest.newBuilder().setTenant("partial-co").build());
        keys.createTenantKey(CreateTenantKeyRequest.newBuilder().setTenant("partial-co").build());
        assertThat(vault.countDocuments(Filters.eq("keyAltNames", "tenant-partial-co"))).isEqualTo(1);
      }
      assertThat(altNameIndexes(vault)).containsExactly("keyAltNames_1");
    }
  }

  @Test
  void startUpCreatesAUniqueSparseIndexWhenTheVaultHasNone() throws Exception {
    try (DevMongoServer mongo = DevMongoServer.start(null, "127.0.0.1", 0);
         MongoClient client = MongoClients.create(mongo.connectionString())) {
      MongoCollection<Document> vault = client.getDatabase("encryption").getCollection("__keyVault");
      // A non-unique index on keyAltNames does not count: lookups are fast, but duplicates would be possible.
      vault.createIndex(Indexes.compoundIndex(Indexes.ascending("keyAltNames"), Indexes.ascending("status")),
          new IndexOptions().name("by_alt_and_status"));
      try (TestServer ignored = TestServer.start(Map.of("mongo.uri", mongo.connectionString(),
          "kms.local.keyBase64", TestServer.LOCAL_KEY_BASE64))) {
        assertThat(altNameIndexes(vault)).containsExactly("silo_keyAltNames_unique");
        Document created = vault.listIndexes().into(new ArrayList<>()).stream()
            .filter(i -> i.getString("name").equals("silo_keyAltNames_unique")).findFirst().orElseThrow();
        assertThat(created.get("unique")).isEqualTo(true);
        assertThat(created.get("sparse")).isEqualTo(true);
      }
    }
  }

  /** Names of the indexes whose key is exactly keyAltNames. */
  private static List<String> altNameIndexes(MongoCollection<Document> vault) {
    List<String> names = new ArrayList<>();
    for (Document index : vault.listIndexes()) {
      Document key = index.get("key", Document.class);
      if (key.size() == 1 && key.containsKey("keyAltNames")) {
        names.add(index.getString("name"));
      }
    }
    return names;
  }
}
