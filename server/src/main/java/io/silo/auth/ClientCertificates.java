package io.silo.auth;

import io.silo.config.ConfigException;
import io.vertx.core.http.HttpConnection;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.security.auth.x500.X500Principal;

/**
 * The client certificate subjects ({@code auth.clientCertificates}) that mutual TLS maps to a role and an optional
 * tenant. Subjects are compared in canonical form, so spacing and letter case in the configured name do not matter.
 */
public final class ClientCertificates {

  /** The setting that lists the mapped subjects, as {@code SUBJECT-DN:role[:tenant]} entries. */
  public static final String SETTING = "auth.clientCertificates";

  private static final Pattern TENANT = Pattern.compile("[a-z0-9][a-z0-9-]{1,38}[a-z0-9]");

  private final Map<String, Principal> bySubject;

  private ClientCertificates(Map<String, Principal> bySubject) {
    this.bySubject = Map.copyOf(bySubject);
  }

  /**
   * Parses the configured entries. The role and tenant are read from the right, because a subject may itself hold
   * colons and commas ({@code CN=ops-bot,O=Example:operator:acme-health}).
   *
   * @throws ConfigException naming the entry that is malformed or maps a subject twice
   */
  public static ClientCertificates parse(List<String> configured) {
    Map<String, Principal> out = new HashMap<>();
    for (int i = 0; i < configured.size(); i++) {
      String where = SETTING + "[" + i + "]";
      String entry = configured.get(i).trim();
      int last = entry.lastIndexOf(':');
      if (last <= 0) {
        throw new ConfigException("invalid setting '" + where + "': expected SUBJECT-DN:role[:tenant]");
      }
      String subject = entry.substring(0, last);
      Role role = Role.parse(entry.substring(last + 1));
      String tenant = null;
      if (role == null) {
        int before = subject.lastIndexOf(':');
        role = before <= 0 ? null : Role.parse(subject.substring(before + 1));
        tenant = entry.substring(last + 1);
        subject = before <= 0 ? subject : subject.substring(0, before);
        if (role == null) {
          throw new ConfigException("invalid setting '" + where + "': role must be viewer, operator or admin"
              + " (expected SUBJECT-DN:role[:tenant])");
        }
        if (!TENANT.matcher(tenant).matches()) {
          throw new ConfigException("invalid setting '" + where + "': the tenant must be a tenant slug");
        }
      }
      X500Principal name;
      try {
        name = new X500Principal(subject.trim());
      } catch (IllegalArgumentException e) {
        throw new ConfigException("invalid setting '" + where + "': '" + subject + "' is not a distinguished name"
            + " such as CN=ops-bot,O=Example");
      }
      String key = name.getName(X500Principal.CANONICAL);
      if (out.putIfAbsent(key, new Principal(name.getName(X500Principal.RFC2253), role, tenant,
          Principal.Kind.CERTIFICATE)) != null) {
        throw new ConfigException("invalid setting '" + where + "': subject '" + subject + "' is mapped twice");
      }
    }
    return new ClientCertificates(out);
  }

  /** Whether no subject is mapped. */
  public boolean isEmpty() {
    return bySubject.isEmpty();
  }

  /** The caller a verified client certificate's subject is mapped to, if any. */
  public Optional<Principal> authenticate(X500Principal subject) {
    return subject == null ? Optional.empty()
        : Optional.ofNullable(bySubject.get(subject.getName(X500Principal.CANONICAL)));
  }

  /**
   * The subject of the client certificate a TLS connection verified, or null for a plaintext connection or a
   * client that presented none. Only certificates the configured CA verified reach here: Vert.x fails the handshake
   * of any other.
   */
  public static X500Principal subjectOf(HttpConnection connection) {
    if (connection == null || !connection.isSsl()) {
      return null;
    }
    try {
      List<Certificate> chain = connection.peerCertificates();
      return chain == null || chain.isEmpty() || !(chain.get(0) instanceof X509Certificate leaf)
          ? null : leaf.getSubjectX500Principal();
    } catch (SSLPeerUnverifiedException e) {
      return null;
    }
  }
}
