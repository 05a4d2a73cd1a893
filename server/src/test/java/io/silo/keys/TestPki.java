package io.silo.keys;

import java.io.IOException;
import java.io.StringWriter;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.concurrent.atomic.AtomicLong;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/** Test-time certificates: a throw-away CA that issues a loopback server certificate and a client certificate. */
final class TestPki {

  /** A certificate with its private key. */
  record Issued(X509Certificate certificate, KeyPair keys) {
    String certificatePem() {
      return pem(certificate);
    }

    /** PKCS#8 "PRIVATE KEY" PEM, which both Vert.x and Python's ssl module read. */
    String privateKeyPem() {
      return "-----BEGIN PRIVATE KEY-----\n"
          + java.util.Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII))
              .encodeToString(keys.getPrivate().getEncoded())
          + "\n-----END PRIVATE KEY-----\n";
    }
  }

  private static final AtomicLong SERIAL = new AtomicLong(System.currentTimeMillis());

  final Issued ca;
  final Issued server;
  final Issued client;

  TestPki() {
    try {
      KeyPair caKeys = rsa();
      X500Name caName = new X500Name("CN=Silo test CA");
      X509v3CertificateBuilder cab = builder(caName, caName, caKeys);
      cab.addExtension(Extension.basicConstraints, true, new BasicConstraints(0));
      cab.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
      cab.addExtension(Extension.subjectKeyIdentifier, false,
          new JcaX509ExtensionUtils().createSubjectKeyIdentifier(caKeys.getPublic()));
      ca = new Issued(sign(cab, caKeys), caKeys);

      KeyPair serverKeys = rsa();
      X509v3CertificateBuilder sb = builder(caName, new X500Name("CN=localhost"), serverKeys);
      sb.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(new GeneralName[] {
          new GeneralName(GeneralName.iPAddress, "127.0.0.1"), new GeneralName(GeneralName.dNSName, "localhost")}));
      sb.addExtension(Extension.keyUsage, true,
          new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment));
      sb.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_serverAuth));
      sb.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
      server = new Issued(sign(sb, caKeys), serverKeys);

      KeyPair clientKeys = rsa();
      // PyKMIP takes the KMIP client identity from the certificate's common name.
      X509v3CertificateBuilder clb = builder(caName, new X500Name("CN=silo-client"), clientKeys);
      clb.addExtension(Extension.keyUsage, true,
          new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment));
      clb.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_clientAuth));
      clb.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
      client = new Issued(sign(clb, caKeys), clientKeys);
    } catch (Exception e) {
      throw new IllegalStateException("cannot make test certificates", e);
    }
  }

  /** A client SSLContext that trusts only this CA and, when {@code withClientCert}, presents the client cert. */
  SSLContext clientContext(boolean withClientCert) {
    try {
      KeyStore trust = KeyStore.getInstance("PKCS12");
      trust.load(null, null);
      trust.setCertificateEntry("ca", ca.certificate());
      TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      tmf.init(trust);
      KeyManagerFactory kmf = null;
      if (withClientCert) {
        char[] pw = "test".toCharArray();
        KeyStore keys = KeyStore.getInstance("PKCS12");
        keys.load(null, null);
        keys.setKeyEntry("client", client.keys().getPrivate(), pw,
            new java.security.cert.Certificate[] {client.certificate(), ca.certificate()});
        kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(keys, pw);
      }
      SSLContext ctx = SSLContext.getInstance("TLS");
      ctx.init(kmf == null ? null : kmf.getKeyManagers(), tmf.getTrustManagers(), new SecureRandom());
      return ctx;
    } catch (GeneralSecurityException | IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Trust managers for this CA only (for clients configured by trust managers rather than an SSLContext). */
  javax.net.ssl.TrustManager[] trustManagers() {
    try {
      KeyStore trust = KeyStore.getInstance("PKCS12");
      trust.load(null, null);
      trust.setCertificateEntry("ca", ca.certificate());
      TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      tmf.init(trust);
      return tmf.getTrustManagers();
    } catch (GeneralSecurityException | IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Writes ca.pem, server.pem, server.key, client.pem, client.key into {@code dir} (keys readable by owner only). */
  void writePem(Path dir) throws IOException {
    Files.createDirectories(dir);
    Files.writeString(dir.resolve("ca.pem"), ca.certificatePem());
    Files.writeString(dir.resolve("server.pem"), server.certificatePem());
    writePrivate(dir.resolve("server.key"), server.privateKeyPem());
    Files.writeString(dir.resolve("client.pem"), client.certificatePem());
    writePrivate(dir.resolve("client.key"), client.privateKeyPem());
  }

  private static void writePrivate(Path file, String pem) throws IOException {
    Files.deleteIfExists(file);
    Files.createFile(file, java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
        java.nio.file.attribute.PosixFilePermissions.fromString("rw-------")));
    Files.writeString(file, pem);
  }

  static String pem(Object object) {
    StringWriter out = new StringWriter();
    try (JcaPEMWriter w = new JcaPEMWriter(out)) {
      w.writeObject(object);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
    return out.toString();
  }

  private static KeyPair rsa() throws GeneralSecurityException {
    KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
    g.initialize(2048);
    return g.generateKeyPair();
  }

  private static X509v3CertificateBuilder builder(X500Name issuer, X500Name subject, KeyPair subjectKeys) {
    Instant now = Instant.now();
    return new JcaX509v3CertificateBuilder(issuer, BigInteger.valueOf(SERIAL.incrementAndGet()),
        Date.from(now.minus(Duration.ofHours(1))), Date.from(now.plus(Duration.ofDays(2))), subject,
        subjectKeys.getPublic());
  }

  private static X509Certificate sign(X509v3CertificateBuilder b, KeyPair issuerKeys) throws Exception {
    return new JcaX509CertificateConverter()
        .getCertificate(b.build(new JcaContentSignerBuilder("SHA256withRSA").build(issuerKeys.getPrivate())));
  }
}
