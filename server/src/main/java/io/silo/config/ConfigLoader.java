package io.silo.config;

import io.vertx.config.ConfigRetriever;
import io.vertx.config.ConfigRetrieverOptions;
import io.vertx.config.ConfigStoreOptions;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Reads Silo's configuration from an optional file (YAML or JSON) plus SILO_* environment overrides, and rejects anything unknown. */
public final class ConfigLoader {

  private ConfigLoader() {
  }

  /**
   * Loads the file (if given) through vertx-config and overlays the environment. Blocks the calling
   * thread, so call it at start-up before any event loop work.
   */
  public static SiloConfig load(Vertx vertx, Path file, Map<String, String> env) {
    JsonObject fileJson = new JsonObject();
    if (file != null) {
      if (!Files.isRegularFile(file)) {
        throw new ConfigException("config file not found: " + file);
      }
      String name = file.getFileName().toString();
      String format = name.endsWith(".yaml") || name.endsWith(".yml") ? "yaml" : "json";
      ConfigStoreOptions store = new ConfigStoreOptions()
          .setType("file").setFormat(format)
          .setConfig(new JsonObject().put("path", file.toAbsolutePath().toString()));
      ConfigRetriever retriever = ConfigRetriever.create(vertx, new ConfigRetrieverOptions()
          .setScanPeriod(0).addStore(store));
      try {
        fileJson = retriever.getConfig().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
      } catch (Exception e) {
        Throwable cause = e.getCause() != null ? e.getCause() : e;
        throw new ConfigException("cannot read config file " + file + ": " + cause.getMessage());
      } finally {
        retriever.close();
      }
    }
    return fromMaps(fileJson, env, Map.of());
  }

  /** Validates file JSON, environment and programmatic overrides (in rising precedence) into a config. */
  static SiloConfig fromMaps(JsonObject fileJson, Map<String, String> env, Map<String, ?> overrides) {
    Map<String, Object> values = new LinkedHashMap<>();
    Map<String, String> sources = new HashMap<>();
    for (Setting setting : SiloConfig.SETTINGS.values()) {
      values.put(setting.key(), setting.defaultValue());
    }

    Map<String, Object> flat = new LinkedHashMap<>();
    flatten("", fileJson, flat);
    for (Map.Entry<String, Object> entry : flat.entrySet()) {
      Setting setting = SiloConfig.SETTINGS.get(entry.getKey());
      if (setting == null) {
        throw new ConfigException("unknown setting '" + entry.getKey() + "' in config file" + suggestion(entry.getKey()));
      }
      values.put(setting.key(), setting.coerce(entry.getValue(), "config file"));
      sources.put(setting.key(), "file");
    }

    Map<String, Setting> byEnv = new HashMap<>();
    for (Setting setting : SiloConfig.SETTINGS.values()) {
      byEnv.put(setting.envName(), setting);
    }
    for (Map.Entry<String, String> entry : env.entrySet()) {
      String name = entry.getKey();
      if (!name.startsWith("SILO_") || SiloConfig.FOREIGN_ENV.contains(name)) {
        continue;
      }
      Setting setting = byEnv.get(name);
      if (setting == null) {
        throw new ConfigException("unknown setting in environment variable " + name
            + " (Silo settings are SILO_<SECTION>_<KEY>, e.g. SILO_GRPC_PORT)");
      }
      values.put(setting.key(), setting.coerce(entry.getValue(), "environment variable " + name));
      sources.put(setting.key(), "env " + name);
    }

    for (Map.Entry<String, ?> entry : overrides.entrySet()) {
      Setting setting = SiloConfig.SETTINGS.get(entry.getKey());
      if (setting == null) {
        throw new ConfigException("unknown setting '" + entry.getKey() + "'");
      }
      values.put(setting.key(), setting.coerce(entry.getValue(), "override"));
      sources.putIfAbsent(setting.key(), "override");
    }
    return new SiloConfig(values, sources);
  }

  private static void flatten(String prefix, JsonObject json, Map<String, Object> out) {
    for (String field : json.fieldNames()) {
      Object value = json.getValue(field);
      String key = prefix.isEmpty() ? field : prefix + "." + field;
      if (value instanceof JsonObject nested) {
        flatten(key, nested, out);
      } else {
        out.put(key, value);
      }
    }
  }

  private static String suggestion(String key) {
    String best = null;
    int bestDistance = Integer.MAX_VALUE;
    for (String known : SiloConfig.SETTINGS.keySet()) {
      int d = distance(key.toLowerCase(), known.toLowerCase());
      if (d < bestDistance) {
        bestDistance = d;
        best = known;
      }
    }
    return best != null && bestDistance <= 3 ? " (did you mean '" + best + "'?)" : "";
  }

  private static int distance(String a, String b) {
    int[] prev = new int[b.length() + 1];
    int[] cur = new int[b.length() + 1];
    for (int j = 0; j <= b.length(); j++) {
      prev[j] = j;
    }
    for (int i = 1; i <= a.length(); i++) {
      cur[0] = i;
      for (int j = 1; j <= b.length(); j++) {
        int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
        cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
      }
      int[] t = prev;
      prev = cur;
      cur = t;
    }
    return prev[b.length()];
  }
}
