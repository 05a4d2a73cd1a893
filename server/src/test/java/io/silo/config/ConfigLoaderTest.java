package io.silo.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.vertx.core.Vertx;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Configuration comes from a file plus SILO_* overrides, and anything unknown or invalid fails naming the setting. */
class ConfigLoaderTest {

  @TempDir
  Path dir;
  private Vertx vertx;

  @BeforeEach
  void setUp() {
    vertx = Vertx.vertx();
  }

  @AfterEach
  void tearDown() {
    vertx.close();
  }

  private Path yaml(String text) throws Exception {
    Path file = dir.resolve("silo.yaml");
    Files.writeString(file, text);
    return file;
  }

  @Test
  void fileValuesApplyAndEnvironmentOverridesThem() throws Exception {
    Path file = yaml("grpc:\n  port: 6000\n  corsOrigins: [\"https://dash.example.com\"]\npostgres:\n  database: app\n");
    SiloConfig config = ConfigLoader.load(vertx, file, Map.of("SILO_GRPC_PORT", "7000", "PATH", "/bin"));
    assertThat(config.integer("grpc.port")).isEqualTo(7000);
    assertThat(config.source("grpc.port")).isEqualTo("env SILO_GRPC_PORT");
    assertThat(config.list("grpc.corsOrigins")).containsExactly("https://dash.example.com");
    assertThat(config.string("postgres.database")).isEqualTo("app");
    assertThat(config.string("postgres.tenantsTable")).isEqualTo("tenants");
  }

  @Test
  void unknownFileSettingFailsNamingItAndSuggestingTheNearestOne() throws Exception {
    Path file = yaml("grpc:\n  prot: 6000\n");
    assertThatThrownBy(() -> ConfigLoader.load(vertx, file, Map.of()))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("grpc.prot")
        .hasMessageContaining("did you mean 'grpc.port'");
  }

  @Test
  void unknownSiloEnvironmentVariableFailsNamingIt() {
    assertThatThrownBy(() -> ConfigLoader.load(vertx, null, Map.of("SILO_GRPC_PROT", "1")))
        .isInstanceOf(ConfigException.class).hasMessageContaining("SILO_GRPC_PROT");
  }

  @Test
  void invalidValuesFailNamingTheSetting() throws Exception {
    assertThatThrownBy(() -> ConfigLoader.load(vertx, null, Map.of("SILO_GRPC_PORT", "http")))
        .isInstanceOf(ConfigException.class).hasMessageContaining("grpc.port").hasMessageContaining("SILO_GRPC_PORT");
    assertThatThrownBy(() -> ConfigLoader.load(vertx, yaml("grpc:\n  port: 70000\n"), Map.of()))
        .isInstanceOf(ConfigException.class).hasMessageContaining("grpc.port").hasMessageContaining("0-65535");
    assertThatThrownBy(() -> ConfigLoader.load(vertx, yaml("postgres:\n  tenantsTable: \"t; drop table x\"\n"), Map.of()))
        .isInstanceOf(ConfigException.class).hasMessageContaining("postgres.tenantsTable");
    assertThatThrownBy(() -> ConfigLoader.load(vertx, yaml("grpc:\n  corsOrigins: [\"not an origin\"]\n"), Map.of()))
        .isInstanceOf(ConfigException.class).hasMessageContaining("grpc.corsOrigins");
  }

  @Test
  void missingConfigFileFailsNamingThePath() {
    Path missing = dir.resolve("nope.yaml");
    assertThatThrownBy(() -> ConfigLoader.load(vertx, missing, Map.of()))
        .isInstanceOf(ConfigException.class).hasMessageContaining("nope.yaml");
  }

  @Test
  void secretsAreRedactedWhenPrintedAndInErrors() {
    SiloConfig config = ConfigLoader.load(vertx, null, Map.of("SILO_POSTGRES_PASSWORD", "hunter2-secret"));
    assertThat(config.string("postgres.password")).isEqualTo("hunter2-secret");
    assertThat(config.toString()).doesNotContain("hunter2-secret").contains("<redacted>");
    assertThatThrownBy(() -> ConfigLoader.load(vertx, null, Map.of("SILO_MONGO_URI", "http://user:topsecret@x")))
        .isInstanceOf(ConfigException.class).hasMessageContaining("mongo.uri")
        .message().doesNotContain("topsecret");
  }

  @Test
  void cliVariablesSharingThePrefixAreIgnored() {
    SiloConfig config = ConfigLoader.load(vertx, null, Map.of("SILO_SERVER", "x:1", "SILO_TOKEN", "t"));
    assertThat(config.list("grpc.corsOrigins")).isEqualTo(List.of());
  }
}
