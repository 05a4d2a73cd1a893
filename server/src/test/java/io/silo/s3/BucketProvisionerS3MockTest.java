package io.silo.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.silo.SiloException;
import io.silo.dev.DevS3;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reactivestreams.Subscriber;
import org.reactivestreams.Subscription;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.interceptor.Context;
import software.amazon.awssdk.core.interceptor.ExecutionAttributes;
import software.amazon.awssdk.core.interceptor.ExecutionInterceptor;
import software.amazon.awssdk.http.SdkHttpRequest;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3AsyncClient;

/**
 * Bucket controls against the dev stack's in-process S3 (S3Mock 4.7), which lacks most of them: each gap must be
 * reported as UNSUPPORTED_BY_ENDPOINT, never as a pass; plus the exact requests, seen by an SDK interceptor, for
 * the controls that neither S3Mock nor RGW implements (bucket encryption, access logging).
 */
class BucketProvisionerS3MockTest {

    private static final String LOG_BUCKET = "silo-access-logs";
    private static final String ORIGIN = "https://app.example.test";
    private static final String XML = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";

    @TempDir
    static Path dataDir;
    private static DevS3 s3mock;
    private static final Recorder RECORDER = new Recorder();
    private static S3AsyncClient client;

    @BeforeAll
    static void start() throws IOException {
        s3mock = DevS3.start(dataDir.resolve("s3"), "127.0.0.1", 0, List.of(LOG_BUCKET), List.of());
        client = S3Clients.async(URI.create(s3mock.endpoint()), DevS3.REGION,
                StaticCredentialsProvider.create(AwsBasicCredentials.create(DevS3.ACCESS_KEY_ID, DevS3.SECRET_ACCESS_KEY)),
                8, b -> b.overrideConfiguration(c -> c.addExecutionInterceptor(RECORDER)));
    }

    @AfterAll
    static void stop() {
        if (client != null) {
            client.close();
        }
        if (s3mock != null) {
            s3mock.close();
        }
    }

    @BeforeEach
    void clearRecorder() {
        RECORDER.requests.clear();
    }

    private static BucketSettings settings(BucketSettings.Mode mode) {
        return BucketSettings.strict(DevS3.REGION).withMode(mode).withCorsOrigins(List.of(ORIGIN))
                .withLogging(LOG_BUCKET, "access/");
    }

    private static CompletableFuture<ProvisionResult> provision(BucketSettings settings, String slug) {
        return new BucketProvisioner(client, settings, new BucketNamer(), BucketProvisioner.Journal.NONE)
                .ensure(new BucketProvisioner.TenantBucket(slug, "cc-7", null));
    }

    @Test
    void controlsS3MockLacksAreReportedUnsupportedAndNeverAsPassed() throws Exception {
        BucketReport report = provision(settings(BucketSettings.Mode.DEV), "mock-tenant").get(60, TimeUnit.SECONDS)
                .report();

        assertThat(report.state(BucketControl.VERSIONING)).isEqualTo(ControlState.APPLIED_VERIFIED);
        assertThat(report.state(BucketControl.LIFECYCLE)).as(report.toString()).isEqualTo(ControlState.APPLIED_VERIFIED);
        for (BucketControl c : List.of(BucketControl.PUBLIC_ACCESS_BLOCK, BucketControl.ENCRYPTION,
                BucketControl.POLICY, BucketControl.TAGGING, BucketControl.CORS, BucketControl.LOGGING)) {
            assertThat(report.state(c)).as(report.get(c).toString()).isEqualTo(ControlState.UNSUPPORTED_BY_ENDPOINT);
        }
        assertThat(report.acceptableInStrictMode()).isFalse();
    }

    @Test
    void strictModeRefusesTheBucketAndNamesTheMissingControls() {
        assertThatThrownBy(() -> provision(settings(BucketSettings.Mode.STRICT), "mock-strict").join())
                .isInstanceOf(CompletionException.class)
                .cause().isInstanceOf(SiloException.class)
                .hasMessageContaining("PUBLIC_ACCESS_BLOCK=UNSUPPORTED_BY_ENDPOINT")
                .hasMessageContaining("ENCRYPTION=UNSUPPORTED_BY_ENDPOINT")
                .hasMessageContaining("POLICY=UNSUPPORTED_BY_ENDPOINT");
    }

    @Test
    void theEncryptionRequestAsksForAes256() throws Exception {
        provision(settings(BucketSettings.Mode.DEV), "mock-aes").get(60, TimeUnit.SECONDS);

        Recorded put = RECORDER.only("PUT", "encryption");
        assertThat(put.request().encodedPath()).isEqualTo("/" + new BucketNamer().name("mock-aes", 0));
        assertThat(put.body()).isEqualTo(
                XML + "<ServerSideEncryptionConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Rule>"
                + "<ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm>"
                + "</ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>");
    }

    @Test
    void theEncryptionRequestForKmsNamesTheKeyAndEnablesTheBucketKey() throws Exception {
        BucketSettings kms = settings(BucketSettings.Mode.DEV)
                .withEncryption(BucketSettings.Encryption.kms("0d6b9a64-4c3e-4f0e-9a5e-1f2a3b4c5d6e"));
        provision(kms, "mock-kms").get(60, TimeUnit.SECONDS);

        Recorded put = RECORDER.only("PUT", "encryption");
        assertThat(put.body()).isEqualTo(
                XML + "<ServerSideEncryptionConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Rule>"
                + "<ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm>"
                + "<KMSMasterKeyID>0d6b9a64-4c3e-4f0e-9a5e-1f2a3b4c5d6e</KMSMasterKeyID>"
                + "</ApplyServerSideEncryptionByDefault><BucketKeyEnabled>true</BucketKeyEnabled></Rule>"
                + "</ServerSideEncryptionConfiguration>");
        // The bucket policy then insists on the same algorithm for every upload.
        Recorded policy = RECORDER.only("PUT", "policy");
        assertThat(policy.body()).contains("\"StringNotEquals\":{\"s3:x-amz-server-side-encryption\":\"aws:kms\"}");
    }

