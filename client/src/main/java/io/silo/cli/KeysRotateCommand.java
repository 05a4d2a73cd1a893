package io.silo.cli;

import io.silo.api.v1.MasterKey;
import io.silo.api.v1.RetireMasterKeyResponse;
import io.silo.api.v1.RotateTenantKeyRequest;
import io.silo.api.v1.RotateTenantKeyResponse;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code silo keys rotate}: re-wraps a tenant's data key under a new master key (RotateTenantKey), optionally the
 * tenant's own AWS CMK, and optionally retires the old AWS master key afterwards (RetireMasterKey).
 */
@Command(
    name = "rotate",
    mixinStandardHelpOptions = true,
    description = "Re-wrap the tenant's data key under a new master key. Data is not re-encrypted; "
        + "other tenants are not touched.")
public final class KeysRotateCommand extends SiloCommand {

  @Parameters(index = "0", paramLabel = "TENANT", description = "Tenant slug.")
  String tenant;

  // Required, but checked in execute() rather than by picocli: with --master-key
  // alone, "a master key needs a provider" says more than "missing --provider".
  @Option(names = "--provider", paramLabel = "PROVIDER",
      description = "Required. KMS provider of the new master key, configured on the server.")
  String provider;

  @Option(names = "--master-key", paramLabel = "JSON", converter = MasterKeyOptions.JsonObjectConverter.class,
      description = "Provider-specific descriptor of the new master key as a JSON object. Needs --provider.")
  String masterKey;

  @Option(names = "--idempotency-key", paramLabel = "KEY",
      description = "Optional key: retrying with it reports the earlier rotation instead of rotating again.")
  String idempotencyKey;

  @Option(names = "--new-cmk",
      description = "Rotate to the tenant's own AWS KMS key (alias/silo/tenant-<slug>), created if missing, in the "
          + "--provider's region or the one --master-key '{\"region\":...}' names. --provider must be aws or aws:<name>.")
  boolean newCmk;

  @Option(names = "--retire-old-cmk",
      description = "After the rotation, schedule the deletion of the previous AWS KMS master key (refused while "
          + "any data key still uses it).")
  boolean retireOldCmk;

  @Option(names = "--pending-window-days", paramLabel = "DAYS", defaultValue = "30",
      description = "With --retire-old-cmk: days until AWS deletes the old key, 7-30 (default: ${DEFAULT-VALUE}).")
  int pendingWindowDays;

  @Override
  protected int execute() {
    // Validated before connection() so that a usage error never reaches the server.
    MasterKey master = MasterKeyOptions.of(spec.commandLine(), provider, masterKey);
    if (master.getProvider().isEmpty()) {
      throw new CommandLine.ParameterException(spec.commandLine(), "Missing required option: '--provider=PROVIDER'");
    }
    if (retireOldCmk) {
      RetireOptions.checkWindow(spec.commandLine(), pendingWindowDays);
    }
    RotateTenantKeyRequest.Builder request = RotateTenantKeyRequest.newBuilder().setTenant(tenant)
        .setNewMasterKey(master).setNewCmk(newCmk);
    if (idempotencyKey != null) {
      request.setIdempotencyKey(idempotencyKey);
    }
    RotateTenantKeyResponse response = connection().keys().rotateTenantKey(request.build());
    Printer printer = printer();
    String to = KeyTable.provider(response.getKey().getMasterKey().getProvider());
    // A replay under an already used idempotency key reports the key as it is
    // now and carries no previous master key; saying "from (unknown)" would mislead.
    String change = response.hasPreviousMasterKey()
        ? "provider " + KeyTable.provider(response.getPreviousMasterKey().getProvider()) + " -> " + to
        : "now under provider " + to + ", rotated by an earlier call with this idempotency key";
    printer.note("Rotated key " + response.getKey().getKeyId() + " for tenant " + response.getKey().getTenant()
        + ": " + change + " (audit id " + response.getAuditId() + ")");
    if (response.hasCmk()) {
      printer.note((response.getCmk().getCreated() ? "Created" : response.getCmk().getAdopted() ? "Adopted" : "Reused")
          + " the tenant's CMK " + response.getCmk().getKeyArn() + " (" + response.getCmk().getAlias() + ")");
    }
    printer.print(response, () -> KeyTable.of(List.of(response.getKey())));
    if (retireOldCmk) {
      return retirePrevious(response, printer);
    }
    return OK;
  }

  /**
   * Retires the master key the rotation moved away from. The rotation stands whatever happens here; a refusal is
   * reported as an error after it.
   */
  private int retirePrevious(RotateTenantKeyResponse response, Printer printer) {
    MasterKey previous = response.getPreviousMasterKey();
    if (!previous.getProvider().equals("aws") && !previous.getProvider().startsWith("aws:")) {
      printer.note("Nothing to retire: the previous master key was under provider "
          + KeyTable.provider(previous.getProvider()) + ", not an AWS KMS key");
      return OK;
    }
    RetireMasterKeyResponse retired = RetireOptions.retire(connection(), previous, pendingWindowDays);
    printer.note(RetireOptions.describe(retired));
    return OK;
  }
}
