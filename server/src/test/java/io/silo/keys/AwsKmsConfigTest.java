package io.silo.keys;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.silo.TestServer;
import io.silo.config.ConfigException;
import io.silo.config.SiloConfig;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.bson.BsonDocument;
import org.junit.jupiter.api.Test;

/**
 * The AWS KMS settings: one endpoint setting in either form gives the SDK and libmongocrypt their forms, named aws
 * providers with their regions, the alt-name template, and start-up failures that name the setting.
 */
class AwsKmsConfigTest {

  private static KmsProviders providers(Map<String, Object> aws) {
    Map<String, Object> settings = new HashMap<>(aws);
    settings.put("kms.local.keyBase64", TestServer.LOCAL_KEY_BASE64);
    return KmsProviders.from(SiloConfig.of(settings));
  }

  @Test
  void oneEndpointSettingInEitherFormGivesTheSdkAnHttpsUriAndLibmongocryptHostPort() {
    for (String form : List.of("kms.internal:8443", "https://kms.internal:8443", "https://kms.internal:8443/")) {
      KmsProviders kms = providers(Map.of("kms.aws.region", "eu-west-1", "kms.aws.endpoint", form));
      AwsEndpoint endpoint = kms.awsEndpoint().orElseThrow();
      assertThat(endpoint.sdkUri()).as(form).hasToString("https://kms.internal:8443");
      assertThat(endpoint.hostPort()).as(form).isEqualTo("kms.internal:8443");
      BsonDocument masterKey = kms.masterKey("aws", "{\"key\":\"alias/x\"}");
      assertThat(masterKey.getString("endpoint").getValue()).as(form).isEqualTo("kms.internal:8443");
      assertThat(masterKey.getString("region").getValue()).isEqualTo("eu-west-1");
    }
    assertThat(AwsEndpoint.parse("kms.eu-west-1.amazonaws.com").sdkUri())
        .hasToString("https://kms.eu-west-1.amazonaws.com:443");
    // A descriptor may name its own endpoint in either form too; the key document gets libmongocrypt's form.
    KmsProviders kms = providers(Map.of("kms.aws.region", "eu-west-1"));
    assertThat(kms.masterKey("aws", "{\"key\":\"k\",\"endpoint\":\"https://other:9443\"}").getString("endpoint")
        .getValue()).isEqualTo("other:9443");
  }

  @Test
  void plainHttpAndMalformedEndpointsAreRefusedNamingTheSetting() {
    for (String bad : List.of("http://kms.internal", "kms.internal:99999", "https://kms internal")) {
      assertThatThrownBy(() -> providers(Map.of("kms.aws.region", "eu-west-1", "kms.aws.endpoint", bad)))
          .as(bad).isInstanceOf(ConfigException.class).hasMessageContaining("kms.aws.endpoint");
    }
    KmsProviders kms = providers(Map.of("kms.aws.region", "eu-west-1"));
    assertThatThrownBy(() -> kms.masterKey("aws", "{\"key\":\"k\",\"endpoint\":\"http://x\"}"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("descriptor_json.endpoint");
  }

  @Test
  void namedAwsProvidersHaveTheirOwnDefaultRegionAndOptionallyTheirOwnCredentials() {
    KmsProviders kms = providers(Map.of("kms.aws.region", "us-east-1",
        "kms.aws.accessKeyId", "AKIDMAIN", "kms.aws.secretAccessKey", "main-secret",
        "kms.aws.named", List.of("eu=eu-central-1", "ap=ap-southeast-2"),
        "kms.aws.namedCredentials", List.of("ap=AKIDAP:ap-secret")));
    assertThat(kms.isAws("aws:eu")).isTrue();
    assertThat(kms.awsProvider("aws:eu").region()).isEqualTo("eu-central-1");
    assertThat(kms.masterKey("aws:eu", "{\"key\":\"alias/k\"}").getString("region").getValue())
        .isEqualTo("eu-central-1");
    assertThat(kms.kmsProviders().get("aws:eu")).containsEntry("accessKeyId", "AKIDMAIN");
    assertThat(kms.kmsProviders().get("aws:ap")).containsEntry("accessKeyId", "AKIDAP");
    assertThat(kms.awsCredentials("aws:ap").resolveCredentials().accessKeyId()).isEqualTo("AKIDAP");
    assertThat(kms.defaultAwsProvider()).contains("aws");

    assertThatThrownBy(() -> providers(Map.of("kms.aws.named", List.of("eu=eu-central-1"),
        "kms.aws.namedCredentials", List.of("us=AKID:s3cr3t"))))
        .isInstanceOf(ConfigException.class).hasMessageContaining("aws:us").hasMessageNotContaining("s3cr3t");
    assertThatThrownBy(() -> providers(Map.of("kms.aws.tenantCmks", true)))
        .isInstanceOf(ConfigException.class).hasMessageContaining("kms.aws.tenantCmks");
  }

  @Test
  void theAltNameTemplateNamesKeysBySlugOrByTheTenantsTableId() {
    AltNameTemplate byId = AltNameTemplate.parse("tenant-{id}");
    assertThat(byId.render("acme", 123)).isEqualTo("tenant-123");
    assertThat(byId.value("tenant-123")).contains("123");
    assertThat(byId.value("tenant-acme")).isEmpty();
    assertThat(AltNameTemplate.DEFAULT.render("acme", 123)).isEqualTo("tenant-acme");
    assertThat(AltNameTemplate.parse("/t/{slug}.dek").value("/t/acme.dek")).contains("acme");
    assertThat(providers(Map.of("kms.keyAltNameTemplate", "tenant-{id}")).altNames()).isEqualTo(byId);
    for (String bad : List.of("tenant", "{slug}-{id}", "{id}{id}", "tenant {slug}")) {
      assertThatThrownBy(() -> providers(Map.of("kms.keyAltNameTemplate", bad)))
          .as(bad).isInstanceOf(ConfigException.class).hasMessageContaining("kms.keyAltNameTemplate");
    }
  }
}
