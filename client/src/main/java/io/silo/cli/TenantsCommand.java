package io.silo.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code silo tenants}: the group of tenant commands (add, get, list). */
@Command(
    name = "tenants",
    mixinStandardHelpOptions = true,
    description = "Register, show and list tenants.",
    subcommands = {TenantsAddCommand.class, TenantsGetCommand.class, TenantsListCommand.class})
public final class TenantsCommand implements Runnable {

  @Spec CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(
        spec.commandLine(), "Missing command: choose one of " + spec.subcommands().keySet());
  }
}
