package io.silo.bench;

import com.mongodb.client.MongoClient;
import io.silo.mongo.EncryptionPlan.Namespace;

/** Drops the benchmark's scratch collections without asking the dev server to drop what is not there. */
final class ScratchCollections {

  private ScratchCollections() {
  }

  /** Drops {@code ns} if it exists; the dev Mongo logs an ERROR with a stack trace for a drop of a missing one. */
  static void drop(MongoClient client, Namespace ns) {
    for (String name : client.getDatabase(ns.database()).listCollectionNames()) {
      if (name.equals(ns.collection())) {
        client.getDatabase(ns.database()).getCollection(ns.collection()).drop();
        return;
      }
    }
  }
}
