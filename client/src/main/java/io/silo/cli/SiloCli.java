package io.silo.cli;

import java.io.PrintWriter;
import java.time.Duration;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

/** Root of the {@code silo} command tree: holds the global options and the lazily opened server connection. */
@Command(
    name = "silo",
    mixinStandardHelpOptions = true,
    versionProvider = SiloCli.Version.class,
    description = "Control Silo, the tenant storage isolation server, over gRPC.",
    subcommands = {
        HealthCommand.class, TenantsCommand.class, KeysCommand.class,
        PlanCommand.class, MigrateCommand.class, MigrateAllCommand.class, StatusCommand.class, WatchCommand.class,
        PauseCommand.class, ResumeCommand.class, CancelCommand.class, ReportCommand.class,
        VerifyCommand.class, VerifyAllCommand.class, RollbackCommand.class, PurgeCommand.class,
        AuditCommand.class, UsageCommand.class, UrlCommand.class, CommandLine.HelpCommand.class})
public final class SiloCli implements Runnable {

  /** Default server address, matching the server's default gRPC port. */
  static final String DEFAULT_SERVER = "localhost:50051";

  @Spec CommandSpec spec;

  // scope = INHERIT makes every option usable after any subcommand too
  // ("silo tenants list --output json"); picocli binds the inherited copies to
  // these same fields, so commands read the values from the root object.
  @Option(
      names = "--server",
      paramLabel = "HOST:PORT",
      scope = ScopeType.INHERIT,
      defaultValue = "${env:SILO_SERVER:-" + DEFAULT_SERVER + "}",
      description = "Silo server address (env SILO_SERVER; default " + DEFAULT_SERVER + ").")
  String server;

  // The token's value must never appear in help or errors, hence NEVER.
  @Option(
      names = "--token",
      paramLabel = "TOKEN",
      scope = ScopeType.INHERIT,
      defaultValue = "${env:SILO_TOKEN}",
      showDefaultValue = CommandLine.Help.Visibility.NEVER,
      description = "Bearer token sent as 'authorization' metadata (env SILO_TOKEN; for a loopback server,"
          + " default: the dev token in ./.silo-data/admin-token).")
  String token;

  @Option(
      names = {"-o", "--output"},
      paramLabel = "FORMAT",
      scope = ScopeType.INHERIT,
      defaultValue = "table",
      converter = OutputFormat.Converter.class,
      completionCandidates = OutputFormat.Candidates.class,
      description = "Output format: table or json (default table).")
  OutputFormat output;

  // Boolean (not boolean) so that "not given" is distinguishable from false:
  // when neither flag is given the choice depends on the host.
  @Option(
      names = "--plaintext",
      scope = ScopeType.INHERIT,
      description = "Connect without TLS (the default for localhost and loopback addresses).")
  Boolean plaintext;

  @Option(
      names = "--tls",
      scope = ScopeType.INHERIT,
      description = "Connect with TLS (the default for every other host).")
  Boolean tls;

  @Option(
      names = "--ca-file",
      paramLabel = "PEM",
      scope = ScopeType.INHERIT,
      defaultValue = "${env:SILO_CA_FILE}",
      description = "CA certificate(s) to trust for the server's TLS certificate instead of the JVM's (env"
          + " SILO_CA_FILE); implies --tls.")
  java.io.File caFile;

  @Option(
      names = "--cert-file",
      paramLabel = "PEM",
      scope = ScopeType.INHERIT,
      defaultValue = "${env:SILO_CERT_FILE}",
      description = "Client certificate for mutual TLS (env SILO_CERT_FILE); needs --key-file, implies --tls.")
  java.io.File certFile;

  @Option(
      names = "--key-file",
      paramLabel = "PEM",
      scope = ScopeType.INHERIT,
      defaultValue = "${env:SILO_KEY_FILE}",
      description = "Private key (PKCS#8 PEM) of --cert-file (env SILO_KEY_FILE).")
  java.io.File keyFile;

  @Option(
      names = "--timeout",
      paramLabel = "DURATION",
      scope = ScopeType.INHERIT,
      defaultValue = "30s",
      converter = DurationConverter.class,
      description = "Deadline of each call, e.g. 500ms, 30s, 2m (default 30s). Streams (watch, --follow, "
          + "verify) have none: they last as long as the work and end with Ctrl-C.")
  Duration timeout;

