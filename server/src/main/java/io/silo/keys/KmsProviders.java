package io.silo.keys;

import io.silo.config.ConfigException;
import io.silo.config.SiloConfig;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Supplier;
import javax.net.ssl.SSLContext;
import org.bson.BsonDocument;
import org.bson.BsonString;
import org.bson.BsonValue;
import software.amazon.awssdk.auth.credentials.AwsCredentials;
import software.amazon.awssdk.auth.credentials.AwsSessionCredentials;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;

/**
 * The KMS providers configured on this server, in the shape libmongocrypt takes them, plus master-key
 * validation. Secrets stay inside the maps handed to the driver and are never logged or returned.
 */
public final class KmsProviders {

  private final Map<String, Map<String, Object>> providers = new LinkedHashMap<>();
  private final Map<String, Supplier<Map<String, Object>>> suppliers = new LinkedHashMap<>();
  private final Map<String, SSLContext> sslContexts = new LinkedHashMap<>();
  private final Map<String, String> awsRegions = new LinkedHashMap<>();
  private final String defaultProvider;
  private final String awsEndpoint;

  private KmsProviders(String defaultProvider, String awsEndpoint) {
    this.defaultProvider = defaultProvider;
    this.awsEndpoint = awsEndpoint;
  }

  /** Reads every kms.* setting; a misconfigured provider fails with a ConfigException naming the setting. */
  public static KmsProviders from(SiloConfig config) {
    KmsProviders out = new KmsProviders(config.string("kms.defaultProvider"), config.string("kms.aws.endpoint"));

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

    String region = config.string("kms.aws.region");
    if (!region.isEmpty()) {
      String id = config.string("kms.aws.accessKeyId");
      String secret = config.string("kms.aws.secretAccessKey");
      if (id.isEmpty() != secret.isEmpty()) {
        throw new ConfigException("'kms.aws.accessKeyId' and 'kms.aws.secretAccessKey' must be set together "
            + "(or neither, to use the default AWS credentials chain)");
      }
      if (!id.isEmpty()) {
        out.providers.put("aws", Map.of("accessKeyId", id, "secretAccessKey", secret));
      } else {
        // Credentials from the default chain, fetched per use so rotated instance credentials keep working.
        out.suppliers.put("aws", KmsProviders::defaultAwsCredentials);
      }
      out.awsRegions.put("aws", region);
      if (!config.string("kms.aws.caFile").isEmpty()) {
        out.sslContexts.put("aws", PemSsl.context(config.string("kms.aws.caFile"), "kms.aws.caFile", "", "", "", ""));
      }
    }

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

  private static Map<String, Object> defaultAwsCredentials() {
    AwsCredentials credentials = DefaultCredentialsProvider.builder().build().resolveCredentials();
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("accessKeyId", credentials.accessKeyId());
    out.put("secretAccessKey", credentials.secretAccessKey());
    if (credentials instanceof AwsSessionCredentials session) {
      out.put("sessionToken", session.sessionToken());
    }
    return out;
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
          : awsRegions.getOrDefault(provider, "default"));
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
    BsonDocument descriptor;
    try {
      descriptor = descriptorJson == null || descriptorJson.isBlank() ? new BsonDocument()
          : BsonDocument.parse(descriptorJson);
    } catch (RuntimeException e) {
      throw new IllegalArgumentException("descriptor_json is not a JSON object");
    }
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
        allowOnly(descriptor, Set.of("key", "region", "endpoint"));
        requireString(descriptor, "key", "an AWS KMS key ARN or alias");
        if (!descriptor.containsKey("region")) {
          descriptor.put("region", new BsonString(awsRegions.getOrDefault(provider, "")));
        }
        requireString(descriptor, "region", "an AWS region");
        if (!descriptor.containsKey("endpoint") && !awsEndpoint.isEmpty()) {
          descriptor.put("endpoint", new BsonString(awsEndpoint));
        }
        return descriptor;
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
