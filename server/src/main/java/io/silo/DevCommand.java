package io.silo;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

/** `silo-server dev`: the embedded dev stack (PostgreSQL, MongoDB-wire server, S3 server, local KMS key) in one process. */
@Command(name = "dev", description = "Start Silo with an embedded PostgreSQL, MongoDB-wire server, S3 server and local KMS key.")
final class DevCommand implements Callable<Integer> {
  @Override
  public Integer call() {
    System.err.println("silo-server dev: the embedded dev stack is being assembled");
    return 1;
  }
}
