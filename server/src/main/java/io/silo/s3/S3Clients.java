package io.silo.s3;

import java.net.URI;
import java.time.Duration;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.client.config.SdkAdvancedAsyncClientOption;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.client.config.ClientOverrideConfiguration;
import software.amazon.awssdk.core.retry.RetryMode;
import software.amazon.awssdk.http.nio.netty.NettyNioAsyncHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3AsyncClient;
import software.amazon.awssdk.services.s3.S3AsyncClientBuilder;

/** Builds the async S3 clients Silo's S3 capability uses, configured the same way for AWS, RGW and S3Mock. */
public final class S3Clients {

    private S3Clients() {
    }

    /**
     * A Netty-based async client. Path-style addressing, because a local endpoint has no wildcard DNS for
     * {@code <bucket>.host}; checksums only when an operation requires them, because RGW 16.2 and S3Mock predate
     * the SDK's default CRC trailers (RGW fails every such PutObject with XAmzContentSHA256Mismatch); the SDK's
     * STANDARD retry mode, which retries throttling, 5xx and resets with jittered backoff.
     *
     * @param endpoint an endpoint override (RGW, S3Mock), or null for AWS's own
     * @param extra hook for tests (an ExecutionInterceptor); may be null
     */
    public static S3AsyncClient async(URI endpoint, Region region, AwsCredentialsProvider credentials,
                                      int maxConcurrency, java.util.function.Consumer<S3AsyncClientBuilder> extra) {
        return build(endpoint, region, credentials, maxConcurrency, RetryMode.STANDARD, extra);
    }

    /**
     * Like {@link #async} but without the SDK's retries: for the S3 phase's copies, whose retries and adaptive
     * window ({@link S3Retry}, {@link AdaptiveWindow}) must see every throttling answer to slow down on it.
     */
    public static S3AsyncClient dataPlane(URI endpoint, Region region, AwsCredentialsProvider credentials,
                                          int maxConcurrency, java.util.function.Consumer<S3AsyncClientBuilder> extra) {
        return build(endpoint, region, credentials, maxConcurrency, null, builder -> {
            // Results are handed straight from the Netty thread to the caller, whose continuations only hand them
            // on to a Vert.x context (never block): one thread hop less per request than the SDK's default pool.
            builder.asyncConfiguration(a -> a.advancedOption(SdkAdvancedAsyncClientOption.FUTURE_COMPLETION_EXECUTOR,
                    Runnable::run));
            if (extra != null) {
                extra.accept(builder);
            }
        });
    }

    private static S3AsyncClient build(URI endpoint, Region region, AwsCredentialsProvider credentials,
                                       int maxConcurrency, RetryMode retries,
                                       java.util.function.Consumer<S3AsyncClientBuilder> extra) {
        ClientOverrideConfiguration.Builder override = ClientOverrideConfiguration.builder();
        if (retries != null) {
            override.retryStrategy(retries);
        } else {
            override.retryStrategy(AwsRetryStrategy.doNotRetry());
        }
        S3AsyncClientBuilder builder = S3AsyncClient.builder()
                .region(region)
                .credentialsProvider(credentials)
                .forcePathStyle(true)
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                .overrideConfiguration(override.build())
                .httpClientBuilder(NettyNioAsyncHttpClient.builder()
                        .maxConcurrency(maxConcurrency)
                        .connectionAcquisitionTimeout(Duration.ofSeconds(60)));
        if (endpoint != null) {
            builder.endpointOverride(endpoint);
        }
        if (extra != null) {
            extra.accept(builder);
        }
        return builder.build();
    }
}
