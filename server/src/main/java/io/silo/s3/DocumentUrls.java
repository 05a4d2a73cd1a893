package io.silo.s3;

import io.silo.SiloException;
import io.silo.config.ConfigException;
import io.silo.config.SiloConfig;
import java.net.URI;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.awscore.presigner.PresignedRequest;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Configuration;
import software.amazon.awssdk.services.s3.model.GetObjectRequest;
import software.amazon.awssdk.services.s3.model.PutObjectRequest;
import software.amazon.awssdk.services.s3.presigner.S3Presigner;

/**
 * Presigns SigV4 query-string URLs into tenant buckets: GET for one object version with a Content-Disposition that
 * restores the original filename, and PUT for a direct upload, only ever under {@value #UPLOAD_PREFIX}, signed with
 * the server-side encryption header the bucket policy requires.
 *
 * <p>A URL signed with temporary credentials stops working when they expire, so a URL is never made to look valid
 * for longer: its validity is cut to what the credentials have left, and the caller is told. Resolving credentials
 * may block (instance metadata, STS), so {@link #download} and {@link #upload} must run on a worker thread.
 */
public final class DocumentUrls implements AutoCloseable {

  /** Validity when the caller asks for none. */
  public static final Duration DEFAULT_VALIDITY = Duration.ofMinutes(15);
  /** SigV4's limit for presigned URLs. */
  public static final Duration MAX_VALIDITY = Duration.ofDays(7);
  /** The only prefix an upload URL is ever signed for; the bucket's CORS rule exists for these uploads. */
  public static final String UPLOAD_PREFIX = "temp/";
  /** Credentials must outlive a URL by this much, for the clock skew between Silo and S3. */
  static final Duration CREDENTIALS_MARGIN = Duration.ofSeconds(30);

  /** A presigned request: the URL, when it stops working, and the headers the caller must send with it. */
  public record Presigned(String url, Instant expireTime, String bucket, String key, Map<String, String> headers,
                          String notice) {
  }

  private final S3Presigner presigner;
  private final AwsCredentialsProvider credentials;
  private final BucketSettings.Encryption encryption;
  private final Clock clock;

  /**
   * @param endpoint an endpoint override (RGW, S3Mock), or null for AWS
   * @param encryption the encryption every tenant bucket's policy demands of uploads
   */
  public DocumentUrls(URI endpoint, Region region, boolean pathStyle, AwsCredentialsProvider credentials,
                      BucketSettings.Encryption encryption, Clock clock) {
    S3Presigner.Builder builder = S3Presigner.builder().region(region).credentialsProvider(credentials)
        .serviceConfiguration(S3Configuration.builder().pathStyleAccessEnabled(pathStyle).build());
    if (endpoint != null) {
      builder.endpointOverride(endpoint);
    }
    this.presigner = builder.build();
    this.credentials = credentials;
    this.encryption = encryption;
    this.clock = clock;
  }

  /**
   * The credentials Silo uses for S3: {@code s3.accessKeyId} and {@code s3.secretAccessKey} when set, else the
   * default AWS chain (environment, profile, container or instance role), resolved on each use so rotated
   * credentials are picked up.
   */
  public static AwsCredentialsProvider credentials(SiloConfig config) {
    String id = config.string("s3.accessKeyId");
    String secret = config.string("s3.secretAccessKey");
    if (id.isEmpty() != secret.isEmpty()) {
      throw new ConfigException("'s3.accessKeyId' and 's3.secretAccessKey' must be set together (or neither, to use"
          + " the default AWS credentials chain)");
    }
    return id.isEmpty() ? DefaultCredentialsProvider.builder().build()
        : StaticCredentialsProvider.create(AwsBasicCredentials.create(id, secret));
  }

