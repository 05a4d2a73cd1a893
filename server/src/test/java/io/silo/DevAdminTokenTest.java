package io.silo;

import static org.assertj.core.api.Assertions.assertThat;

import io.silo.auth.AccessControl;
import io.silo.auth.Role;
import io.silo.config.SiloConfig;
import io.silo.dev.DevAdminToken;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `silo-server dev` keeps one admin token in its data directory, owner-only, and configures it as an admin hash. */
class DevAdminTokenTest {

  @Test
  void theDevTokenIsCreatedOwnerOnlyKeptAcrossRestartsAndConfiguredAsAnAdminHash(@TempDir Path dir)
      throws Exception {
    Path file = dir.resolve("admin-token");
    String token = DevAdminToken.loadOrCreate(file);
    assertThat(token).hasSizeGreaterThan(40);
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");
    assertThat(DevAdminToken.loadOrCreate(file)).as("a restart keeps the token").isEqualTo(token);

    Map<String, Object> settings = DevCommand.authSettings(SiloConfig.of(Map.of()), token);
    assertThat(settings.toString()).as("only the hash is configured").doesNotContain(token);
    SiloConfig config = SiloConfig.of(settings);
    assertThat(config.bool("auth.metricsRequireToken")).as("/metrics stays open in dev").isFalse();
    assertThat(AccessControl.from(config).principal("Bearer " + token).orElseThrow().role()).isEqualTo(Role.ADMIN);
  }
}
