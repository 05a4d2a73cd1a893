package io.silo.cli;

import io.silo.api.v1.CreateTenantKeyRequest;
import io.silo.api.v1.CreateTenantKeyResponse;
import io.silo.api.v1.MasterKey;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code silo keys create}: creates a tenant's data key (CreateTenantKey); returns the existing one if there is one. */
@Command(
    name = "create",
    mixinStandardHelpOptions = true,
    description = "Create the tenant's data encryption key. Creating it again returns the existing key.")
public final class KeysCreateCommand extends SiloCommand {

  @Parameters(index = "0", paramLabel = "TENANT", description = "Tenant slug; the tenant must be registered.")
  String tenant;

  @Option(names = "--provider", paramLabel = "PROVIDER",
      description = "KMS provider configured on the server: local, local:<name>, kmip, aws, azure, gcp, ... "
          + "Default: the server's default provider.")
  String provider;

  @Option(names = "--master-key", paramLabel = "JSON", converter = MasterKeyOptions.JsonObjectConverter.class,
      description = "Provider-specific master key descriptor as a JSON object, e.g. "
          + "'{\"key\":\"arn:aws:kms:...\",\"region\":\"eu-west-1\"}'. Needs --provider.")
  String masterKey;

  @Option(names = "--allow-after-shred",
      description = "Create a new key even though the tenant's previous key was shredded "
          + "(data under the shredded key stays unrecoverable).")
  boolean allowAfterShred;

  @Option(names = "--idempotency-key", paramLabel = "KEY",
      description = "Optional key recorded by the server to trace retries (at most 128 characters).")
  String idempotencyKey;

  @Option(names = "--new-cmk",
      description = "Wrap a new key with the tenant's own AWS KMS key (alias/silo/tenant-<slug>), created if missing. "
          + "--provider must be aws or aws:<name>.")
  boolean newCmk;

  @Override
  protected int execute() {
    // Validated before connection() so that a usage error never reaches the server.
    MasterKey master = MasterKeyOptions.of(spec.commandLine(), provider, masterKey);
    CreateTenantKeyRequest.Builder request =
        CreateTenantKeyRequest.newBuilder().setTenant(tenant).setAllowAfterShred(allowAfterShred).setNewCmk(newCmk);
    // Unset rather than empty when nothing was given: the server then picks its default provider.
    if (!master.equals(MasterKey.getDefaultInstance())) {
      request.setMasterKey(master);
    }
    if (idempotencyKey != null) {
      request.setIdempotencyKey(idempotencyKey);
    }
    CreateTenantKeyResponse response = connection().keys().createTenantKey(request.build());
    if (!response.getWarning().isEmpty()) {
      // On stderr in every output format: it must not break JSON on stdout, and
      // must not be missed by a script that only parses stdout either.
      err().println("silo: warning: " + response.getWarning());
      err().flush();
    }
    Printer printer = printer();
    String id = response.getKey().getKeyId();
    String what = " for tenant " + response.getKey().getTenant()
        + " (provider " + KeyTable.provider(response.getKey().getMasterKey().getProvider()) + ")";
    printer.note((response.getCreated() ? "Created key " + id
        : response.getAdopted() ? "Adopted the existing key " + id : "Key already existed: " + id) + what);
    printer.print(response, () -> KeyTable.of(List.of(response.getKey())));
    return OK;
  }
}
