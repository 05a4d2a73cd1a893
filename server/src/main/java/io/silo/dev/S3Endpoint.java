package io.silo.dev;

import java.net.URI;
import java.util.Objects;
import io.silo.s3.S3Clients;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3AsyncClient;

/**
 * The dev stack's S3: an endpoint, its region and the credentials for it; the in-process S3Mock's, or an external
 * one given with {@code silo-server dev --s3-endpoint} (e.g. Ceph RGW from {@code src/scripts/rgw-dev.sh}).
 */
public record S3Endpoint(URI endpoint, Region region, String accessKeyId, String secretAccessKey) {

    public S3Endpoint {
        Objects.requireNonNull(endpoint, "endpoint");
        Objects.requireNonNull(region, "region");
        String scheme = endpoint.getScheme();
        if (!("http".equals(scheme) || "https".equals(scheme)) || endpoint.getHost() == null) {
            throw new IllegalArgumentException("the S3 endpoint must be an http:// or https:// URL with a host, got "
                    + endpoint);
        }
        if (accessKeyId == null || accessKeyId.isEmpty() || secretAccessKey == null || secretAccessKey.isEmpty()) {
            throw new IllegalArgumentException("an S3 endpoint needs an access key id and a secret access key");
        }
    }

    /** A client for this endpoint (path-style), allowing {@code maxConcurrency} connections. The caller closes it. */
    public S3AsyncClient asyncClient(int maxConcurrency) {
        return S3Clients.async(endpoint, region, StaticCredentialsProvider.create(
                AwsBasicCredentials.create(accessKeyId, secretAccessKey)), maxConcurrency, null);
    }

    /** Names the endpoint and the access key id; the secret never appears (records print every component). */
    @Override
    public String toString() {
        return "S3Endpoint[" + endpoint + ", " + region.id() + ", access key " + accessKeyId + "]";
    }
}
