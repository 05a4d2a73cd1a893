package io.silo.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.silo.SiloException;
import io.silo.config.ConfigLoader;
import io.silo.config.SiloConfig;
import io.vertx.core.Vertx;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import io.vertx.core.json.JsonObject;
import java.util.Map;
import org.junit.jupiter.api.Test;

class S3SpecTest {

    private static final S3Spec DEFAULTS = S3Spec.defaults(SiloConfig.of(Map.of()));

    @Test
    void defaultsComeFromTheS3Settings() {
        assertThat(DEFAULTS.sharedBucket()).isEqualTo("dataroom-v2-demo-company-documents");
        assertThat(DEFAULTS.bucketPrefix()).isEqualTo("dataroom-saas");
        assertThat(DEFAULTS.encryption()).isEqualTo("AES256");
        assertThat(DEFAULTS.strict()).isTrue();
        assertThat(DEFAULTS.multipartThresholdBytes()).isEqualTo(5L * 1024 * 1024 * 1024);
        S3Spec kms = S3Spec.defaults(SiloConfig.of(Map.of("s3.encryption", "aws:kms", "s3.kmsKeyId", "alias/tenants",
                "s3.copyConcurrency", 8, "s3.partSizeMb", 64, "s3.strict", false)));
        assertThat(kms.kms()).isTrue();
        assertThat(kms.kmsKeyId()).isEqualTo("alias/tenants");
        assertThat(kms.copyConcurrency()).isEqualTo(8);
        assertThat(kms.partSizeBytes()).isEqualTo(64L << 20);
        assertThat(kms.strict()).isFalse();
    }

    @Test
    void theExampleConfigurationIsValidAndGivesTheS3PartItDescribes() throws Exception {
        Path example = Path.of("").toAbsolutePath();
        while (!Files.exists(example.resolve("src/config/silo.example.yaml"))) {
            example = example.getParent();
        }
        Vertx vertx = Vertx.vertx();
        try {
            SiloConfig config = ConfigLoader.load(vertx, example.resolve("src/config/silo.example.yaml"), Map.of());
            S3Spec spec = S3Spec.defaults(config);
            assertThat(spec.kms()).isTrue();
            assertThat(spec.kmsKeyId()).isEqualTo(SseKmsKeys.TENANT_KEY);
            assertThat(spec.partSizeBytes()).isEqualTo(256L << 20);
            assertThat(config.list("s3.corsOrigins")).containsExactly("https://app.example.com");
        } finally {
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void jsonRoundTripKeepsEveryField() {
        S3Spec spec = new S3Spec("legacy-bucket", "acme-tenants", "aws:kms", "1234abcd-12ab-34cd-56ef-1234567890ab",
                false, 12, 50, 6L << 20, 5L << 20, false);
        JsonObject json = spec.toJson();

        assertThat(S3Spec.fromJson(json, DEFAULTS)).isEqualTo(spec);
        assertThat(S3Spec.fromJson(new JsonObject(json.encode()), DEFAULTS)).isEqualTo(spec);
        assertThat(json.fieldNames()).containsExactlyInAnyOrder("sharedBucket", "bucketPrefix", "encryption",
                "kmsKeyId", "bucketKey", "copyConcurrency", "batchSize", "multipartThresholdBytes", "partSizeBytes",
                "strict");
        assertThat(spec.source()).isEqualTo("s3://legacy-bucket");
        assertThat(spec.target()).isEqualTo("s3://acme-tenants-*");
    }

    @Test
    void anEmptyPartTakesTheDefaultsAndAGivenFieldOverridesOne() {
        assertThat(S3Spec.fromJson(new JsonObject(), DEFAULTS)).isEqualTo(DEFAULTS);
        assertThat(S3Spec.fromJson(null, DEFAULTS)).isEqualTo(DEFAULTS);
        assertThat(S3Spec.fromJson(new JsonObject().put("copyConcurrency", 3), DEFAULTS).copyConcurrency()).isEqualTo(3);
    }

    @Test
    void badInputIsInvalidArgumentNamingTheField() {
        assertInvalid(new JsonObject().put("copyConcurrency", 0), "s3.copyConcurrency");
        assertInvalid(new JsonObject().put("copyConcurrency", 4294967297L), "s3.copyConcurrency");
        assertInvalid(new JsonObject().put("copyConcurrency", "8"), "s3.copyConcurrency");
        assertInvalid(new JsonObject().put("copyConcurrency", 2.5), "s3.copyConcurrency");
        assertInvalid(new JsonObject().put("partSizeBytes", 1024), "s3.partSizeBytes");
        assertInvalid(new JsonObject().put("multipartThresholdBytes", 6L << 30), "s3.multipartThresholdBytes");
        assertInvalid(new JsonObject().put("sharedBucket", "Not_A_Bucket"), "s3.sharedBucket");
        assertInvalid(new JsonObject().put("bucketPrefix", "xn--evil"), "s3.bucketPrefix");
        assertInvalid(new JsonObject().put("encryption", "none"), "s3.encryption");
        assertInvalid(new JsonObject().put("encryption", "aws:kms"), "s3.kmsKeyId");
        assertInvalid(new JsonObject().put("strict", "yes"), "s3.strict");
        assertInvalid(new JsonObject().put("bucktPrefix", "typo"), "s3.bucktPrefix");
    }

    private static void assertInvalid(JsonObject json, String field) {
        assertThatThrownBy(() -> S3Spec.fromJson(json, DEFAULTS)).isInstanceOf(SiloException.class)
                .hasMessageStartingWith(field + ":")
                .satisfies(e -> assertThat(((SiloException) e).kind()).isEqualTo(SiloException.Kind.INVALID_ARGUMENT));
    }
}
