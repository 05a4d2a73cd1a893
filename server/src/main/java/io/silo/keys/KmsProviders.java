package io.silo.keys;

import io.silo.config.ConfigException;
import io.silo.config.SiloConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Supplier;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import org.bson.BsonDocument;
import org.bson.BsonString;
import org.bson.BsonValue;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.AwsSessionCredentials;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;

/**
 * The KMS providers configured on this server, in the shape libmongocrypt takes them, plus master-key
 * validation. Secrets stay inside the maps handed to the driver and are never logged or returned.
 */
public final class KmsProviders {

  private final Map<String, Map<String, Object>> providers = new LinkedHashMap<>();
  private final Map<String, Supplier<Map<String, Object>>> suppliers = new LinkedHashMap<>();
  private final Map<String, SSLContext> sslContexts = new LinkedHashMap<>();
  private final Map<String, AwsProvider> aws = new LinkedHashMap<>();
  private final String defaultProvider;
  private final Optional<AwsEndpoint> awsEndpoint;
  private TrustManager[] awsTrust;
  private AwsCmkSettings cmkSettings = AwsCmkSettings.NONE;
  private AltNameTemplate altNames = AltNameTemplate.DEFAULT;
  private volatile DefaultCredentialsProvider defaultChain;

  /**
   * An AWS KMS provider as configured: its name as libmongocrypt knows it ({@code aws} or {@code aws:<name>}), its
   * default region, and its credentials (null: the default AWS credentials chain).
   */
  public record AwsProvider(String name, String region, AwsCredentials staticCredentials) {
  }

  /**
   * What per-tenant CMKs are made with: whether an aws master key without a key means the tenant's own CMK, the key
   * policy (null: the AWS default policy), and tag templates {@code Key=value} with {slug} and {id}.
   */
  public record AwsCmkSettings(boolean byDefault, String keyPolicy, List<String> tagTemplates) {
    static final AwsCmkSettings NONE = new AwsCmkSettings(false, null, List.of());
  }

  private KmsProviders(String defaultProvider, Optional<AwsEndpoint> awsEndpoint) {
    this.defaultProvider = defaultProvider;
    this.awsEndpoint = awsEndpoint;
  }

