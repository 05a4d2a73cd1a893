package io.silo.s3;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Future;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The copy's pure parts: the Content-Disposition it writes and the window that paces it. */
class CopyPartsTest {

    private static String decoded(String disposition) {
        String encoded = disposition.substring(disposition.indexOf("UTF-8''") + 7);
        return URLDecoder.decode(encoded.replace("+", "%2B"), StandardCharsets.UTF_8);
    }

    @Test
    void theDispositionCarriesTheExactOriginalNameAndNothingThatCouldBreakTheHeader() {
        for (String name : List.of("Q3 board deck FINAL (2).pdf", "résumé 履歴書.pdf", "invoice\u202Efdp.exe",
                "tab\tnew\r\nSet-Cookie: x=1.txt", "O'Brien \"intake\" form.pdf", "100% + growth.xlsx",
                "👩‍⚕️ intake.png", "..\\..\\windows\\SAM")) {
            String header = ObjectCopier.contentDisposition(name);
            assertThat(header).startsWith("attachment; filename=\"");
            assertThat(header.chars()).as(header).allMatch(c -> c >= 0x20 && c < 0x7F);
            String fallback = header.substring("attachment; filename=\"".length(), header.indexOf("\"; filename*="));
            assertThat(fallback).doesNotContain("\"", "\\");
            assertThat(decoded(header)).isEqualTo(name);
        }
        assertThat(decoded(ObjectCopier.contentDisposition(""))).isEqualTo("file");
    }

    @Test
    void aVeryLongNameIsShortenedKeepingItsExtensionSoTheRequestStaysUnderTheHeaderLimit() {
        String name = "名".repeat(700) + ".pdf";
        String header = ObjectCopier.contentDisposition(name);

        assertThat(header.length()).isLessThan(2_000);
        assertThat(decoded(header)).endsWith(".pdf");
        assertThat(name).startsWith(decoded(header).replace(".pdf", ""));
    }

    @Test
    void theWindowHalvesOnThrottlingAndGrowsBackOneRequestPerWindowOfSuccesses() {
        AdaptiveWindow window = new AdaptiveWindow(32, 0);
        window.onThrottle();
        assertThat(window.limit()).isEqualTo(16);
        window.onThrottle();
        window.onThrottle();
        window.onThrottle();
        window.onThrottle();
        window.onThrottle();
        assertThat(window.limit()).isEqualTo(1);
        for (int i = 0; i < 3; i++) {
            window.onSuccess();
        }
        assertThat(window.limit()).isEqualTo(2);
        for (int i = 0; i < 10_000; i++) {
            window.onSuccess();
        }
        assertThat(window.limit()).isEqualTo(32);
        assertThat(window.throttles()).isEqualTo(6);
    }

    @Test
    void throttlesArrivingTogetherCountAsOneOverload() {
        AdaptiveWindow window = new AdaptiveWindow(32, 60_000);
        window.onThrottle();
        window.onThrottle();
        window.onThrottle();
        assertThat(window.limit()).isEqualTo(16);
    }

    @Test
    void noMoreRequestsThanTheWindowAreLetThroughAndReleasesAdmitTheNext() {
        AdaptiveWindow window = new AdaptiveWindow(2, 0);
        List<Future<Void>> slots = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            slots.add(window.acquire());
        }
        assertThat(slots).extracting(Future::isComplete).containsExactly(true, true, false, false, false);
        window.onThrottle();
        window.release();
        assertThat(slots.get(2).isComplete()).as("the window shrank to one and one is still in flight").isFalse();
        window.release();
        assertThat(slots.get(2).isComplete()).isTrue();
        assertThat(slots.get(3).isComplete()).isFalse();
    }
}
