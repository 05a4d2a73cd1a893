package io.silo.cli;

import io.silo.api.v1.FieldPlan;
import io.silo.api.v1.PlanMigrationRequest;
import io.silo.api.v1.PlanMigrationResponse;
import io.silo.api.v1.TenantPlan;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code silo plan}: dry run of a migration for some or all tenants (PlanMigration). Changes nothing. */
@Command(
    name = "plan",
    mixinStandardHelpOptions = true,
    description = "Preview a migration without changing anything: documents and objects to move, fields to encrypt, "
        + "whether the data key exists and the estimated time. Give tenants or --all.")
public final class PlanCommand extends SiloCommand {

  @Parameters(arity = "0..*", paramLabel = "TENANT", description = "Tenant slugs to plan.")
  List<String> tenants = new ArrayList<>();

  @Option(names = "--all", description = "Plan every registered tenant.")
  boolean all;

  @CommandLine.Mixin
  PhaseOptions phaseOptions = new PhaseOptions();

  @Override
  protected int execute() {
    if (all == !tenants.isEmpty()) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          all ? "Give tenants or --all, not both" : "Give at least one TENANT, or --all");
    }
    List<io.silo.api.v1.MigrationPhase> phases = phaseOptions.selected(spec.commandLine());
    PlanMigrationRequest.Builder builder = PlanMigrationRequest.newBuilder().addAllTenants(tenants).setAllTenants(all);
    if (!phases.isEmpty()) {
      builder.setDefinition(io.silo.api.v1.MigrationDefinition.newBuilder().addAllPhases(phases));
    }
    PlanMigrationRequest request = builder.build();
    PlanMigrationResponse response = connection().migrations().planMigration(request);
    Printer printer = printer();
    printer.print(response, () -> table(response.getPlansList()));
    // The full reason once per distinct path, not per tenant: with --all the table would repeat it on every row.
    java.util.Map<String, Long> paths = response.getPlansList().stream().map(TenantPlan::getEncryptionPath)
        .filter(path -> !path.isEmpty()).collect(java.util.stream.Collectors.groupingBy(path -> path,
            java.util.TreeMap::new, java.util.stream.Collectors.counting()));
    paths.forEach((path, count) -> printer.note(MigrationText.sanitize("Encryption: " + path
        + (response.getPlansCount() > 1 ? " (" + count + (count == 1 ? " tenant)" : " tenants)") : ""))));
    if (response.getPlansCount() > 1) {
      long documents = response.getPlansList().stream().mapToLong(TenantPlan::getDocuments).sum();
      long seconds = response.getPlansList().stream().mapToLong(p -> p.getEstimatedDuration().getSeconds()).sum();
      printer.note(response.getPlansCount() + " tenants, " + documents + " documents"
          + (seconds > 0 ? ", about " + MigrationText.duration(seconds) + " if run one after another" : ""));
    }
    return OK;
  }

  private static String plaintext(TenantPlan p) {
    List<String> parts = new java.util.ArrayList<>(p.getPlaintextFieldsList());
    p.getDroppedFieldsList().forEach(f -> parts.add(f + "(dropped)"));
    return parts.isEmpty() ? "-" : MigrationText.sanitize(String.join(",", parts));
  }

  private static Table table(List<TenantPlan> plans) {
    Table table = new Table("TENANT", "DOCUMENTS", "OBJECTS", "FIELDS", "PLAINTEXT", "KEY", "ENCRYPTION", "EST. TIME");
    for (TenantPlan p : plans) {
      List<String> fields = p.getFieldsList().stream().map(FieldPlan::getPath).toList();
      table.row(
          p.getTenant(),
          Long.toString(p.getDocuments()),
          Long.toString(p.getObjects()),
          String.join(",", fields),
          // Fields outside the plan copied as they are; dropped ones are marked, so every field's fate is visible.
          plaintext(p),
          // A missing key is not a problem: the migration's KEYS phase creates it.
          p.getKeyExists() ? "exists" : "created at start",
          // The path's first word (java, libmongocrypt, none); the reason is printed under the table.
          p.getEncryptionPath().isEmpty() ? "-" : MigrationText.sanitize(p.getEncryptionPath().split(" ", 2)[0]),
          MigrationText.duration(p.hasEstimatedDuration() ? p.getEstimatedDuration() : null));
    }
    return table;
  }
}