  /** Reads every kms.* setting; a misconfigured provider fails with a ConfigException naming the setting. */
  public static KmsProviders from(SiloConfig config) {
    Optional<AwsEndpoint> endpoint;
    try {
      endpoint = config.string("kms.aws.endpoint").isEmpty() ? Optional.empty()
          : Optional.of(AwsEndpoint.parse(config.string("kms.aws.endpoint")));
    } catch (IllegalArgumentException e) {
      throw new ConfigException("invalid setting 'kms.aws.endpoint': " + e.getMessage());
    }
    KmsProviders out = new KmsProviders(config.string("kms.defaultProvider"), endpoint);
    try {
      out.altNames = AltNameTemplate.parse(config.string("kms.keyAltNameTemplate"));
    } catch (IllegalArgumentException e) {
      throw new ConfigException("invalid setting 'kms.keyAltNameTemplate': " + e.getMessage());
    }

    String keyFile = config.string("kms.local.keyFile");
    String keyBase64 = config.string("kms.local.keyBase64");
    if (!keyFile.isEmpty() && !keyBase64.isEmpty()) {
      throw new ConfigException("set only one of 'kms.local.keyFile' and 'kms.local.keyBase64'");
    }
    if (!keyFile.isEmpty()) {
      out.providers.put("local", Map.of("key", localKeyFromFile(keyFile, "kms.local.keyFile")));
    } else if (!keyBase64.isEmpty()) {
      try {
        out.providers.put("local", Map.of("key", LocalMasterKeyFile.fromBase64(keyBase64).keyBytes()));
      } catch (RuntimeException e) {
        // The message of a base64 failure could quote the secret, so replace it.
        throw new ConfigException("invalid setting 'kms.local.keyBase64': must be base64 of exactly 96 bytes");
      }
    }
    for (String entry : config.list("kms.local.named")) {
      int eq = entry.indexOf('=');
      String name = entry.substring(0, eq);
      out.providers.put("local:" + name, Map.of("key", localKeyFromFile(entry.substring(eq + 1), "kms.local.named")));
    }

    String kmip = config.string("kms.kmip.endpoint");
    if (!kmip.isEmpty()) {
      out.providers.put("kmip", Map.of("endpoint", kmip));
      if (config.string("kms.kmip.caFile").isEmpty() || config.string("kms.kmip.certFile").isEmpty()) {
        throw new ConfigException("'kms.kmip.caFile', 'kms.kmip.certFile' and 'kms.kmip.keyFile' are required "
            + "when 'kms.kmip.endpoint' is set (KMIP needs mutual TLS)");
      }
      out.sslContexts.put("kmip", PemSsl.context(config.string("kms.kmip.caFile"), "kms.kmip.caFile",
          config.string("kms.kmip.certFile"), "kms.kmip.certFile", config.string("kms.kmip.keyFile"), "kms.kmip.keyFile"));
    } else if (!config.string("kms.kmip.caFile").isEmpty() || !config.string("kms.kmip.certFile").isEmpty()) {
      throw new ConfigException("'kms.kmip.endpoint' is required when other kms.kmip settings are set");
    }

    out.configureAws(config);

    if (!config.string("kms.azure.tenantId").isEmpty()) {
      require(config, "kms.azure.clientId", "kms.azure.tenantId");
      require(config, "kms.azure.clientSecret", "kms.azure.tenantId");
      out.providers.put("azure", Map.of("tenantId", config.string("kms.azure.tenantId"),
          "clientId", config.string("kms.azure.clientId"), "clientSecret", config.string("kms.azure.clientSecret")));
    }
    if (!config.string("kms.gcp.email").isEmpty()) {
      require(config, "kms.gcp.privateKey", "kms.gcp.email");
      out.providers.put("gcp", Map.of("email", config.string("kms.gcp.email"),
          "privateKey", config.string("kms.gcp.privateKey")));
    }

    if (!out.isConfigured(out.defaultProvider)) {
      throw new ConfigException("invalid setting 'kms.defaultProvider': provider '" + out.defaultProvider
          + "' is not configured (configured: " + out.names() + ")");
    }
    return out;
  }

