package io.silo.cli;

import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code silo health}: asks the server's grpc.health.v1 service whether it is serving. */
@Command(
    name = "health",
    mixinStandardHelpOptions = true,
    description = "Check the server's health (grpc.health.v1). Exits 1 unless SERVING.")
public final class HealthCommand extends SiloCommand {

  @Option(
      names = "--service",
      paramLabel = "NAME",
      defaultValue = "",
      description = "Service to check; empty (the default) means the whole server.")
  String service;

  @Override
  protected int execute() {
    HealthCheckResponse response =
        connection().health().check(HealthCheckRequest.newBuilder().setService(service).build());
    printer().print(response, () -> Table.value(response.getStatus().name()));
    return response.getStatus() == HealthCheckResponse.ServingStatus.SERVING ? OK : FAILED;
  }
}
