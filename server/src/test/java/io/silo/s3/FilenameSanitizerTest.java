package io.silo.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;

class FilenameSanitizerTest {

    @Test
    void pathTraversalKeepsOnlyTheLastSegment() {
        assertThat(FilenameSanitizer.key("42", "../../etc/passwd")).isEqualTo("documents/42/passwd");
        assertThat(FilenameSanitizer.key("42", "..\\..\\Windows\\win.ini")).isEqualTo("documents/42/win.ini");
        assertThat(FilenameSanitizer.key("42", "reports/2024/q1.pdf/..")).isEqualTo("documents/42/q1.pdf");
        assertThat(FilenameSanitizer.key("42", "../..")).isEqualTo("documents/42/file");
    }

    @Test
    void bidiOverridesAreRemovedSoTheRealExtensionShows() {
        // Displays as "invoiceexe.pdf" in a bidi-aware viewer; really an .exe.
        assertThat(FilenameSanitizer.key("7", "invoice\u202Efdp.exe")).isEqualTo("documents/7/invoicefdp.exe");
        assertThat(FilenameSanitizer.sanitize("a\u2066b\u2067c\u2068d\u2069e\u200Ef\u200Fg\u202A\u202B\u202C\u202D.txt"))
                .isEqualTo("abcdefg.txt");
    }

    @Test
    void controlCharactersAndLineBreaksAreRemoved() {
        assertThat(FilenameSanitizer.sanitize("re\u0000port\r\n\t.pdf\u0007")).isEqualTo("report.pdf");
        assertThat(FilenameSanitizer.sanitize("a\u2028b\u2029c.txt")).isEqualTo("abc.txt");
        assertThat(FilenameSanitizer.sanitize("non\u00A0breaking.txt")).isEqualTo("non breaking.txt");
    }

    @Test
    void namesEqualAfterNfcGetTheSameKey() {
        String composed = "r\u00E9sum\u00E9.pdf";
        String decomposed = "re\u0301sume\u0301.pdf";
        assertThat(FilenameSanitizer.key("1", decomposed)).isEqualTo(FilenameSanitizer.key("1", composed))
                .isEqualTo("documents/1/r\u00E9sum\u00E9.pdf");
    }

    @Test
    void zwjInsideAnEmojiIsRemovedAndTheEmojiKept() {
        String family = "\uD83D\uDC68\u200D\uD83D\uDC69\u200D\uD83D\uDC67";
        assertThat(FilenameSanitizer.sanitize(family + " photo.jpg"))
                .isEqualTo("\uD83D\uDC68\uD83D\uDC69\uD83D\uDC67 photo.jpg");
        // The emoji variation selector is a mark (Mn), not a format character: it stays.
        assertThat(FilenameSanitizer.sanitize("\u2764\uFE0F.png")).isEqualTo("\u2764\uFE0F.png");
    }

    @Test
    void emptyOrInvisibleNamesFallBackToFileAndKeepTheExtension() {
        assertThat(FilenameSanitizer.key("9", "")).isEqualTo("documents/9/file");
        assertThat(FilenameSanitizer.key("9", null)).isEqualTo("documents/9/file");
        assertThat(FilenameSanitizer.key("9", "\u202E\u200D")).isEqualTo("documents/9/file");
        assertThat(FilenameSanitizer.key("9", ".pdf")).isEqualTo("documents/9/file.pdf");
        assertThat(FilenameSanitizer.key("9", "  ...  ")).isEqualTo("documents/9/file");
        assertThat(FilenameSanitizer.key("9", "\u202E.pdf")).isEqualTo("documents/9/file.pdf");
    }

    @Test
    void longNamesAreCutOnACodePointBoundaryKeepingTheExtension() {
        String stem = "\uD83D\uDCC4".repeat(500); // 2,000 bytes of 4-byte emoji
        String key = FilenameSanitizer.key("doc-1", stem + ".pdf");
        byte[] bytes = key.getBytes(StandardCharsets.UTF_8);
        assertThat(bytes.length).isLessThanOrEqualTo(1024).isGreaterThan(1020);
        assertThat(key).startsWith("documents/doc-1/\uD83D\uDCC4").endsWith("\uD83D\uDCC4.pdf");
        assertThat(new String(bytes, StandardCharsets.UTF_8)).isEqualTo(key); // no broken code point
        assertThat(FilenameSanitizer.key("doc-1", stem + ".pdf")).isEqualTo(key);

        String ascii = FilenameSanitizer.key("doc-2", "x".repeat(2000) + ".docx");
        assertThat(ascii.getBytes(StandardCharsets.UTF_8)).hasSize(1024);
        assertThat(ascii).endsWith("x.docx");
    }

    @Test
    void anExtensionThatIsNotOneStaysInTheStem() {
        assertThat(FilenameSanitizer.sanitize("archive.tar.gz")).isEqualTo("archive.tar.gz");
        assertThat(FilenameSanitizer.sanitize("notes.my draft")).isEqualTo("notes.my draft");
        assertThat(FilenameSanitizer.sanitize("v1.2.")).isEqualTo("v1.2");
    }

    @Test
    void unsafeDocumentIdsAreRefusedRatherThanRewritten() {
        assertThatThrownBy(() -> FilenameSanitizer.key("../x", "a.pdf")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> FilenameSanitizer.key("", "a.pdf")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> FilenameSanitizer.key("a/b", "a.pdf")).isInstanceOf(IllegalArgumentException.class);
        assertThat(FilenameSanitizer.key("3f2b9c1e-8d4a-4c1b-9a7e-0c5d6e7f8a9b", "a.pdf"))
                .isEqualTo("documents/3f2b9c1e-8d4a-4c1b-9a7e-0c5d6e7f8a9b/a.pdf");
    }

    @Provide
    Arbitrary<String> names() {
        return Arbitraries.oneOf(Arbitraries.strings().all().ofMaxLength(1500),
                Arbitraries.strings().withChars("./\\ \u202E\u200D\u0000a\u00E9").ofMaxLength(40));
    }

    @Property(tries = 1000)
    void everyKeyIsDeterministicBoundedAndFreeOfInvisibleCharacters(@ForAll("names") String name) {
        String key = FilenameSanitizer.key("d1", name);
        assertThat(FilenameSanitizer.key("d1", name)).isEqualTo(key);
        assertThat(key.getBytes(StandardCharsets.UTF_8).length).isLessThanOrEqualTo(FilenameSanitizer.MAX_KEY_BYTES);
        String file = key.substring("documents/d1/".length());
        assertThat(file).isNotEmpty().doesNotContain("/", "\\").isNotIn(".", "..");
        assertThat(file.codePoints()).noneMatch(cp -> switch (Character.getType(cp)) {
            case Character.CONTROL, Character.FORMAT, Character.SURROGATE -> true;
            default -> false;
        });
        // Sanitizing is idempotent: a sanitized name is its own key.
        assertThat(FilenameSanitizer.sanitize(file)).isEqualTo(file);
    }
}