  /**
   * The aws provider (when kms.aws.region is set) and the named ones (kms.aws.named). Named providers take their own
   * credentials from kms.aws.namedCredentials, else share those of aws; all share the endpoint and trust store.
   */
  private void configureAws(SiloConfig config) {
    String id = config.string("kms.aws.accessKeyId");
    String secret = config.string("kms.aws.secretAccessKey");
    if (id.isEmpty() != secret.isEmpty()) {
      throw new ConfigException("'kms.aws.accessKeyId' and 'kms.aws.secretAccessKey' must be set together "
          + "(or neither, to use the default AWS credentials chain)");
    }
    AwsCredentials shared = id.isEmpty() ? null : AwsBasicCredentials.create(id, secret);
    Map<String, AwsCredentials> namedCredentials = new LinkedHashMap<>();
    for (String entry : config.list("kms.aws.namedCredentials")) {
      String name = entry.substring(0, entry.indexOf('='));
      String pair = entry.substring(entry.indexOf('=') + 1);
      namedCredentials.put(name, AwsBasicCredentials.create(pair.substring(0, pair.indexOf(':')),
          pair.substring(pair.indexOf(':') + 1)));
    }
    if (!config.string("kms.aws.region").isEmpty()) {
      addAws(new AwsProvider("aws", config.string("kms.aws.region"), shared));
    }
    for (String entry : config.list("kms.aws.named")) {
      String name = entry.substring(0, entry.indexOf('='));
      addAws(new AwsProvider("aws:" + name, entry.substring(entry.indexOf('=') + 1),
          namedCredentials.getOrDefault(name, shared)));
    }
    for (String name : namedCredentials.keySet()) {
      if (!aws.containsKey("aws:" + name)) {
        // Never echo the entry: it holds a secret.
        throw new ConfigException("invalid setting 'kms.aws.namedCredentials': provider 'aws:" + name
            + "' is not in 'kms.aws.named'");
      }
    }
    boolean anyAws = !aws.isEmpty();
    if (!anyAws && (awsEndpoint.isPresent() || !config.string("kms.aws.caFile").isEmpty())) {
      throw new ConfigException("'kms.aws.region' or 'kms.aws.named' is required when other kms.aws settings are set");
    }
    if (!config.string("kms.aws.caFile").isEmpty()) {
      // One CA bundle for both clients: libmongocrypt takes an SSLContext, the SDK trust managers.
      awsTrust = PemSsl.trustManagers(config.string("kms.aws.caFile"), "kms.aws.caFile");
      for (String name : aws.keySet()) {
        sslContexts.put(name, PemSsl.context(config.string("kms.aws.caFile"), "kms.aws.caFile", "", "", "", ""));
      }
    }
    String policy = null;
    String policyFile = config.string("kms.aws.keyPolicyFile");
    if (!policyFile.isEmpty()) {
      try {
        policy = Files.readString(Path.of(policyFile));
        new io.vertx.core.json.JsonObject(policy);
      } catch (Exception e) {
        throw new ConfigException("invalid setting 'kms.aws.keyPolicyFile': cannot read a JSON key policy from "
            + policyFile + " (" + e.getClass().getSimpleName() + ")");
      }
    }
    cmkSettings = new AwsCmkSettings(config.bool("kms.aws.tenantCmks"), policy, config.list("kms.aws.keyTags"));
    if (cmkSettings.byDefault() && !anyAws) {
      throw new ConfigException("'kms.aws.tenantCmks' needs an aws provider ('kms.aws.region' or 'kms.aws.named')");
    }
  }

  private void addAws(AwsProvider provider) {
    aws.put(provider.name(), provider);
    if (provider.staticCredentials() != null) {
      providers.put(provider.name(), Map.of("accessKeyId", provider.staticCredentials().accessKeyId(),
          "secretAccessKey", provider.staticCredentials().secretAccessKey()));
    } else {
      // Credentials from the default chain, fetched per use so rotated instance credentials keep working.
      suppliers.put(provider.name(), this::defaultAwsCredentials);
    }
  }

  private static void require(SiloConfig config, String key, String because) {
    if (config.string(key).isEmpty()) {
      throw new ConfigException("'" + key + "' is required when '" + because + "' is set");
    }
  }

  private static byte[] localKeyFromFile(String file, String setting) {
    try {
      return LocalMasterKeyFile.load(Path.of(file)).keyBytes();
    } catch (Exception e) {
      throw new ConfigException("invalid setting '" + setting + "': " + e.getMessage());
    }
  }

  private Map<String, Object> defaultAwsCredentials() {
    AwsCredentials credentials = defaultCredentialsChain().resolveCredentials();
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("accessKeyId", credentials.accessKeyId());
    out.put("secretAccessKey", credentials.secretAccessKey());
    if (credentials instanceof AwsSessionCredentials session) {
      out.put("sessionToken", session.sessionToken());
    }
    return out;
  }

  // One chain for the process: it caches and refreshes instance or container credentials itself.
  private DefaultCredentialsProvider defaultCredentialsChain() {
    DefaultCredentialsProvider chain = defaultChain;
    if (chain == null) {
      synchronized (this) {
        if (defaultChain == null) {
          defaultChain = DefaultCredentialsProvider.builder().build();
        }
        chain = defaultChain;
      }
    }
    return chain;
  }

  /** The credentials the AWS SDK uses for a configured aws provider. */
  public AwsCredentialsProvider awsCredentials(String provider) {
    AwsProvider p = awsProvider(provider);
    return p.staticCredentials() != null ? StaticCredentialsProvider.create(p.staticCredentials())
        : defaultCredentialsChain();
  }

  /** Whether {@code provider} is a configured aws provider ({@code aws} or {@code aws:<name>}). */
  public boolean isAws(String provider) {
    return provider != null && aws.containsKey(provider);
  }

