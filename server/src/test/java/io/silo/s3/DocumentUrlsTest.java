package io.silo.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.silo.SiloException;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.AwsSessionCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.regions.Region;

/**
 * What the SDK's presigner puts into Silo's URLs, read back from the signed query string: the validity (asked for,
 * defaulted, or cut to what temporary credentials have left), the version pinned, the Content-Disposition, and the
 * headers an upload must send. Signature checking by a real server is DocumentUrlsRgwTest's job.
 */
class DocumentUrlsTest {

  private static final URI ENDPOINT = URI.create("http://127.0.0.1:9");
  private static final AwsCredentialsProvider STATIC =
      StaticCredentialsProvider.create(AwsBasicCredentials.create("AKIDEXAMPLE", "secret-example"));

  private static DocumentUrls urls(AwsCredentialsProvider credentials, BucketSettings.Encryption encryption) {
    return new DocumentUrls(ENDPOINT, Region.US_EAST_1, true, credentials, encryption, Clock.systemUTC());
  }

  private static Map<String, String> query(String url) {
    Map<String, String> out = new HashMap<>();
    for (String pair : URI.create(url).getRawQuery().split("&")) {
      int eq = pair.indexOf('=');
      out.put(pair.substring(0, eq), URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8));
    }
    return out;
  }

  private static AwsCredentialsProvider sessionExpiringIn(Duration left) {
    return () -> AwsSessionCredentials.builder().accessKeyId("ASIAEXAMPLE").secretAccessKey("secret")
        .sessionToken("session-token-example").expirationTime(Instant.now().plus(left)).build();
  }

  @Test
  void aDownloadIsSignedForTheAskedValidityPinnedToTheVersionAndNamedAfterTheOriginalFile() {
    try (DocumentUrls urls = urls(STATIC, BucketSettings.Encryption.aes256())) {
      Instant before = Instant.now();
      DocumentUrls.Presigned url = urls.download("tenant-bucket", "documents/7/Q3 deck.pdf", "v-3",
          "Q3 deck (final).pdf", DocumentUrls.DEFAULT_VALIDITY);

      assertThat(url.url()).startsWith("http://127.0.0.1:9/tenant-bucket/documents/7/Q3%20deck.pdf?");
      Map<String, String> q = query(url.url());
      assertThat(q).containsEntry("X-Amz-Expires", "900").containsEntry("versionId", "v-3")
          .containsEntry("X-Amz-Algorithm", "AWS4-HMAC-SHA256")
          .containsEntry("response-content-disposition",
              "attachment; filename=\"Q3 deck (final).pdf\"; filename*=UTF-8''Q3%20deck%20%28final%29.pdf");
      Instant signedAt = DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'").withZone(ZoneOffset.UTC)
          .parse(q.get("X-Amz-Date"), Instant::from);
      assertThat(signedAt).isBetween(before.minusSeconds(1), Instant.now());
      // X-Amz-Date has whole seconds; the SDK's expiration keeps the signing clock's fraction.
      assertThat(url.expireTime()).isBetween(signedAt.plusSeconds(900), signedAt.plusSeconds(901));
      assertThat(url.notice()).isEmpty();
      assertThat(url.headers()).isEmpty();
    }
  }

  @Test
  void temporaryCredentialsCutTheValidityToWhatTheyHaveLeftAndSayWhy() {
    try (DocumentUrls urls = urls(sessionExpiringIn(Duration.ofMinutes(10)), BucketSettings.Encryption.aes256())) {
      DocumentUrls.Presigned cut = urls.download("b", "k", null, "f.pdf", Duration.ofHours(1));
      long expires = Long.parseLong(query(cut.url()).get("X-Amz-Expires"));
      assertThat(expires).isBetween(500L, 600L - DocumentUrls.CREDENTIALS_MARGIN.toSeconds());
      assertThat(cut.notice()).contains("instead of the 3600 s asked", "credentials expire at");
      assertThat(query(cut.url())).containsEntry("X-Amz-Security-Token", "session-token-example");

      DocumentUrls.Presigned kept = urls.download("b", "k", null, "f.pdf", Duration.ofMinutes(5));
      assertThat(query(kept.url())).containsEntry("X-Amz-Expires", "300");
      assertThat(kept.notice()).isEmpty();
    }
    try (DocumentUrls urls = urls(sessionExpiringIn(Duration.ofSeconds(10)), BucketSettings.Encryption.aes256())) {
      assertThatThrownBy(() -> urls.download("b", "k", null, "f.pdf", Duration.ofMinutes(5)))
          .isInstanceOf(SiloException.class).hasMessageContaining("credentials expire at")
          .satisfies(e -> assertThat(((SiloException) e).kind()).isEqualTo(SiloException.Kind.UNAVAILABLE));
    }
  }

  @Test
  void missingCredentialsAreUnavailableNamingTheSettings() {
    AwsCredentialsProvider none = () -> {
      throw new IllegalStateException("Unable to load credentials from any of the providers in the chain");
    };
    try (DocumentUrls urls = urls(none, BucketSettings.Encryption.aes256())) {
      assertThatThrownBy(() -> urls.upload("b", "a.pdf", Duration.ofMinutes(1), null))
          .isInstanceOf(SiloException.class).hasMessageContaining("s3.accessKeyId");
    }
  }

  @Test
  void anUploadIsSignedForANewTempKeyWithTheBucketsEncryptionHeaders() {
    try (DocumentUrls aes = urls(STATIC, BucketSettings.Encryption.aes256())) {
      DocumentUrls.Presigned url = aes.upload("tenant-bucket", "..\\..\\windows\\system32\\config\\SAM",
          Duration.ofMinutes(30), null);
      assertThat(url.key()).matches("temp/[0-9a-f]{8}-[0-9a-f-]{27}/SAM");
      assertThat(url.headers()).containsExactly(Map.entry("x-amz-server-side-encryption", "AES256"));
      assertThat(query(url.url())).containsEntry("X-Amz-Expires", "1800")
          .containsEntry("X-Amz-SignedHeaders", "host;x-amz-server-side-encryption");
      assertThat(aes.upload("tenant-bucket", "SAM", Duration.ofMinutes(1), null).key()).as("a fresh key each time")
          .isNotEqualTo(url.key());
    }
    try (DocumentUrls kms = urls(STATIC, BucketSettings.Encryption.kms("key-1"))) {
      assertThat(kms.upload("tenant-bucket", "a.pdf", Duration.ofMinutes(1), null).headers())
          .containsEntry("x-amz-server-side-encryption", "aws:kms")
          .containsEntry("x-amz-server-side-encryption-aws-kms-key-id", "key-1");
    }
  }

  @Test
  void anUploadIsSignedForTheBucketsOwnEncryptionWhenItDiffersFromTheConfiguredOne() {
    try (DocumentUrls configuredAes = urls(STATIC, BucketSettings.Encryption.aes256())) {
      assertThat(configuredAes.upload("tenant-bucket", "a.pdf", Duration.ofMinutes(1),
          BucketSettings.Encryption.kms("tenant-key")).headers())
          .containsEntry("x-amz-server-side-encryption", "aws:kms")
          .containsEntry("x-amz-server-side-encryption-aws-kms-key-id", "tenant-key");
    }
  }

  @Test
  void contentDispositionKeepsTheNameButDropsInvisibleCharactersAndPathSeparators() {
    assertThat(ContentDisposition.attachment("invoice\u202Efdp.exe"))
        .isEqualTo("attachment; filename=\"invoicefdp.exe\"; filename*=UTF-8''invoicefdp.exe");
    assertThat(ContentDisposition.attachment("../../etc/passwd"))
        .isEqualTo("attachment; filename=\".._.._etc_passwd\"; filename*=UTF-8''.._.._etc_passwd");
    assertThat(ContentDisposition.attachment("Ελληνικά\r\n\"x\".txt"))
        .isEqualTo("attachment; filename=\"_________x_.txt\"; filename*=UTF-8''%CE%95%CE%BB%CE%BB%CE%B7%CE%BD"
            + "%CE%B9%CE%BA%CE%AC%22x%22.txt");
    assertThat(ContentDisposition.attachment("\u200B")).isEqualTo("attachment; filename=\"download\";"
        + " filename*=UTF-8''download");
  }
}