  /** A GET of {@code bucket/key} (at {@code versionId} when not null) that downloads as {@code filename}. Blocks. */
  public Presigned download(String bucket, String key, String versionId, String filename, Duration validity) {
    Signing signing = sign(validity);
    GetObjectRequest.Builder get = GetObjectRequest.builder().bucket(bucket).key(key)
        .responseContentDisposition(ContentDisposition.attachment(filename))
        .overrideConfiguration(o -> o.credentialsProvider(signing.credentials()));
    if (versionId != null && !versionId.isEmpty()) {
      get.versionId(versionId);
    }
    PresignedRequest signed = presigner.presignGetObject(r -> r.signatureDuration(signing.validity())
        .getObjectRequest(get.build()));
    return result(signed, bucket, key, signing.notice());
  }

  /**
   * A PUT of a new object {@code temp/<uuid>/<sanitized filename>} in {@code bucket}, with the headers of
   * {@code bucketEncryption} (null: the configured encryption) signed in; the caller must send them as returned.
   * Blocks.
   */
  public Presigned upload(String bucket, String filename, Duration validity,
                          BucketSettings.Encryption bucketEncryption) {
    BucketSettings.Encryption encryption = bucketEncryption == null ? this.encryption : bucketEncryption;
    Signing signing = sign(validity);
    String key = UPLOAD_PREFIX + UUID.randomUUID() + "/" + FilenameSanitizer.sanitize(filename);
    PutObjectRequest.Builder put = PutObjectRequest.builder().bucket(bucket).key(key)
        .serverSideEncryption(encryption.algorithm())
        .overrideConfiguration(o -> o.credentialsProvider(signing.credentials()));
    if (encryption.isKms()) {
      put.ssekmsKeyId(encryption.kmsKeyId());
    }
    PresignedRequest signed = presigner.presignPutObject(r -> r.signatureDuration(signing.validity())
        .putObjectRequest(put.build()));
    return result(signed, bucket, key, signing.notice());
  }

  private static Presigned result(PresignedRequest signed, String bucket, String key, String notice) {
    Map<String, String> headers = new LinkedHashMap<>();
    // Host is implied by the URL; every other signed header must be sent exactly as signed.
    signed.signedHeaders().forEach((name, values) -> {
      if (!name.equalsIgnoreCase("host")) {
        headers.put(name, String.join(",", values));
      }
    });
    return new Presigned(signed.url().toString(), signed.expiration(), bucket, key, headers, notice);
  }

  /** The credentials to sign with and the validity they allow. */
  private record Signing(StaticCredentialsProvider credentials, Duration validity, String notice) {
  }

  private Signing sign(Duration asked) {
    if (asked.compareTo(Duration.ofSeconds(1)) < 0 || asked.compareTo(MAX_VALIDITY) > 0) {
      throw SiloException.invalid("expires_in", "must be between 1 s and " + MAX_VALIDITY.toDays() + " days");
    }
    AwsCredentials resolved;
    try {
      resolved = credentials.resolveCredentials();
    } catch (RuntimeException e) {
      throw SiloException.unavailable("no S3 credentials: set s3.accessKeyId and s3.secretAccessKey, or provide"
          + " them through the default AWS chain (" + e.getClass().getSimpleName() + ")", e);
    }
    Duration validity = asked.withNanos(0);
    String notice = "";
    Instant expires = resolved.expirationTime().orElse(null);
    if (expires != null) {
      Duration left = Duration.between(clock.instant(), expires).minus(CREDENTIALS_MARGIN).withNanos(0);
      if (left.compareTo(Duration.ofSeconds(1)) < 0) {
        throw SiloException.unavailable("the server's S3 credentials expire at " + expires
            + "; retry once they are refreshed", null);
      }
      if (left.compareTo(validity) < 0) {
        notice = "valid for " + left.toSeconds() + " s instead of the " + validity.toSeconds()
            + " s asked: the server's S3 credentials expire at " + expires;
        validity = left;
      }
    }
    return new Signing(StaticCredentialsProvider.create(resolved), validity, notice);
  }

  @Override
  public void close() {
    presigner.close();
  }
}
