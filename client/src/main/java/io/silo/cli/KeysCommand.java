package io.silo.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code silo keys}: the group of tenant data key commands (create, list, rotate, shred, retire-cmk). */
@Command(
    name = "keys",
    mixinStandardHelpOptions = true,
    description = "Create, list, rotate and shred tenants' data encryption keys, and retire AWS master keys. "
        + "Key material is never shown.",
    subcommands = {KeysCreateCommand.class, KeysListCommand.class, KeysRotateCommand.class, KeysShredCommand.class,
        KeysRetireCmkCommand.class})
public final class KeysCommand implements Runnable {

  @Spec CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(
        spec.commandLine(), "Missing command: choose one of " + spec.subcommands().keySet());
  }
}