  private GrpcConnection connection;

  /** Runs the CLI and exits the JVM with its exit code. */
  public static void main(String[] args) {
    System.exit(commandLine().execute(args));
  }

  /**
   * Builds the command line as {@code main} runs it. Usage errors are printed as
   * one {@code silo: ...} line plus a pointer to --help instead of picocli's
   * full usage text, which buries the actual mistake.
   */
  public static CommandLine commandLine() {
    return new CommandLine(new SiloCli()).setParameterExceptionHandler(SiloCli::usageError);
  }

  private static int usageError(CommandLine.ParameterException e, String[] args) {
    CommandLine cmd = e.getCommandLine();
    PrintWriter err = cmd.getErr();
    err.println("silo: " + e.getMessage());
    // Unknown options often are typos; picocli knows the near matches.
    CommandLine.UnmatchedArgumentException.printSuggestions(e, err);
    err.println("Try '" + cmd.getCommandSpec().qualifiedName() + " --help' for more information.");
    err.flush();
    return cmd.getCommandSpec().exitCodeOnInvalidInput();
  }

  @Override
  public void run() {
    // "silo" alone is a usage error (exit 2), not a silent success.
    throw new CommandLine.ParameterException(spec.commandLine(), "Missing command: choose one of " + spec.subcommands().keySet());
  }

  /** Output format chosen with --output. */
  OutputFormat output() {
    return output;
  }

  /**
   * Returns the connection, opening it on first use so that commands which never
   * talk to the server (help, usage errors) never resolve the address. Bad
   * connection options are reported against {@code current}, the command being
   * run, so that its usage is the one suggested.
   */
  GrpcConnection connection(CommandLine current) {
    if (connection == null) {
      try {
        connection = new GrpcConnection(connectionSettings(current));
      } catch (java.io.IOException e) {
        throw new CommandLine.ParameterException(current, "cannot use the TLS files: " + e.getMessage());
      }
    }
    return connection;
  }

  /** Closes the connection if one was opened. */
  void closeConnection() {
    if (connection != null) {
      connection.close();
      connection = null;
    }
  }

  private GrpcConnection.Settings connectionSettings(CommandLine current) {
    ServerAddress address;
    try {
      address = ServerAddress.parse(server);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(current, "Invalid value for option '--server': " + e.getMessage());
    }
    if (Boolean.TRUE.equals(plaintext) && Boolean.TRUE.equals(tls)) {
      throw new CommandLine.ParameterException(current, "--plaintext and --tls are mutually exclusive");
    }
    if ((certFile == null) != (keyFile == null)) {
      throw new CommandLine.ParameterException(current, "--cert-file and --key-file go together: mutual TLS needs"
          + " the client certificate and its private key");
    }
    for (java.io.File file : new java.io.File[] {caFile, certFile, keyFile}) {
      if (file != null && !file.canRead()) {
        throw new CommandLine.ParameterException(current, "cannot read " + file);
      }
    }
    boolean tlsFiles = caFile != null || certFile != null;
    if (tlsFiles && Boolean.TRUE.equals(plaintext)) {
      throw new CommandLine.ParameterException(current, "--plaintext cannot be combined with --ca-file or --cert-file");
    }
    boolean useTls;
    if (Boolean.TRUE.equals(tls) || tlsFiles) {
      useTls = true;
    } else if (Boolean.TRUE.equals(plaintext)) {
      useTls = false;
    } else {
      useTls = !address.isLoopback();
    }
    if (timeout.isNegative() || timeout.isZero()) {
      throw new CommandLine.ParameterException(current, "Invalid value for option '--timeout': must be positive");
    }
    // Neither --token nor SILO_TOKEN (an explicitly empty --token means "send none"): try the dev server's token.
    String effectiveToken = token != null ? token : DevToken.find(address);
    return new GrpcConnection.Settings(address, useTls, effectiveToken, timeout,
        new GrpcConnection.TlsFiles(caFile, certFile, keyFile));
  }

  /** Reports the client version from the jar manifest. */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = SiloCli.class.getPackage().getImplementationVersion();
      return new String[] {"silo " + (v == null ? "(development build)" : v)};
    }
  }
}
