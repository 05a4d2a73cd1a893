package io.silo.mongo;

import org.bson.BsonDocument;
import org.bson.BsonValue;
import org.bson.json.JsonMode;
import org.bson.json.JsonWriterSettings;

/**
 * How a source document's {@code _id} is named in reports, findings and checkpoints. An _id is an identifier, not
 * one of the planned (sensitive) fields, so it may be shown.
 */
public final class SourceIds {

  private static final JsonWriterSettings CANONICAL = JsonWriterSettings.builder().outputMode(JsonMode.EXTENDED).build();

  private SourceIds() {
  }

  /** Human form: ObjectId hex, a string as is, anything else as relaxed extended JSON. */
  public static String display(BsonValue id) {
    if (id == null) {
      return "";
    }
    if (id.isObjectId()) {
      return id.asObjectId().getValue().toHexString();
    }
    if (id.isString()) {
      return id.asString().getValue();
    }
    return new BsonDocument("v", id).toJson().replaceFirst("^\\{\\s*\"v\"\\s*:\\s*", "").replaceFirst("\\s*}$", "");
  }

  /** Lossless text form for checkpoints: canonical extended JSON, read back by {@link #decode}. */
  public static String encode(BsonValue id) {
    return new BsonDocument("v", id).toJson(CANONICAL);
  }

  public static BsonValue decode(String encoded) {
    return BsonDocument.parse(encoded).get("v");
  }
}
