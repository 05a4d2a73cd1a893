package io.silo.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Struct;
import com.google.protobuf.util.JsonFormat;
import io.silo.api.v1.FindingKind;
import io.silo.api.v1.ListTenantsRequest;
import io.silo.api.v1.VerifyFinding;
import io.silo.api.v1.VerifySummary;
import io.silo.api.v1.VerifyTenantRequest;
import io.silo.api.v1.VerifyTenantResponse;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class VerifyCommandsTest extends ServerTest {

  private static VerifyTenantResponse finding(FindingKind kind, String id, String field, String message) {
    return VerifyTenantResponse.newBuilder()
        .setFinding(VerifyFinding.newBuilder().setKind(kind).setSourceId(id).setField(field).setMessage(message))
        .build();
  }

  private static VerifyTenantResponse progress(long checked) {
    return VerifyTenantResponse.newBuilder().setCheckedSoFar(checked).build();
  }

  private static VerifyTenantResponse summary(long checked, long findings) {
    return VerifyTenantResponse.newBuilder()
        .setSummary(VerifySummary.newBuilder().setChecked(checked).setFindings(findings).setClean(findings == 0))
        .build();
  }

  private void clean(String tenant) {
    migrations.verifyScripts.put(tenant, List.of(progress(100), summary(200, 0)));
  }

  private void twoFindings(String tenant) {
    migrations.verifyScripts.put(tenant, List.of(
        progress(100),
        finding(FindingKind.FINDING_KIND_NOT_ENCRYPTED, "{\"$oid\":\"65a1\"}", "ssn", "field is not ciphertext"),
        finding(FindingKind.FINDING_KIND_MISSING_TARGET, "{\"$oid\":\"65a2\"}", "", "no target document"),
        summary(200, 2)));
  }

  @Test
  void verifyOfACleanTenantExitsZeroWithTheSummary() {
    clean("acme");
    CliRun run = silo("verify", "acme");
    assertThat(run.exitCode()).isZero();
    assertThat(migrations.requests).containsExactly(VerifyTenantRequest.newBuilder().setTenant("acme").build());
    assertThat(run.out()).isEqualTo("Tenant acme: 200 items checked, clean\n");
    assertThat(migrations.streamDeadlines).as("a verify may take longer than --timeout").containsExactly(Optional.empty());
  }

  @Test
  void verifyPrintsEachFindingAsALineAndExitsOne() {
    twoFindings("acme");
    CliRun run = silo("verify", "acme");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.out()).isEqualTo(
        "NOT_ENCRYPTED  {\"$oid\":\"65a1\"}  ssn  field is not ciphertext\n"
            + "MISSING_TARGET  {\"$oid\":\"65a2\"}  -  no target document\n"
            + "Tenant acme: 200 items checked, 2 findings\n");
  }

  @Test
  void verifyJsonIsOneStreamMessagePerLine() throws Exception {
    twoFindings("acme");
    CliRun run = silo("verify", "acme", "-o", "json");
    assertThat(run.exitCode()).isEqualTo(1);
    List<String> lines = run.out().lines().toList();
    assertThat(lines).hasSize(4);
    for (int i = 0; i < lines.size(); i++) {
      VerifyTenantResponse.Builder parsed = VerifyTenantResponse.newBuilder();
      JsonFormat.parser().merge(lines.get(i), parsed);
      assertThat(parsed.build()).isEqualTo(migrations.verifyScripts.get("acme").get(i));
    }
  }

  @Test
  void verifyOfATenantWithoutMigratedDataExitsOneWithNotFound() {
    CliRun run = silo("verify", "acme");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.out()).isEmpty();
    assertThat(run.err()).isEqualTo("silo: NOT_FOUND: tenant: tenant 'acme' has no migrated data\n");
  }

  @Test
  void verifyEndingWithoutASummaryIsAFailure() {
    migrations.verifyScripts.put("acme", List.of(progress(10)));
    CliRun run = silo("verify", "acme");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.err()).isEqualTo("silo: INTERNAL: the server ended the verification of tenant 'acme' without a summary\n");
  }

  @Test
  void verifyAllWalksEveryTenantPageAndExitsOneIfAnyHasFindings() {
    seedTenants("t1", "t2", "t3", "t4", "t5");
    server.defaultTenantPageSize = 2;
    for (String t : List.of("t1", "t2", "t3", "t5")) {
      clean(t);
    }
    twoFindings("t4");
    CliRun run = silo("verify-all");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(server.listRequests).extracting(ListTenantsRequest::getPageToken).containsExactly("", "off-2", "off-4");
    assertThat(migrations.requests).extracting(r -> ((VerifyTenantRequest) r).getTenant())
        .containsExactly("t1", "t2", "t3", "t4", "t5");
    List<String> lines = run.out().lines().toList();
    assertThat(lines).satisfiesExactly(
        l -> assertThat(l).isEqualTo("t4  NOT_ENCRYPTED  {\"$oid\":\"65a1\"}  ssn  field is not ciphertext"),
        l -> assertThat(l).isEqualTo("t4  MISSING_TARGET  {\"$oid\":\"65a2\"}  -  no target document"),
        l -> assertThat(l).matches("TENANT +CHECKED +FINDINGS +RESULT"),
        l -> assertThat(l).matches("t1 +200 +0 +clean"),
        l -> assertThat(l).matches("t2 +200 +0 +clean"),
        l -> assertThat(l).matches("t3 +200 +0 +clean"),
        l -> assertThat(l).matches("t4 +200 +2 +FINDINGS"),
        l -> assertThat(l).matches("t5 +200 +0 +clean"),
        l -> assertThat(l).isEqualTo("5 tenants verified: 4 clean, 1 not"));
    assertThat(run.err()).contains("verified t1 (1/5): clean\n", "verified t4 (4/5): 2 findings\n");
  }

  @Test
  void verifyAllRecordsATenantThatCannotBeVerifiedAndGoesOn() {
    seedTenants("t1", "t2");
    clean("t2");
    CliRun run = silo("verify-all");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.out()).containsPattern("t1 +- +- +error: NOT_FOUND: tenant: tenant 't1' has no migrated data")
        .containsPattern("t2 +200 +0 +clean");
  }

  @Test
  void verifyAllOfCleanTenantsExitsZeroAndJsonLinesNameTheTenant() throws Exception {
    seedTenants("t1", "t2");
    clean("t1");
    clean("t2");
    CliRun run = silo("verify-all", "-o", "json");
    assertThat(run.exitCode()).isZero();
    List<String> lines = run.out().lines().toList();
    assertThat(lines).hasSize(2);
    Struct.Builder first = Struct.newBuilder();
    JsonFormat.parser().merge(lines.get(0), first);
    assertThat(first.getFieldsOrThrow("tenant").getStringValue()).isEqualTo("t1");
    assertThat(first.getFieldsOrThrow("summary").getStructValue().getFieldsOrThrow("clean").getBoolValue()).isTrue();
    Struct.Builder second = Struct.newBuilder();
    JsonFormat.parser().merge(lines.get(1), second);
    assertThat(second.getFieldsOrThrow("tenant").getStringValue()).isEqualTo("t2");
    Struct summary = second.getFieldsOrThrow("summary").getStructValue();
    assertThat(summary.getFieldsOrThrow("checked").getStringValue()).isEqualTo("200");
    assertThat(summary.getFieldsOrThrow("findings").getStringValue()).isEqualTo("0");
    assertThat(summary.getFieldsOrThrow("clean").getBoolValue()).isTrue();
  }
}
