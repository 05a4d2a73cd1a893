package io.silo.dev;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.Appender;
import ch.qos.logback.core.read.ListAppender;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;

class DevS3Test {

    @TempDir
    Path dir;

    @Test
    void putThenGetReturnsTheSameBytesThroughTheSdkClient() throws Exception {
        byte[] body = new byte[300_000];
        new Random(7).nextBytes(body);
        try (DevS3 s3 = DevS3.start(dir.resolve("s3"), "127.0.0.1", 0, List.of("bucket-a"), List.of());
             S3Client client = s3.syncClient()) {
            client.putObject(b -> b.bucket("bucket-a").key("dir/résumé 履歴書 +%.bin").contentType("application/pdf"),
                    RequestBody.fromBytes(body));
            var got = client.getObjectAsBytes(b -> b.bucket("bucket-a").key("dir/résumé 履歴書 +%.bin"));
            assertThat(got.asByteArray()).isEqualTo(body);
            assertThat(got.response().contentType()).isEqualTo("application/pdf");
        }
    }

    @Test
    void restartWithTheSameDataDirectoryKeepsBucketsAndObjects() throws Exception {
        Path root = dir.resolve("s3");
        try (DevS3 s3 = DevS3.start(root, "127.0.0.1", 0, List.of("kept-bucket"), List.of());
             S3Client client = s3.syncClient()) {
            client.putObject(b -> b.bucket("kept-bucket").key("a/b.txt"), RequestBody.fromString("still here"));
        }
        // initialBuckets names the existing bucket again: it must be reused, not recreated or rejected.
        try (DevS3 s3 = DevS3.start(root, "127.0.0.1", 0, List.of("kept-bucket"), List.of());
             S3Client client = s3.syncClient()) {
            assertThat(client.getObjectAsBytes(b -> b.bucket("kept-bucket").key("a/b.txt")).asUtf8String())
                    .isEqualTo("still here");
            assertThat(client.listObjectsV2(b -> b.bucket("kept-bucket")).keyCount()).isEqualTo(1);
        }
    }

    @Test
    void theHttpPortListensOnlyOnTheGivenHost() throws Exception {
        try (DevS3 s3 = DevS3.start(dir.resolve("s3"), "127.0.0.1", 0, List.of(), List.of())) {
            // Linux routes all of 127/8 to loopback: a socket on 0.0.0.0 would accept on 127.0.0.2 too.
            try (Socket ok = new Socket()) {
                ok.connect(new InetSocketAddress("127.0.0.1", s3.port()), 2_000);
            }
            assertThatThrownBy(() -> {
                try (Socket other = new Socket()) {
                    other.connect(new InetSocketAddress("127.0.0.2", s3.port()), 2_000);
                }
            }).isInstanceOf(ConnectException.class);
        }
    }

    @Test
    void startingS3MockLeavesSilosLogbackConfigurationInPlace() throws Exception {
        LoggerContext ctx = (LoggerContext) LoggerFactory.getILoggerFactory();
        ch.qos.logback.classic.Logger root = ctx.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        Level rootLevelBefore = root.getLevel();
        List<Appender<ILoggingEvent>> appendersBefore = new ArrayList<>();
        root.iteratorForAppenders().forEachRemaining(appendersBefore::add);

        try (DevS3 s3 = DevS3.start(dir.resolve("s3"), "127.0.0.1", 0, List.of(), List.of())) {
            List<Appender<ILoggingEvent>> appendersAfter = new ArrayList<>();
            root.iteratorForAppenders().forEachRemaining(appendersAfter::add);
            assertThat(root.getLevel()).isEqualTo(rootLevelBefore);
            assertThat(appendersAfter).containsExactlyElementsOf(appendersBefore);

            ListAppender<ILoggingEvent> capture = new ListAppender<>();
            capture.setContext(ctx);
            capture.start();
            root.addAppender(capture);
            try {
                LoggerFactory.getLogger("io.silo.dev.SomeComponent").info("silo still logs at INFO");
            } finally {
                root.detachAppender(capture);
            }
            assertThat(capture.list).extracting(ILoggingEvent::getFormattedMessage)
                    .contains("silo still logs at INFO");
        }
    }
}
