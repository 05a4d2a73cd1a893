package io.silo.keys;

import io.silo.config.ConfigException;
import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.List;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;

/** Builds TLS contexts and trust managers for KMS connections from PEM files (CA bundle, client certificate, PKCS#8 key). */
final class PemSsl {

  private PemSsl() {
  }

  /**
   * An SSLContext trusting the given CA bundle (or the JVM's defaults when caFile is empty), presenting
   * the client certificate when certFile/keyFile are given. Setting names are used in error messages.
   */
  static SSLContext context(String caFile, String caSetting, String certFile, String certSetting,
                            String keyFile, String keySetting) {
    try {
      TrustManager[] trust = caFile.isEmpty() ? null : trustManagers(caFile, caSetting);
      KeyManagerFactory kmf = null;
      if (!certFile.isEmpty() || !keyFile.isEmpty()) {
        if (certFile.isEmpty() || keyFile.isEmpty()) {
          throw new ConfigException("'" + certSetting + "' and '" + keySetting + "' must be set together");
        }
        List<Certificate> chain = certificates(certFile, certSetting);
        PrivateKey key = privateKey(keyFile, keySetting);
        KeyStore identity = KeyStore.getInstance(KeyStore.getDefaultType());
        identity.load(null, null);
        char[] password = new char[0];
        identity.setKeyEntry("client", key, password, chain.toArray(new Certificate[0]));
        kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(identity, password);
      }
      SSLContext context = SSLContext.getInstance("TLS");
      context.init(kmf == null ? null : kmf.getKeyManagers(), trust, null);
      return context;
    } catch (ConfigException e) {
      throw e;
    } catch (Exception e) {
      throw new ConfigException("cannot build TLS context for KMS from '" + caSetting + "'/'" + certSetting + "': "
          + e.getMessage());
    }
  }

  /** Trust managers that trust exactly the CA bundle in {@code caFile}, for clients configured by trust managers. */
  static TrustManager[] trustManagers(String caFile, String caSetting) {
    try {
      KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
      trust.load(null, null);
      int i = 0;
      for (Certificate cert : certificates(caFile, caSetting)) {
        trust.setCertificateEntry("ca-" + i++, cert);
      }
      TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      tmf.init(trust);
      return tmf.getTrustManagers();
    } catch (ConfigException e) {
      throw e;
    } catch (Exception e) {
      throw new ConfigException("cannot build a trust store from '" + caSetting + "': " + e.getMessage());
    }
  }

  private static List<Certificate> certificates(String file, String setting) {
    try {
      byte[] bytes = Files.readAllBytes(Path.of(file));
      Collection<? extends Certificate> certs = CertificateFactory.getInstance("X.509")
          .generateCertificates(new ByteArrayInputStream(bytes));
      if (certs.isEmpty()) {
        throw new ConfigException("'" + setting + "' (" + file + ") holds no certificate");
      }
      return new ArrayList<>(certs);
    } catch (ConfigException e) {
      throw e;
    } catch (Exception e) {
      throw new ConfigException("cannot read certificates from '" + setting + "' (" + file + "): " + e.getMessage());
    }
  }

  private static PrivateKey privateKey(String file, String setting) {
    String pem;
    try {
      pem = Files.readString(Path.of(file));
    } catch (Exception e) {
      throw new ConfigException("cannot read '" + setting + "' (" + file + "): " + e.getMessage());
    }
    if (!pem.contains("-----BEGIN PRIVATE KEY-----")) {
      throw new ConfigException("'" + setting + "' must be an unencrypted PKCS#8 PEM key (BEGIN PRIVATE KEY); "
          + "convert with: openssl pkcs8 -topk8 -nocrypt -in key.pem -out key.pk8.pem");
    }
    String body = pem.substring(pem.indexOf("-----BEGIN PRIVATE KEY-----") + 27, pem.indexOf("-----END PRIVATE KEY-----"))
        .replaceAll("\\s", "");
    byte[] der = Base64.getDecoder().decode(body);
    for (String algorithm : List.of("RSA", "EC", "Ed25519")) {
      try {
        return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(der));
      } catch (Exception ignored) {
        // Try the next algorithm; PKCS#8 does not say which one up front in a way KeyFactory reads.
      }
    }
    throw new ConfigException("'" + setting + "' holds a private key of an unsupported algorithm");
  }
}
