package io.silo;

import io.silo.dev.DevS3;
import io.silo.s3.S3Clients;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.services.s3.S3AsyncClient;

/** A {@link TestServer} with MongoDB whose {@code s3.*} settings point at an in-process S3Mock, plus a client to it. */
public final class S3MockSilo implements AutoCloseable {

  public final Path dir;
  public final DevS3 s3mock;
  /** A plain client straight to S3Mock, for seeding and checking. */
  public final S3AsyncClient s3;
  public final TestServer server;

  private S3MockSilo(Path dir, DevS3 s3mock, S3AsyncClient s3, TestServer server) {
    this.dir = dir;
    this.s3mock = s3mock;
    this.s3 = s3;
    this.server = server;
  }

  /** Starts S3Mock, then Silo with its endpoint and credentials and the {@code extra} settings on top. */
  public static S3MockSilo start(String prefix, Map<String, Object> extra) throws Exception {
    Path dir = Files.createTempDirectory(prefix);
    DevS3 s3mock = DevS3.start(dir.resolve("s3"), "127.0.0.1", 0, List.of(), List.of());
    S3AsyncClient s3 = S3Clients.async(URI.create(s3mock.endpoint()), DevS3.REGION, StaticCredentialsProvider.create(
        AwsBasicCredentials.create(DevS3.ACCESS_KEY_ID, DevS3.SECRET_ACCESS_KEY)), 16, null);
    Map<String, Object> settings = new HashMap<>();
    settings.put("s3.endpoint", s3mock.endpoint());
    settings.put("s3.region", DevS3.REGION.id());
    settings.put("s3.pathStyle", true);
    settings.put("s3.accessKeyId", DevS3.ACCESS_KEY_ID);
    settings.put("s3.secretAccessKey", DevS3.SECRET_ACCESS_KEY);
    settings.putAll(extra);
    try {
      return new S3MockSilo(dir, s3mock, s3, TestServer.startWithMongo(settings, dir));
    } catch (Exception e) {
      s3.close();
      s3mock.close();
      throw e;
    }
  }

  @Override
  public void close() throws Exception {
    try {
      server.close();
    } finally {
      s3.close();
      s3mock.close();
    }
  }
}
