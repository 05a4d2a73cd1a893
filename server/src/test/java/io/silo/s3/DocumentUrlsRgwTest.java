package io.silo.s3;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.core.async.AsyncRequestBody;
import software.amazon.awssdk.services.s3.S3AsyncClient;
import software.amazon.awssdk.services.s3.model.ServerSideEncryption;

/**
 * Silo's presigned URLs against a server that checks signatures (Ceph RGW 16.2): the URL works as signed, and a
 * tampered, expired or re-pointed one, or an upload without the signed encryption header, is refused with 403.
 */
class DocumentUrlsRgwTest {

  private static final String RUN = UUID.randomUUID().toString().substring(0, 6);
  private static RgwServer rgw;
  private static S3AsyncClient a;
  private static final HttpClient HTTP = HttpClient.newHttpClient();

  @BeforeAll
  static void connect() {
    rgw = RgwServer.require();
    a = rgw.clientA();
  }

  @AfterAll
  static void close() {
    if (a != null) {
      a.close();
    }
  }

  private static DocumentUrls urls(BucketSettings.Encryption encryption) {
    return new DocumentUrls(rgw.endpoint(), rgw.region(), true, rgw.credentialsA(), encryption, Clock.systemUTC());
  }

  private static HttpResponse<byte[]> get(String url) throws Exception {
    return HTTP.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofByteArray());
  }

  private static int put(DocumentUrls.Presigned url, String target, boolean withHeaders) throws Exception {
    HttpRequest.Builder put = HttpRequest.newBuilder(URI.create(target))
        .PUT(HttpRequest.BodyPublishers.ofString("scanned page"));
    if (withHeaders) {
      url.headers().forEach(put::header);
    }
    return HTTP.send(put.build(), HttpResponse.BodyHandlers.discarding()).statusCode();
  }

  @Test
  void aDownloadUrlServesTheObjectUnderItsOriginalNameAndATamperedOrRepointedOneIsRefused() throws Exception {
    String bucket = "silo-urls-" + RUN;
    a.createBucket(r -> r.bucket(bucket)).join();
    byte[] body = new byte[70_000];
    new Random(7).nextBytes(body);
    String key = "documents/1/résumé final.pdf";
    a.putObject(r -> r.bucket(bucket).key(key), AsyncRequestBody.fromBytes(body)).join();
    a.putObject(r -> r.bucket(bucket).key("documents/2/other.pdf"), AsyncRequestBody.fromString("other")).join();

    try (DocumentUrls urls = urls(BucketSettings.Encryption.aes256())) {
      DocumentUrls.Presigned url = urls.download(bucket, key, null, "résumé (final) 履歴書.pdf",
          DocumentUrls.DEFAULT_VALIDITY);
      HttpResponse<byte[]> ok = get(url.url());
      assertThat(ok.statusCode()).isEqualTo(200);
      assertThat(ok.body()).isEqualTo(body);
      assertThat(ok.headers().firstValue("Content-Disposition"))
          .hasValue(ContentDisposition.attachment("résumé (final) 履歴書.pdf"));

      String signature = url.url().substring(url.url().indexOf("X-Amz-Signature=") + "X-Amz-Signature=".length());
      String flipped = signature.substring(0, signature.length() - 1)
          + (signature.endsWith("0") ? "1" : "0");
      assertThat(get(url.url().replace(signature, flipped)).statusCode()).as("tampered signature").isEqualTo(403);
      String elsewhere = url.url().replace("/documents/1/r%C3%A9sum%C3%A9%20final.pdf", "/documents/2/other.pdf");
      assertThat(elsewhere).isNotEqualTo(url.url());
      assertThat(get(elsewhere).statusCode()).as("the signature for another key").isEqualTo(403);
    }
  }

  @Test
  void anExpiredUrlIsRefused() throws Exception {
    String bucket = "silo-expiry-" + RUN;
    a.createBucket(r -> r.bucket(bucket)).join();
    a.putObject(r -> r.bucket(bucket).key("documents/1/a.txt"), AsyncRequestBody.fromString("a")).join();
    try (DocumentUrls urls = urls(BucketSettings.Encryption.aes256())) {
      DocumentUrls.Presigned url = urls.download(bucket, "documents/1/a.txt", null, "a.txt", Duration.ofSeconds(2));
      assertThat(get(url.url()).statusCode()).as("within its validity").isEqualTo(200);
      long wait = Duration.between(Instant.now(), url.expireTime()).toMillis() + 1_500;
      Thread.sleep(Math.max(0, wait));
      assertThat(get(url.url()).statusCode()).as("after %s", url.expireTime()).isEqualTo(403);
    }
  }

  @Test
  void anUploadUrlWritesItsTempKeyOnlyWithTheSignedEncryptionHeaderThroughTheBucketPolicy() throws Exception {
    BucketSettings.Encryption kms = BucketSettings.Encryption.kms(rgw.kmsKeyId());
    BucketSettings settings = BucketSettings.strict(rgw.region()).withMode(BucketSettings.Mode.DEV)
        .withEncryption(kms);
    String bucket = new BucketProvisioner(a, settings, new BucketNamer(), BucketProvisioner.Journal.NONE)
        .ensure(new BucketProvisioner.TenantBucket("urls-" + RUN, null, null)).get(60, TimeUnit.SECONDS).bucket();
    // RGW 16.2 refuses the owner's own PutObject while BlockPublicAcls is on (see BucketProvisioner); the policy,
    // which denies uploads without the encryption header, stays.
    a.deletePublicAccessBlock(r -> r.bucket(bucket)).join();

    String key;
    try (DocumentUrls urls = urls(kms)) {
      DocumentUrls.Presigned url = urls.upload(bucket, "scan 01.pdf", Duration.ofMinutes(15), null);
      key = url.key();
      assertThat(url.key()).startsWith(DocumentUrls.UPLOAD_PREFIX).endsWith("/scan 01.pdf");

      assertThat(put(url, url.url(), false)).as("without the signed headers").isEqualTo(403);
      String documents = url.url().replace("/temp/", "/documents/");
      assertThat(documents).isNotEqualTo(url.url());
      assertThat(put(url, documents, true)).as("re-pointed outside temp/").isEqualTo(403);
      assertThat(put(url, url.url(), true)).isEqualTo(200);
    }
    assertThat(a.headObject(r -> r.bucket(bucket).key(key)).join().serverSideEncryption())
        .isEqualTo(ServerSideEncryption.AWS_KMS);
    assertThat(a.listObjectsV2(r -> r.bucket(bucket)).join().contents()).as("nothing written outside temp/")
        .singleElement().satisfies(o -> assertThat(o.key()).isEqualTo(key));
  }
}
