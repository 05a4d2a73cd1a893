package io.silo.auth;

import java.util.Map;

/**
 * The least role each RPC needs. Methods not listed here need {@link Role#ADMIN} if they belong to silo.v1, so an
 * RPC added to the contract is closed until someone decides who may call it.
 */
public final class RpcPolicy {

  private static final String V1 = "silo.v1.";

  /** Full method name ({@code package.Service/Method}) to the least role that may call it. */
  public static final Map<String, Role> REQUIRED = Map.ofEntries(
      Map.entry("silo.v1.TenantService/RegisterTenant", Role.ADMIN),
      Map.entry("silo.v1.TenantService/GetTenant", Role.VIEWER),
      Map.entry("silo.v1.TenantService/ListTenants", Role.VIEWER),
      Map.entry("silo.v1.KeyService/CreateTenantKey", Role.ADMIN),
      Map.entry("silo.v1.KeyService/ListTenantKeys", Role.VIEWER),
      Map.entry("silo.v1.KeyService/RotateTenantKey", Role.ADMIN),
      Map.entry("silo.v1.KeyService/ShredTenantKey", Role.ADMIN),
      Map.entry("silo.v1.MigrationService/PlanMigration", Role.VIEWER),
      Map.entry("silo.v1.MigrationService/StartMigration", Role.OPERATOR),
      Map.entry("silo.v1.MigrationService/WatchMigration", Role.VIEWER),
      Map.entry("silo.v1.MigrationService/GetMigration", Role.VIEWER),
      Map.entry("silo.v1.MigrationService/ListMigrations", Role.VIEWER),
      Map.entry("silo.v1.MigrationService/PauseMigration", Role.OPERATOR),
      Map.entry("silo.v1.MigrationService/ResumeMigration", Role.OPERATOR),
      Map.entry("silo.v1.MigrationService/CancelMigration", Role.OPERATOR),
      // A viewer's verify is read-only: only an operator's is recorded, and only recorded ones can allow a purge.
      Map.entry("silo.v1.MigrationService/VerifyTenant", Role.VIEWER),
      Map.entry("silo.v1.MigrationService/RollbackMigration", Role.OPERATOR),
      Map.entry("silo.v1.MigrationService/PurgeSource", Role.ADMIN),
      Map.entry("silo.v1.MigrationService/GetCompletionReport", Role.VIEWER),
      Map.entry("silo.v1.UsageService/GetTenantUsage", Role.VIEWER),
      Map.entry("silo.v1.UsageService/ListUsage", Role.VIEWER),
      Map.entry("silo.v1.UsageService/ListMigrationStatus", Role.VIEWER),
      Map.entry("silo.v1.UsageService/GetDocumentUrl", Role.OPERATOR),
      // The audit trail names every tenant and caller, so only an admin reads it.
      Map.entry("silo.v1.AuditService/ListAuditEvents", Role.ADMIN),
      Map.entry("silo.v1.UsageService/GetUploadUrl", Role.OPERATOR),
      // A reconcile rewrites usage rows (and waits for the tenant's open writers while it recounts).
      Map.entry("silo.v1.UsageService/ReconcileUsage", Role.ADMIN),
      Map.entry("silo.v1.SessionService/WhoAmI", Role.VIEWER),
      // Scheduling a customer master key's deletion is as final as a shred for every key it still wraps.
      Map.entry("silo.v1.KeyService/RetireMasterKey", Role.ADMIN));

  /** The role whose verify is recorded in silo.verifications (and so can allow a purge). */
  public static final Role RECORDED_VERIFY = Role.OPERATOR;

  private RpcPolicy() {
  }

  /**
   * Whether every call of {@code fullMethodName} is audited, whatever its outcome: each RPC that needs more than a
   * viewer (they change things, hand out data, or read the audit), and VerifyTenant, whose operator runs are recorded
   * and can allow a purge. Other calls are audited only when refused ({@link AuditTrail#audited}).
   */
  public static boolean audited(String fullMethodName) {
    return guard(fullMethodName) == Guard.TOKEN && (required(fullMethodName) != Role.VIEWER
        || fullMethodName.equals("silo.v1.MigrationService/VerifyTenant"));
  }

  /** How a method is guarded. */
  public enum Guard {
    /** Anyone, with or without a token: grpc.health.v1. */
    OPEN,
    /** grpc.reflection: open unless {@code auth.reflectionRequireToken}. */
    REFLECTION,
    /** A valid token whose role includes {@link #required(String)}. */
    TOKEN
  }

  /** How {@code fullMethodName} is guarded. */
  public static Guard guard(String fullMethodName) {
    if (fullMethodName.startsWith("grpc.health.v1.")) {
      return Guard.OPEN;
    }
    if (fullMethodName.startsWith("grpc.reflection.")) {
      return Guard.REFLECTION;
    }
    return Guard.TOKEN;
  }

  /**
   * The least role for a method that needs a token: as listed, else ADMIN inside silo.v1, else VIEWER (an unknown
   * method then gets UNIMPLEMENTED, but only after authentication, so probing reveals nothing to strangers).
   */
  public static Role required(String fullMethodName) {
    Role listed = REQUIRED.get(fullMethodName);
    if (listed != null) {
      return listed;
    }
    return fullMethodName.startsWith(V1) ? Role.ADMIN : Role.VIEWER;
  }
}