  /** A configured aws provider; IllegalArgumentException naming the configured ones otherwise. */
  public AwsProvider awsProvider(String provider) {
    AwsProvider p = aws.get(provider);
    if (p == null) {
      throw new IllegalArgumentException("provider '" + provider + "' is not a configured aws provider (configured: "
          + aws.keySet() + ")");
    }
    return p;
  }

  /** The aws provider used when a caller names none (the S3 phase): {@code aws}, else the first named one. */
  public Optional<String> defaultAwsProvider() {
    if (aws.containsKey("aws")) {
      return Optional.of("aws");
    }
    return aws.keySet().stream().findFirst();
  }

  /** The configured endpoint override of every aws provider, if any. */
  public Optional<AwsEndpoint> awsEndpoint() {
    return awsEndpoint;
  }

  /** Trust managers for the SDK from kms.aws.caFile, or null for the JVM's default trust store. */
  public TrustManager[] awsTrustManagers() {
    return awsTrust;
  }

  /** How per-tenant CMKs are made. */
  public AwsCmkSettings cmkSettings() {
    return cmkSettings;
  }

  /** How tenants' data keys are named in the key vault. */
  public AltNameTemplate altNames() {
    return altNames;
  }

  /**
   * Validates an aws descriptor that must <em>not</em> name a key, because Silo will put the tenant's own CMK there:
   * region (the provider's by default) and endpoint only. Returns the descriptor with region and endpoint filled in.
   */
  public BsonDocument tenantCmkLocation(String provider, String descriptorJson) {
    if (!isAws(provider)) {
      throw new IllegalArgumentException("provider '" + provider + "' is not a configured aws provider; a tenant "
          + "CMK needs one (configured aws providers: " + aws.keySet() + ")");
    }
    BsonDocument descriptor = parseDescriptor(descriptorJson);
    if (descriptor.containsKey("key")) {
      throw new IllegalArgumentException("descriptor_json.key must be empty when Silo is to use the tenant's own CMK");
    }
    return awsDescriptor(provider, descriptor, false);
  }

  /** Whether a master key descriptor names a key (its {@code key} field); false for empty or unparsable ones. */
  public boolean masterKeyNamesKey(String descriptorJson) {
    try {
      return parseDescriptor(descriptorJson).containsKey("key");
    } catch (IllegalArgumentException e) {
      return false;
    }
  }

  /** Closes the default credentials chain if it was used. */
  public void close() {
    DefaultCredentialsProvider chain = defaultChain;
    if (chain != null) {
      chain.close();
    }
  }

  public boolean isConfigured(String provider) {
    return providers.containsKey(provider) || suppliers.containsKey(provider);
  }

  /** Names of the configured providers, sorted; safe to show. */
  public Set<String> names() {
    Set<String> names = new TreeSet<>(providers.keySet());
    names.addAll(suppliers.keySet());
    return names;
  }

  public String defaultProvider() {
    return defaultProvider;
  }

  public Map<String, Map<String, Object>> kmsProviders() {
    return providers;
  }

  public Map<String, Supplier<Map<String, Object>>> propertySuppliers() {
    return suppliers;
  }

  public Map<String, SSLContext> sslContexts() {
    return sslContexts;
  }

  /** The budget that governs a provider: AWS budgets are per region (quotas are regional), the others per provider. */
  public KmsBudget budget(KmsBudgets budgets, String provider, BsonDocument masterKey) {
    String type = provider.contains(":") ? provider.substring(0, provider.indexOf(':')) : provider;
    if (type.equals("aws")) {
      BsonValue region = masterKey == null ? null : masterKey.get("region");
      return budgets.budget(provider, region != null && region.isString() ? region.asString().getValue()
          : aws.containsKey(provider) ? aws.get(provider).region() : "default");
    }
    return budgets.budget(provider);
  }

