package io.silo.api;

import com.mongodb.client.MongoClient;
import com.mongodb.client.MongoDatabase;
import io.silo.TestServer;
import io.silo.s3.BucketContents;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.bson.BsonDocument;
import software.amazon.awssdk.services.s3.S3AsyncClient;
import software.amazon.awssdk.services.s3.model.Bucket;
import software.amazon.awssdk.services.s3.model.ListObjectVersionsResponse;

/**
 * Fingerprints of everything a rejected request must leave alone: PostgreSQL row counts, MongoDB contents and every
 * object version in S3.
 */
final class StoreDigest {

  private StoreDigest() {
  }

  /** Row counts of every table in Silo's schema and the application's but the audit trail, in one query. */
  static String postgres(TestServer server) throws Exception {
    return String.valueOf(server.queryOne("SELECT string_agg(table_schema || '.' || table_name || '=' || "
        + "(xpath('/row/c/text()', query_to_xml('SELECT count(*) AS c FROM ' || quote_ident(table_schema) || '.' "
        + "|| quote_ident(table_name), false, true, '')))[1]::text, ',' ORDER BY table_schema, table_name) "
        + "FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
        + "AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        // The audit trail records every refused request: it is meant to grow while nothing else changes.
        + " AND table_name <> 'audit_log'"));
  }

  /** Every bucket, and in each every version and delete marker with its key, version id and ETag, in list order. */
  static String s3(S3AsyncClient s3) throws Exception {
    StringBuilder out = new StringBuilder();
    for (Bucket bucket : s3.listBuckets().get(60, TimeUnit.SECONDS).buckets()) {
      out.append(bucket.name()).append('\n');
      for (ListObjectVersionsResponse page : BucketContents.versionPages(s3, bucket.name())) {
        page.versions().forEach(o -> out.append(o.key()).append(' ').append(o.versionId()).append(' ')
            .append(o.eTag()).append('\n'));
        page.deleteMarkers().forEach(o -> out.append(o.key()).append(' ').append(o.versionId()).append(" deleted\n"));
      }
    }
    return out.toString();
  }

  /** A SHA-256 over every document of every collection of every database (the key vault included), in _id order. */
  static String mongo(MongoClient mongo) throws Exception {
    MessageDigest sha = MessageDigest.getInstance("SHA-256");
    List<String> databases = new ArrayList<>();
    mongo.listDatabaseNames().into(databases);
    databases.sort(null);
    for (String name : databases) {
      MongoDatabase db = mongo.getDatabase(name);
      List<String> collections = new ArrayList<>();
      db.listCollectionNames().into(collections);
      collections.sort(null);
      for (String collection : collections) {
        sha.update((name + "." + collection + "\n").getBytes(StandardCharsets.UTF_8));
        for (BsonDocument doc : db.getCollection(collection, BsonDocument.class).find()
            .sort(new BsonDocument("_id", new org.bson.BsonInt32(1)))) {
          sha.update(doc.toJson().getBytes(StandardCharsets.UTF_8));
        }
      }
    }
    return HexFormat.of().formatHex(sha.digest());
  }
}
