package io.silo.cli;

import io.silo.api.v1.FindingKind;
import io.silo.api.v1.VerifyFinding;
import io.silo.api.v1.VerifySummary;
import io.silo.api.v1.VerifyTenantRequest;
import io.silo.api.v1.VerifyTenantResponse;
import java.util.function.Consumer;

/** Runs one VerifyTenant stream to its summary; shared by verify and verify-all. */
final class Verification {

  /** The summary the server sent last, and how many findings actually arrived. */
  record Result(VerifySummary summary, long findingsSeen) {
    /**
     * Clean only if the server says so and no finding arrived: a summary that
     * contradicts the findings printed above it must not pass a script's check.
     */
    boolean clean() {
      return summary.getClean() && findingsSeen == 0;
    }
  }

  private Verification() {}

  /** Streams the tenant's verification, handing every message to {@code onMessage}, and returns the result. */
  static Result run(GrpcConnection connection, String tenant, Consumer<VerifyTenantResponse> onMessage) {
    return run(connection, tenant, java.util.List.of(), onMessage);
  }

  /** Like {@link #run(GrpcConnection, String, Consumer)}, verifying only {@code phases} (all when empty). */
  static Result run(GrpcConnection connection, String tenant, java.util.List<io.silo.api.v1.MigrationPhase> phases,
                    Consumer<VerifyTenantResponse> onMessage) {
    VerifyTenantRequest request = VerifyTenantRequest.newBuilder().setTenant(tenant).addAllPhases(phases).build();
    long findings = 0;
    VerifySummary summary = null;
    try (ServerStream<VerifyTenantResponse> stream = ServerStream.open(connection.migrationStreams()::verifyTenant,
        request, "verification of tenant " + tenant + " stopped; it changes nothing, so it is safe to run again")) {
      VerifyTenantResponse message;
      while ((message = stream.next()) != null) {
        if (message.hasFinding()
            && message.getFinding().getKind() != io.silo.api.v1.FindingKind.FINDING_KIND_CONTROL_UNSUPPORTED) {
          // A control the dev endpoint cannot implement is printed as a warning; the server does not count it.
          findings++;
        } else if (message.hasSummary()) {
          summary = message.getSummary();
        }
        onMessage.accept(message);
      }
    }
    if (summary == null) {
      throw io.grpc.Status.INTERNAL
          .withDescription("the server ended the verification of tenant '" + tenant + "' without a summary")
          .asRuntimeException();
    }
    return new Result(summary, findings);
  }

  /** One finding as a line: {@code KIND  SOURCE_ID  FIELD  MESSAGE}; a missing field shows as "-". */
  static String line(VerifyFinding f) {
    String kind = f.getKind() == FindingKind.UNRECOGNIZED ? "UNKNOWN" : f.getKind().name();
    kind = kind.startsWith("FINDING_KIND_") ? kind.substring("FINDING_KIND_".length()) : kind;
    return MigrationText.sanitize(kind + "  " + f.getSourceId() + "  " + (f.getField().isEmpty() ? "-" : f.getField())
        + "  " + f.getMessage());
  }

  /** The closing line of a verification, for people. */
  static String summaryLine(String tenant, Result r) {
    return MigrationText.sanitize("Tenant " + tenant + ": " + r.summary().getChecked() + " items checked, "
        + (r.clean() ? "clean" : Math.max(r.summary().getFindings(), r.findingsSeen()) + " findings"));
  }
}