  /**
   * Validates a provider name and master-key descriptor for createDataKey or rewrap, returning the master key
   * document the driver takes (null for local providers). Throws IllegalArgumentException whose message
   * names what is wrong, for the API layer to turn into INVALID_ARGUMENT.
   */
  public BsonDocument masterKey(String provider, String descriptorJson) {
    if (!isConfigured(provider)) {
      throw new IllegalArgumentException("provider '" + provider + "' is not configured on this server (configured: "
          + names() + ")");
    }
    BsonDocument descriptor = parseDescriptor(descriptorJson);
    String type = provider.contains(":") ? provider.substring(0, provider.indexOf(':')) : provider;
    switch (type) {
      case "local" -> {
        if (!descriptor.isEmpty()) {
          throw new IllegalArgumentException("descriptor_json must be empty for a local provider");
        }
        return null;
      }
      case "kmip" -> {
        allowOnly(descriptor, Set.of("keyId", "endpoint", "delegated"));
        return descriptor;
      }
      case "aws" -> {
        return awsDescriptor(provider, descriptor, true);
      }
      case "azure" -> {
        allowOnly(descriptor, Set.of("keyVaultEndpoint", "keyName", "keyVersion"));
        requireString(descriptor, "keyVaultEndpoint", "the key vault host");
        requireString(descriptor, "keyName", "the key name");
        return descriptor;
      }
      case "gcp" -> {
        allowOnly(descriptor, Set.of("projectId", "location", "keyRing", "keyName", "keyVersion", "endpoint"));
        for (String field : new String[] {"projectId", "location", "keyRing", "keyName"}) {
          requireString(descriptor, field, "a GCP KMS " + field);
        }
        return descriptor;
      }
      default -> throw new IllegalArgumentException("unknown provider type '" + type + "'");
    }
  }

  private static BsonDocument parseDescriptor(String descriptorJson) {
    try {
      return descriptorJson == null || descriptorJson.isBlank() ? new BsonDocument() : BsonDocument.parse(descriptorJson);
    } catch (RuntimeException e) {
      throw new IllegalArgumentException("descriptor_json is not a JSON object");
    }
  }

  /**
   * An aws master key with the provider's region when none is given, and the endpoint in libmongocrypt's host:port
   * form (a descriptor may give either form; the configured override applies when it gives none).
   */
  private BsonDocument awsDescriptor(String provider, BsonDocument descriptor, boolean keyRequired) {
    allowOnly(descriptor, Set.of("key", "region", "endpoint"));
    if (keyRequired) {
      requireString(descriptor, "key", "an AWS KMS key ARN, key id or alias");
    }
    if (!descriptor.containsKey("region")) {
      AwsProvider p = aws.get(provider);
      descriptor.put("region", new BsonString(p == null ? "" : p.region()));
    }
    requireString(descriptor, "region", "an AWS region");
    if (!descriptor.getString("region").getValue().matches("[a-z0-9-]{2,32}")) {
      throw new IllegalArgumentException("descriptor_json.region is not an AWS region name");
    }
    if (descriptor.containsKey("endpoint")) {
      requireString(descriptor, "endpoint", "host[:port] or https://host[:port]");
      try {
        descriptor.put("endpoint", new BsonString(AwsEndpoint.parse(descriptor.getString("endpoint").getValue())
            .hostPort()));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("descriptor_json.endpoint: " + e.getMessage());
      }
    } else {
      awsEndpoint.ifPresent(e -> descriptor.put("endpoint", new BsonString(e.hostPort())));
    }
    return descriptor;
  }

  private static void allowOnly(BsonDocument descriptor, Set<String> allowed) {
    for (String field : descriptor.keySet()) {
      if (!allowed.contains(field)) {
        throw new IllegalArgumentException("descriptor_json has unknown field '" + field + "' (allowed: "
            + new TreeSet<>(allowed) + ")");
      }
    }
  }

  private static void requireString(BsonDocument descriptor, String field, String what) {
    BsonValue value = descriptor.get(field);
    if (value == null || !value.isString() || value.asString().getValue().isBlank()) {
      throw new IllegalArgumentException("descriptor_json." + field + " is required: " + what);
    }
  }
}
