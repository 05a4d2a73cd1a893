package io.silo.mongo;

import io.silo.config.SiloConfig;
import io.silo.jobs.PhaseSpec;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;

/** The MONGO phase's part of a migration definition: its {@link EncryptionPlan}, with config and JSON forms. */
public record MongoSpec(EncryptionPlan plan) implements PhaseSpec {

  /**
   * The deployment's default plan; invalid settings fail start-up naming the setting.
   *
   * @throws EncryptionPlan.InvalidPlanException naming a {@code migration.*} setting
   */
  public static MongoSpec fromConfig(SiloConfig config) {
    List<FieldRule> fields = new ArrayList<>();
    List<String> specs = config.list("migration.fields");
    for (int i = 0; i < specs.size(); i++) {
      try {
        fields.add(FieldRule.parse(specs.get(i)));
      } catch (IllegalArgumentException e) {
        throw new EncryptionPlan.InvalidPlanException("migration.fields[" + i + "]", e.getMessage());
      }
    }
    return new MongoSpec(new EncryptionPlan(
        EncryptionPlan.Namespace.parse("migration.sourceNamespace", config.string("migration.sourceNamespace")),
        EncryptionPlan.Namespace.parse("migration.targetNamespace", config.string("migration.targetNamespace")),
        config.string("migration.tenantField"), List.copyOf(fields), config.integer("migration.batchSize"),
        EncryptionPlan.Unplanned.valueOf(config.string("migration.unplannedFields").toUpperCase(java.util.Locale.ROOT)))
        .validate("migration.", EncryptionPlan.Namespace.parse("mongo.keyVaultNamespace",
            config.string("mongo.keyVaultNamespace"))));
  }

  @Override
  public JsonObject toJson() {
    JsonArray fields = new JsonArray();
    plan.fields().forEach(f -> fields.add(new JsonObject().put("path", f.path())
        .put("algorithm", f.algorithm().name()).put("bsonType", f.bsonType())));
    return new JsonObject().put("source", plan.source().toString()).put("target", plan.target().toString())
        .put("tenantField", plan.tenantField()).put("fields", fields).put("batchSize", plan.batchSize())
        .put("unplannedFields", plan.unplanned().name());
  }

  public static MongoSpec fromJson(JsonObject json) {
    List<FieldRule> fields = new ArrayList<>();
    for (Object o : json.getJsonArray("fields")) {
      JsonObject f = (JsonObject) o;
      fields.add(new FieldRule(f.getString("path"), FieldRule.Algorithm.valueOf(f.getString("algorithm")),
          f.getString("bsonType")));
    }
    return new MongoSpec(new EncryptionPlan(EncryptionPlan.Namespace.parse("definition.source", json.getString("source")),
        EncryptionPlan.Namespace.parse("definition.target", json.getString("target")), json.getString("tenantField"),
        List.copyOf(fields), json.getInteger("batchSize"),
        EncryptionPlan.Unplanned.valueOf(json.getString("unplannedFields", "COPY"))));
  }

  @Override
  public String source() {
    return plan.source().toString();
  }

  @Override
  public String target() {
    return plan.target().toString();
  }
}
