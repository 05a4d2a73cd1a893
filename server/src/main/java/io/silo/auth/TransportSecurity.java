package io.silo.auth;

import io.silo.config.ConfigException;
import io.silo.config.SiloConfig;
import io.vertx.core.http.ClientAuth;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.core.net.PemTrustOptions;
import java.io.IOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.EnumSet;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How the gRPC port is protected: TLS from PEM files ({@code grpc.tls.*}), mutual TLS when a client CA is given, or
 * plaintext, which is only allowed on a loopback address or with an explicit {@code grpc.insecure: true}.
 */
public record TransportSecurity(Path certFile, Path keyFile, Path caFile, ClientAuth clientAuth) {

  private static final Logger LOG = LoggerFactory.getLogger(TransportSecurity.class);

  private static final Set<PosixFilePermission> GROUP_OR_OTHERS = EnumSet.of(
      PosixFilePermission.GROUP_READ, PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_EXECUTE,
      PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_WRITE, PosixFilePermission.OTHERS_EXECUTE);

  /**
   * Checks the {@code grpc.tls.*} files and the plaintext rule before anything listens.
   *
   * @throws ConfigException naming the setting (and file) at fault: a missing or unreadable file, a private key
   *     that group or others may read, a CA without a certificate, or plaintext on a non-loopback address without
   *     {@code grpc.insecure: true}
   */
  public static TransportSecurity from(SiloConfig config) {
    Path cert = file(config, "grpc.tls.certFile");
    Path key = file(config, "grpc.tls.keyFile");
    Path ca = file(config, "grpc.tls.caFile");
    if ((cert == null) != (key == null)) {
      throw new ConfigException("invalid setting '" + (cert == null ? "grpc.tls.certFile" : "grpc.tls.keyFile")
          + "': TLS needs both grpc.tls.certFile and grpc.tls.keyFile");
    }
    if (ca != null && cert == null) {
      throw new ConfigException("invalid setting 'grpc.tls.caFile': mutual TLS needs the server's own certificate"
          + " too; set grpc.tls.certFile and grpc.tls.keyFile");
    }
    if (key != null) {
      requireOwnerOnly(key, "grpc.tls.keyFile");
    }
    String host = config.string("grpc.host");
    if (cert == null && !config.bool("grpc.insecure") && !isLoopback(host)) {
      throw new ConfigException("refusing to serve plaintext on grpc.host '" + host + "', which is not a loopback"
          + " address: set grpc.tls.certFile and grpc.tls.keyFile, or set grpc.insecure: true if a TLS-terminating"
          + " proxy or a private network protects the port");
    }
    if (cert == null && !isLoopback(host)) {
      LOG.warn("serving PLAINTEXT on {} because grpc.insecure is true: tokens and data cross the network"
          + " unencrypted unless a TLS-terminating proxy or a private network protects the port", host);
    }
    ClientAuth auth = ca == null ? ClientAuth.NONE
        : config.string("grpc.tls.clientAuth").equals("optional") ? ClientAuth.REQUEST : ClientAuth.REQUIRED;
    return new TransportSecurity(cert, key, ca, auth);
  }

  /** Whether the port speaks TLS. */
  public boolean tls() {
    return certFile != null;
  }

  /** Whether clients are asked for certificates signed by the configured CA. */
  public boolean mutual() {
    return caFile != null;
  }

  /** How the start-up log line names this transport. */
  public String describe() {
    if (!tls()) {
      return "plaintext";
    }
    return mutual() ? "TLS, client certificates " + (clientAuth == ClientAuth.REQUIRED ? "required" : "optional")
        : "TLS";
  }

  /** Applies TLS (with ALPN, so HTTP/2 gRPC and HTTP/1.1 gRPC-Web share the port) or cleartext HTTP/2. */
  public HttpServerOptions apply(HttpServerOptions options) {
    if (!tls()) {
      return options.setHttp2ClearTextEnabled(true);
    }
    options.setSsl(true).setUseAlpn(true).setHttp2ClearTextEnabled(false)
        .setKeyCertOptions(new PemKeyCertOptions().setCertPath(certFile.toString()).setKeyPath(keyFile.toString()));
    if (caFile != null) {
      options.setTrustOptions(new PemTrustOptions().addCertPath(caFile.toString())).setClientAuth(clientAuth);
    }
    return options;
  }

  /**
   * Refuses a private key file that anyone but its owner may read or change, naming the setting and the file. On a
   * file system without POSIX permissions there is nothing to check.
   */
  public static void requireOwnerOnly(Path file, String setting) {
    PosixFileAttributeView view = Files.getFileAttributeView(file, PosixFileAttributeView.class);
    if (view == null) {
      return;
    }
    Set<PosixFilePermission> permissions;
    try {
      permissions = view.readAttributes().permissions();
    } catch (IOException e) {
      throw new ConfigException("invalid setting '" + setting + "': cannot read the permissions of " + file + ": "
          + e.getMessage());
    }
    if (permissions.stream().anyMatch(GROUP_OR_OTHERS::contains)) {
      throw new ConfigException("invalid setting '" + setting + "': the private key file " + file + " is accessible"
          + " to group or others (" + PosixFilePermissions.toString(permissions) + "); run chmod 600 " + file);
    }
  }

  private static Path file(SiloConfig config, String setting) {
    String value = config.string(setting);
    if (value.isEmpty()) {
      return null;
    }
    Path path = Path.of(value);
    if (!Files.isRegularFile(path) || !Files.isReadable(path)) {
      throw new ConfigException("invalid setting '" + setting + "': " + path + " is not a readable file");
    }
    return path;
  }

  /**
   * Whether {@code host} is a loopback address. An IP literal is judged as written; a name is resolved once, at
   * start-up, before anything listens.
   */
  static boolean isLoopback(String host) {
    if (host.equalsIgnoreCase("localhost")) {
      return true;
    }
    try {
      return InetAddress.getByName(host).isLoopbackAddress();
    } catch (UnknownHostException e) {
      return false;
    }
  }
}
