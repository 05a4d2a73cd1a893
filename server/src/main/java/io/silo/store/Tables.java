package io.silo.store;

import io.silo.config.SiloConfig;

/**
 * Names of the tables Silo uses. They come from validated configuration (lowercase identifiers), which is
 * why they can be placed into SQL text; values always go through bind parameters.
 */
public record Tables(String siloSchema, String tenants, String documents) {

  /**
   * Unqualified application tables are taken to live in {@code public}: Flyway runs with Silo's own schema
   * first on the search path, so an unqualified name would otherwise land in the wrong schema.
   */
  public static Tables from(SiloConfig config) {
    return new Tables(config.string("postgres.schema"), qualify(config.string("postgres.tenantsTable")),
        qualify(config.string("postgres.documentsTable")));
  }

  private static String qualify(String table) {
    return table.contains(".") ? table : "public." + table;
  }

  /**
   * The schema of the application's tenants table ({@code public} for {@code public.tenants}): Silo's tracking
   * tables that the application's own queries join ({@code s3_migrations}, {@code tenant_usage}) live beside it.
   */
  public String appSchema() {
    return tenants.substring(0, tenants.indexOf('.'));
  }

  /** Name of Silo's unique index on the tenants table's slug, placed beside that table. */
  public String tenantsSlugIndex() {
    String bare = tenants.contains(".") ? tenants.substring(tenants.indexOf('.') + 1) : tenants;
    return "silo_" + bare + "_slug_key";
  }
}