    @Test
    void theLoggingRequestSendsLogsToTheConfiguredBucketUnderAPrefixPerBucket() throws Exception {
        String bucket = provision(settings(BucketSettings.Mode.DEV), "mock-logs").get(60, TimeUnit.SECONDS).bucket();

        Recorded put = RECORDER.only("PUT", "logging");
        assertThat(put.request().encodedPath()).isEqualTo("/" + bucket);
        assertThat(put.body()).isEqualTo(
                XML + "<BucketLoggingStatus xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LoggingEnabled>"
                + "<TargetBucket>" + LOG_BUCKET + "</TargetBucket><TargetPrefix>access/" + bucket + "/</TargetPrefix>"
                + "</LoggingEnabled></BucketLoggingStatus>");
    }

    @Test
    void createBucketCarriesALocationConstraintOutsideUsEast1Only() throws Exception {
        provision(settings(BucketSettings.Mode.DEV), "mock-virginia").get(60, TimeUnit.SECONDS);
        Recorded virginia = RECORDER.requests.stream()
                .filter(r -> r.request().method().name().equals("PUT") && r.request().rawQueryParameters().isEmpty())
                .findFirst().orElseThrow();
        assertThat(virginia.body()).isEmpty();

        RECORDER.requests.clear();
        BucketSettings frankfurt = new BucketSettings(Region.EU_CENTRAL_1, BucketSettings.Mode.DEV,
                BucketSettings.Encryption.aes256(), List.of(), null, null, 3);
        String bucket = provision(frankfurt, "mock-frankfurt").get(60, TimeUnit.SECONDS).bucket();
        Recorded create = RECORDER.requests.stream()
                .filter(r -> r.request().method().name().equals("PUT") && r.request().rawQueryParameters().isEmpty())
                .findFirst().orElseThrow();
        assertThat(create.request().encodedPath()).isEqualTo("/" + bucket);
        assertThat(create.body()).isEqualTo(XML + "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                + "<LocationConstraint>eu-central-1</LocationConstraint></CreateBucketConfiguration>");
    }

    @Test
    void onlyAnswersThatMeanNotImplementedCountAsUnsupported() {
        assertThat(BucketProvisioner.unsupported(501, "NotImplemented")).isTrue();
        assertThat(BucketProvisioner.unsupported(405, "MethodNotAllowed")).isTrue();
        assertThat(BucketProvisioner.unsupported(400, "InvalidArgument")).isTrue();
        assertThat(BucketProvisioner.unsupported(400, null)).isTrue();
        assertThat(BucketProvisioner.unsupported(409, "BucketAlreadyOwnedByYou")).isTrue();
        assertThat(BucketProvisioner.unsupported(403, "AccessDenied")).isFalse();
        assertThat(BucketProvisioner.unsupported(400, "MalformedPolicy")).isFalse();
        assertThat(BucketProvisioner.unsupported(409, "OperationAborted")).isFalse();
        assertThat(BucketProvisioner.unsupported(503, "SlowDown")).isFalse();
        assertThat(BucketProvisioner.unsupported(500, "InternalError")).isFalse();
    }

    /** One request as it left the SDK: line, headers and body. */
    record Recorded(SdkHttpRequest request, String body) {
    }

    /** Records every request the client sends, with its body. */
    static final class Recorder implements ExecutionInterceptor {
        final List<Recorded> requests = new CopyOnWriteArrayList<>();

        @Override
        public void beforeTransmission(Context.BeforeTransmission context, ExecutionAttributes attributes) {
            String body = "";
            if (context.requestBody().isPresent()) {
                try (InputStream in = context.requestBody().get().contentStreamProvider().newStream()) {
                    body = new String(in.readAllBytes(), StandardCharsets.UTF_8);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            } else if (context.asyncRequestBody().isPresent()) {
                body = collect(context.asyncRequestBody().get());
            }
            requests.add(new Recorded(context.httpRequest(), body));
        }

        /** The single request with {@code method} and query parameter {@code subresource} since the last clear. */
        Recorded only(String method, String subresource) {
            List<Recorded> matching = requests.stream()
                    .filter(r -> r.request().method().name().equals(method)
                            && r.request().rawQueryParameters().containsKey(subresource))
                    .toList();
            assertThat(matching).as(method + " ?" + subresource).hasSize(1);
            return matching.get(0);
        }

        private static String collect(org.reactivestreams.Publisher<ByteBuffer> publisher) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            CompletableFuture<Void> done = new CompletableFuture<>();
            publisher.subscribe(new Subscriber<ByteBuffer>() {
                @Override
                public void onSubscribe(Subscription s) {
                    s.request(Long.MAX_VALUE);
                }

                @Override
                public void onNext(ByteBuffer b) {
                    byte[] bytes = new byte[b.remaining()];
                    b.get(bytes);
                    out.write(bytes, 0, bytes.length);
                }

                @Override
                public void onError(Throwable t) {
                    done.completeExceptionally(t);
                }

                @Override
                public void onComplete() {
                    done.complete(null);
                }
            });
            done.join();
            return out.toString(StandardCharsets.UTF_8);
        }
    }
}
