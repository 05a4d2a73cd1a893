package io.silo.cli;

import io.silo.api.v1.TenantStatus;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

/** Base of the migration command tests: a fresh fake server per test, and {@code silo(...)} pointed at it. */
abstract class ServerTest {

  FakeSiloServer server;
  FakeMigrationService migrations;

  @BeforeEach
  void startServer() throws Exception {
    server = new FakeSiloServer();
    migrations = server.migrations;
  }

  @AfterEach
  void stopServer() throws Exception {
    server.close();
  }

  CliRun silo(String... args) {
    String[] all = new String[args.length + 2];
    all[0] = "--server";
    all[1] = server.address();
    System.arraycopy(args, 0, all, 2, args.length);
    return CliRun.run(all);
  }

  void seedTenants(String... slugs) {
    for (String slug : slugs) {
      server.seed(slug, "Tenant " + slug, TenantStatus.TENANT_STATUS_POOLED);
    }
  }
}
