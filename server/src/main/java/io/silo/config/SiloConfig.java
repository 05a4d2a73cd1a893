package io.silo.config;

import io.vertx.core.json.JsonObject;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/** Silo's validated configuration: every known setting, its value and its source; secrets are redacted when printed. */
public final class SiloConfig {

  private static final Pattern SQL_IDENTIFIER = Pattern.compile("[a-z_][a-z0-9_]{0,62}(\\.[a-z_][a-z0-9_]{0,62})?");
  private static final Pattern NAMESPACE = Pattern.compile("[A-Za-z0-9_-]{1,63}\\.[A-Za-z0-9_.-]{1,200}");

  /** Every setting Silo understands; anything else in a file or a SILO_* variable fails start-up. */
  public static final Map<String, Setting> SETTINGS;

  static {
    Map<String, Setting> s = new LinkedHashMap<>();
    // Loopback by default: listening on every interface is a decision, and then it needs TLS or grpc.insecure.
    add(s, "grpc.host", Setting.Type.STRING, "127.0.0.1", v -> !((String) v).isBlank(), "a host name or address", false);
    add(s, "grpc.port", Setting.Type.INT, 50051, v -> (int) v >= 0 && (int) v <= 65535, "0-65535", false);
    add(s, "grpc.maxMessageBytes", Setting.Type.INT, 4 * 1024 * 1024, v -> (int) v >= 1024, "at least 1024", false);
    add(s, "grpc.corsOrigins", Setting.Type.STRING_LIST, List.of(),
        v -> ((List<?>) v).stream().allMatch(o -> o.equals("*") || o.toString().matches("https?://[^/\\s]+")),
        "a list of origins like https://dash.example.com, or *", false);
    add(s, "grpc.insecure", Setting.Type.BOOL, false, null, "", false);
    add(s, "grpc.tls.certFile", Setting.Type.STRING, "", null, "", false);
    add(s, "grpc.tls.keyFile", Setting.Type.STRING, "", null, "", false);
    add(s, "grpc.tls.caFile", Setting.Type.STRING, "", null, "", false);
    add(s, "grpc.tls.clientAuth", Setting.Type.STRING, "required", v -> v.equals("required") || v.equals("optional"),
        "required or optional", false);
    add(s, "grpc.shutdownGraceSeconds", Setting.Type.INT, 20, v -> (int) v >= 0 && (int) v <= 600, "0-600", false);

    add(s, "postgres.host", Setting.Type.STRING, "localhost", v -> !((String) v).isBlank(), "a host name", false);
    add(s, "postgres.port", Setting.Type.INT, 5432, v -> (int) v > 0 && (int) v <= 65535, "1-65535", false);
    add(s, "postgres.database", Setting.Type.STRING, "postgres", v -> !((String) v).isBlank(), "a database name", false);
    add(s, "postgres.user", Setting.Type.STRING, "postgres", v -> !((String) v).isBlank(), "a user name", false);
    add(s, "postgres.password", Setting.Type.STRING, "", null, "", true);
    add(s, "postgres.poolSize", Setting.Type.INT, 8, v -> (int) v >= 1 && (int) v <= 200, "1-200", false);
    add(s, "postgres.schema", Setting.Type.STRING, "silo", v -> SQL_IDENTIFIER.matcher((String) v).matches()
        && !((String) v).contains("."), "a lowercase SQL identifier", false);
    add(s, "postgres.tenantsTable", Setting.Type.STRING, "tenants", v -> SQL_IDENTIFIER.matcher((String) v).matches(),
        "a lowercase SQL identifier, optionally schema-qualified", false);
    add(s, "postgres.documentsTable", Setting.Type.STRING, "documents", v -> SQL_IDENTIFIER.matcher((String) v).matches(),
        "a lowercase SQL identifier, optionally schema-qualified", false);

    add(s, "mongo.uri", Setting.Type.STRING, "", v -> ((String) v).isEmpty() || ((String) v).startsWith("mongodb"),
        "a mongodb:// or mongodb+srv:// connection string", true);
    add(s, "mongo.keyVaultNamespace", Setting.Type.STRING, "encryption.__keyVault",
        v -> NAMESPACE.matcher((String) v).matches(), "db.collection", false);

    add(s, "s3.enabled", Setting.Type.BOOL, false, null, "", false);
    add(s, "s3.endpoint", Setting.Type.STRING, "", v -> ((String) v).isEmpty() || ((String) v).matches("https?://.+"),
        "an http(s) URL, or empty for AWS", false);
    add(s, "s3.region", Setting.Type.STRING, "us-east-1", v -> ((String) v).matches("[a-z0-9-]{2,32}"), "an AWS region", false);
    add(s, "s3.sharedBucket", Setting.Type.STRING, "dataroom-v2-demo-company-documents",
        v -> ((String) v).matches("[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"), "an S3 bucket name", false);
    add(s, "s3.pathStyle", Setting.Type.BOOL, false, null, "", false);
    add(s, "s3.accessKeyId", Setting.Type.STRING, "", null, "", true);
    add(s, "s3.secretAccessKey", Setting.Type.STRING, "", null, "", true);
    add(s, "s3.bucketPrefix", Setting.Type.STRING, "dataroom-saas",
        v -> ((String) v).matches("[a-z0-9](?:[a-z0-9-]{0,40}[a-z0-9])?"), "lowercase letters, digits and inner hyphens", false);
    add(s, "s3.encryption", Setting.Type.STRING, "AES256", v -> v.equals("AES256") || v.equals("aws:kms"),
        "AES256 or aws:kms", false);
    add(s, "s3.kmsKeyId", Setting.Type.STRING, "", v -> ((String) v).matches("[A-Za-z0-9:/_.-]{0,2048}"),
        "a KMS key id, alias or ARN", false);
    add(s, "s3.bucketKey", Setting.Type.BOOL, true, null, "", false);
    add(s, "s3.strict", Setting.Type.BOOL, true, null, "", false);
    add(s, "s3.copyConcurrency", Setting.Type.INT, 64, v -> (int) v >= 1 && (int) v <= 512, "1-512", false);
    add(s, "s3.batchSize", Setting.Type.INT, 200, v -> (int) v >= 1 && (int) v <= 10000, "1-10000", false);
    add(s, "s3.multipartThresholdMb", Setting.Type.INT, 5120, v -> (int) v >= 5 && (int) v <= 5120, "5-5120", false);
    add(s, "s3.partSizeMb", Setting.Type.INT, 256, v -> (int) v >= 5 && (int) v <= 5120, "5-5120", false);
    add(s, "s3.corsOrigins", Setting.Type.STRING_LIST, List.of(),
        v -> ((List<?>) v).stream().allMatch(o -> o.toString().matches("https?://[^/\\s]+")),
        "a list of origins like https://app.example.com", false);
    add(s, "s3.logBucket", Setting.Type.STRING, "",
        v -> ((String) v).isEmpty() || ((String) v).matches("[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"), "an S3 bucket name", false);
    add(s, "s3.logPrefix", Setting.Type.STRING, "s3-access/", v -> ((String) v).length() <= 200, "at most 200 characters",
        false);
    add(s, "s3.costCentre", Setting.Type.STRING, "", v -> ((String) v).length() <= 256, "at most 256 characters", false);

    add(s, "kms.defaultProvider", Setting.Type.STRING, "local", v -> ((String) v).matches("(local|kmip|aws|azure|gcp)(:[A-Za-z0-9_-]+)?"),
        "local, kmip, aws, azure or gcp, optionally :name", false);
    add(s, "kms.local.keyFile", Setting.Type.STRING, "", null, "", false);
    add(s, "kms.local.keyBase64", Setting.Type.STRING, "", null, "", true);
    add(s, "kms.local.named", Setting.Type.STRING_LIST, List.of(),
        v -> ((List<?>) v).stream().allMatch(o -> o.toString().matches("[A-Za-z0-9_-]+=.+")),
        "a list of name=/path/to/96-byte-key-file entries, e.g. 2026=/etc/silo/mk-2026.bin", false);
    add(s, "kms.kmip.endpoint", Setting.Type.STRING, "", v -> ((String) v).isEmpty() || ((String) v).matches("[^\\s:/]+:\\d{1,5}"),
        "host:port", false);
    add(s, "kms.kmip.caFile", Setting.Type.STRING, "", null, "", false);
    add(s, "kms.kmip.certFile", Setting.Type.STRING, "", null, "", false);
    add(s, "kms.kmip.keyFile", Setting.Type.STRING, "", null, "", false);
    add(s, "kms.aws.region", Setting.Type.STRING, "", v -> ((String) v).isEmpty() || ((String) v).matches("[a-z0-9-]{2,32}"),
        "an AWS region", false);
    // One endpoint setting for both clients: the SDK gets https://host:port, libmongocrypt host:port.
    add(s, "kms.aws.endpoint", Setting.Type.STRING, "",
        v -> ((String) v).isEmpty() || ((String) v).matches("(https://)?[^\\s/:]+(:\\d{1,5})?/?"),
        "host[:port] or https://host[:port] of a KMS endpoint override", false);
    add(s, "kms.aws.caFile", Setting.Type.STRING, "", null, "", false);
    add(s, "kms.aws.accessKeyId", Setting.Type.STRING, "", null, "", true);
    add(s, "kms.aws.secretAccessKey", Setting.Type.STRING, "", null, "", true);
    add(s, "kms.aws.named", Setting.Type.STRING_LIST, List.of(),
        v -> ((List<?>) v).stream().allMatch(o -> o.toString().matches("[A-Za-z0-9_-]+=[a-z0-9-]{2,32}")),
        "a list of name=region entries, e.g. eu=eu-central-1 (provider aws:eu)", false);
    add(s, "kms.aws.namedCredentials", Setting.Type.STRING_LIST, List.of(),
        v -> ((List<?>) v).stream().allMatch(o -> o.toString().matches("[A-Za-z0-9_-]+=[^:\\s]+:\\S+")),
        "a list of name=accessKeyId:secretAccessKey entries for named aws providers", true);
    add(s, "kms.aws.tenantCmks", Setting.Type.BOOL, false, null, "", false);
    add(s, "kms.aws.keyPolicyFile", Setting.Type.STRING, "", null, "", false);
    add(s, "kms.aws.keyTags", Setting.Type.STRING_LIST, List.of("CostCentre={slug}"),
        v -> ((List<?>) v).stream().allMatch(o -> o.toString().matches("[^=\\s]{1,128}=.{0,256}")),
        "a list of Key=value tag entries; {slug} and {id} are replaced by the tenant's", false);
    add(s, "kms.azure.tenantId", Setting.Type.STRING, "", null, "", false);
    add(s, "kms.azure.clientId", Setting.Type.STRING, "", null, "", false);
    add(s, "kms.azure.clientSecret", Setting.Type.STRING, "", null, "", true);
    add(s, "kms.gcp.email", Setting.Type.STRING, "", null, "", false);
    add(s, "kms.gcp.privateKey", Setting.Type.STRING, "", null, "", true);
    add(s, "kms.keyAltNameTemplate", Setting.Type.STRING, "tenant-{slug}",
        v -> ((String) v).matches("[A-Za-z0-9_.:/-]*\\{(slug|id)}[A-Za-z0-9_.:/-]*"),
        "fixed text around exactly one {slug} or {id}, e.g. tenant-{slug} or tenant-{id}", false);
    add(s, "kms.keyExpirationSeconds", Setting.Type.INT, 15, v -> (int) v >= 1 && (int) v <= 3600, "1-3600", false);
    add(s, "kms.budget.ratePerSecond", Setting.Type.INT, 50, v -> (int) v >= 1 && (int) v <= 100000, "1-100000", false);
    add(s, "kms.budget.maxWaiters", Setting.Type.INT, 10000, v -> (int) v >= 1, "at least 1", false);
    // AWS allows 5 CreateKey (and CreateAlias, TagResource, ScheduleKeyDeletion) per second; 4.75 keeps a margin so
    // that timing jitter between Silo and AWS does not turn a full second into a throttle.
    add(s, "kms.budget.controlRatePerSecond", Setting.Type.NUMBER, 4.75,
        v -> (double) v >= 0.1 && (double) v <= 10000, "0.1-10000", false);
    add(s, "kms.budget.controlReadRatePerSecond", Setting.Type.NUMBER, 50.0,
        v -> (double) v >= 0.1 && (double) v <= 100000, "0.1-100000", false);

    add(s, "migration.sourceNamespace", Setting.Type.STRING, "legacy.patients", v -> ((String) v).contains("."),
        "<database>.<collection>", false);
    add(s, "migration.targetNamespace", Setting.Type.STRING, "medical.patients", v -> ((String) v).contains("."),
        "<database>.<collection>", false);
    add(s, "migration.tenantField", Setting.Type.STRING, "tenantId", v -> !((String) v).isBlank(), "a field name", false);
    add(s, "migration.fields", Setting.Type.STRING_LIST,
        List.of("ssn:DETERMINISTIC:string", "name:RANDOM:string", "diagnosis:RANDOM:string"),
        v -> !((List<?>) v).isEmpty(), "at least one path:ALGORITHM:bsonType entry", false);
    add(s, "migration.batchSize", Setting.Type.INT, 2000, v -> (int) v >= 1 && (int) v <= 10000, "1-10000", false);
    add(s, "migration.batchesInFlight", Setting.Type.INT, 4, v -> (int) v >= 1 && (int) v <= 64, "1-64", false);
    add(s, "migration.encryptThreads", Setting.Type.INT, 0, v -> (int) v >= 0 && (int) v <= 256,
        "0-256 (0 = one per CPU core)", false);
    add(s, "migration.maxConcurrentJobs", Setting.Type.INT, 4, v -> (int) v >= 1 && (int) v <= 256, "1-256", false);
    add(s, "migration.unplannedFields", Setting.Type.STRING, "copy",
        v -> java.util.Set.of("copy", "drop", "fail").contains(((String) v).toLowerCase(java.util.Locale.ROOT)),
        "copy, drop or fail", false);
    add(s, "migration.encryptionPath", Setting.Type.STRING, "auto",
        v -> ((String) v).matches("auto|java|libmongocrypt"), "auto, java or libmongocrypt", false);
    add(s, "migration.verifyAfterCopy", Setting.Type.BOOL, true, null, "", false);
    add(s, "jobs.leaseSeconds", Setting.Type.INT, 15, v -> (int) v >= 1 && (int) v <= 3600, "1-3600", false);
    add(s, "jobs.pollMillis", Setting.Type.INT, 1000, v -> (int) v >= 50 && (int) v <= 60000, "50-60000", false);
    add(s, "watch.minIntervalMillis", Setting.Type.INT, 250, v -> (int) v >= 0 && (int) v <= 60000, "0-60000", false);
    add(s, "watch.maxPerCaller", Setting.Type.INT, 256, v -> (int) v >= 1 && (int) v <= 100000, "1-100000", false);
    add(s, "verify.maxStreams", Setting.Type.INT, 4, v -> (int) v >= 1 && (int) v <= 64, "1-64", false);
    add(s, "grpc.streamStallSeconds", Setting.Type.INT, 30, v -> (int) v >= 1 && (int) v <= 600, "1-600", false);

    // Token hashes are not secrets, but redacting them keeps even the hashes out of logs and `silo-server config`.
    add(s, "auth.tokens", Setting.Type.STRING_LIST, List.of(),
        v -> ((List<?>) v).stream().allMatch(e -> e.toString().split(":", -1).length >= 3),
        "entries name:role[:tenant]:sha256hex", true);
    add(s, "auth.clientCertificates", Setting.Type.STRING_LIST, List.of(),
        v -> ((List<?>) v).stream().allMatch(e -> e.toString().contains("=") && e.toString().contains(":")),
        "entries SUBJECT-DN:role[:tenant], e.g. CN=ops-bot:operator", false);
    add(s, "auth.disabled", Setting.Type.BOOL, false, null, "", false);
    add(s, "auth.metricsRequireToken", Setting.Type.BOOL, true, null, "", false);
    add(s, "auth.reflectionRequireToken", Setting.Type.BOOL, false, null, "", false);

    add(s, "log.format", Setting.Type.STRING, "json", v -> v.equals("json") || v.equals("text"), "json or text", false);
    add(s, "log.level", Setting.Type.STRING, "info", v -> ((String) v).matches("(?i)trace|debug|info|warn|error"),
        "trace, debug, info, warn or error", false);
    SETTINGS = Collections.unmodifiableMap(s);
  }

