package io.silo.cli;

import io.silo.api.v1.MasterKey;
import io.silo.api.v1.RetireMasterKeyRequest;
import io.silo.api.v1.RetireMasterKeyResponse;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code silo keys retire-cmk}: schedules the deletion of an AWS KMS master key no data key uses (RetireMasterKey). */
@Command(
    name = "retire-cmk",
    mixinStandardHelpOptions = true,
    description = "Schedule the deletion of an AWS KMS master key after a grace period. Refused while any data key "
        + "is still wrapped by it (an alias and the key it points at count as the same key).")
public final class KeysRetireCmkCommand extends SiloCommand {

  @Option(names = "--provider", required = true, paramLabel = "PROVIDER",
      description = "The aws provider the key belongs to: aws or aws:<name>.")
  String provider;

  @Option(names = "--master-key", required = true, paramLabel = "JSON",
      converter = MasterKeyOptions.JsonObjectConverter.class,
      description = "The key as a JSON object: '{\"key\":\"arn:aws:kms:...\"}', optionally with \"region\".")
  String masterKey;

  @Option(names = "--pending-window-days", paramLabel = "DAYS", defaultValue = "30",
      description = "Days until AWS deletes the key, 7-30 (default: ${DEFAULT-VALUE}); it can be cancelled in AWS "
          + "KMS until then.")
  int pendingWindowDays;

  @Option(names = "--confirm", required = true, paramLabel = "KEY",
      description = "The key (the master key's \"key\") again, to confirm that it is to be deleted.")
  String confirm;

  @Override
  protected int execute() {
    RetireOptions.checkWindow(spec.commandLine(), pendingWindowDays);
    MasterKey key = MasterKeyOptions.of(spec.commandLine(), provider, masterKey);
    if (RetireOptions.key(masterKey).isEmpty()) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "--master-key must name the key to retire, e.g. '{\"key\":\"arn:aws:kms:...\"}'");
    }
    RetireMasterKeyResponse response = connection().keys().retireMasterKey(RetireMasterKeyRequest.newBuilder()
        .setMasterKey(key).setPendingWindowDays(pendingWindowDays).setConfirm(confirm).build());
    printer().print(response, () -> Table.value(RetireOptions.describe(response)));
    return OK;
  }
}