  private static void add(Map<String, Setting> map, String key, Setting.Type type, Object def,
                          java.util.function.Predicate<Object> check, String rule, boolean secret) {
    map.put(key, new Setting(key, type, def, check, rule, secret));
  }

  /** Environment variables with the SILO_ prefix that belong to the CLI or the launcher, not to the server. */
  static final Set<String> FOREIGN_ENV = Set.of("SILO_SERVER", "SILO_TOKEN", "SILO_CONFIG", "SILO_OUTPUT", "SILO_HOME");

  private final Map<String, Object> values;
  private final Map<String, String> sources;

  SiloConfig(Map<String, Object> values, Map<String, String> sources) {
    this.values = Map.copyOf(values);
    this.sources = Map.copyOf(sources);
  }

  /** Configuration with every default and the given overrides, validated like a file; for tests and the dev stack. */
  public static SiloConfig of(Map<String, ?> overrides) {
    return ConfigLoader.fromMaps(new JsonObject(), Map.of(), overrides);
  }

  /** Returns a copy with more overrides applied, validated again. */
  public SiloConfig with(Map<String, ?> overrides) {
    Map<String, Object> merged = new LinkedHashMap<>(values);
    merged.putAll(overrides);
    return ConfigLoader.fromMaps(new JsonObject(), Map.of(), merged);
  }

  public String string(String key) {
    return (String) get(key);
  }

  public int integer(String key) {
    return (Integer) get(key);
  }

  public double number(String key) {
    return (Double) get(key);
  }

  public boolean bool(String key) {
    return (Boolean) get(key);
  }

  @SuppressWarnings("unchecked")
  public List<String> list(String key) {
    return (List<String>) get(key);
  }

  private Object get(String key) {
    if (!SETTINGS.containsKey(key)) {
      throw new IllegalArgumentException("no such setting: " + key);
    }
    return values.get(key);
  }

  /** Where a setting's value came from: default, the file, or an environment variable. */
  public String source(String key) {
    return sources.getOrDefault(key, "default");
  }

  /** All settings as JSON with secrets redacted, for logs and `silo-server config`. */
  public JsonObject redacted() {
    JsonObject out = new JsonObject();
    for (Setting setting : SETTINGS.values()) {
      Object value = values.get(setting.key());
      boolean hide = setting.secret() && value != null && !value.toString().isEmpty();
      out.put(setting.key(), hide ? "<redacted>" : value);
    }
    return out;
  }

  @Override
  public String toString() {
    return redacted().encode();
  }
}
