package io.silo.s3;

import java.nio.charset.StandardCharsets;
import java.text.Normalizer;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * Turns a document's id and user-supplied filename into its object key in the tenant bucket,
 * {@code documents/<document-id>/<sanitized-filename>}, deterministically.
 *
 * <p>Determinism is what makes copies idempotent: a re-run computes the same key and finds the object already
 * there. The rules, in order:
 * <ol>
 *   <li>Unicode NFC, so names that differ only in composition ("é" vs "e" + U+0301) give one key.</li>
 *   <li>Only the last path segment survives ({@code /} and {@code \} both separate), so {@code ../../etc/passwd}
 *       becomes {@code passwd}; segments {@code .} and {@code ..} never count.</li>
 *   <li>Characters of the Unicode categories Cc (control), Cf (format: the bidi overrides and isolates U+202A–E and
 *       U+2066–9, the marks U+200E/F, zero-width joiners, BOM, soft hyphen), Cs (lone surrogates), Zl and Zp are
 *       removed; other spaces become a plain space.
 *       <b>ZWJ (U+200D) is removed too, although it is harmless inside an emoji sequence:</b> a key is an identifier,
 *       and invisible characters let two keys that look identical differ (or a name look like another), while a
 *       family emoji without its joiners still reads as the same people side by side. The original filename is
 *       kept for downloads (Content-Disposition) by the copier, so nothing the user sees is lost.</li>
 *   <li>Leading and trailing spaces and dots go (hidden files, Windows' trailing-dot trouble).</li>
 *   <li>The extension (after the last dot, 1–16 letters or digits) is kept as it is; an empty stem becomes
 *       {@value #FALLBACK_STEM}.</li>
 *   <li>The whole key is at most 1,024 bytes of UTF-8 (S3's limit): the stem is cut at a code-point boundary and
 *       the extension kept.</li>
 * </ol>
 */
public final class FilenameSanitizer {

    /** The S3 limit on an object key, in bytes of UTF-8. */
    public static final int MAX_KEY_BYTES = 1024;
    /** The key prefix of every migrated document. */
    public static final String DOCUMENTS_PREFIX = "documents/";
    /** The stem used when nothing of the original name survives. */
    public static final String FALLBACK_STEM = "file";

    private static final int MAX_EXTENSION_CODE_POINTS = 16;
    // Ids become a key segment verbatim; anything else could collide after cleaning, so it is refused instead.
    private static final Pattern DOCUMENT_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");

    private FilenameSanitizer() {
    }

    /**
     * The object key for a document: {@code documents/<documentId>/<sanitized filename>}, at most
     * {@value #MAX_KEY_BYTES} bytes of UTF-8.
     *
     * @throws IllegalArgumentException if the id is not 1–128 characters of {@code [A-Za-z0-9._-]} starting with a
     *     letter or digit (ids are never rewritten: two rewritten ids could become one key)
     */
    public static String key(String documentId, String filename) {
        Objects.requireNonNull(documentId, "documentId");
        if (!DOCUMENT_ID.matcher(documentId).matches()) {
            throw new IllegalArgumentException("document id is not a safe key segment: " + documentId);
        }
        String prefix = DOCUMENTS_PREFIX + documentId + "/";
        return prefix + sanitize(filename, MAX_KEY_BYTES - utf8Length(prefix));
    }

    /** The filename part of {@link #key}, without a length limit beyond the key's. */
    public static String sanitize(String filename) {
        return sanitize(filename, MAX_KEY_BYTES - DOCUMENTS_PREFIX.length() - 2);
    }

    private static String sanitize(String filename, int maxBytes) {
        String name = Normalizer.normalize(filename == null ? "" : filename, Normalizer.Form.NFC);
        // Removing a character between a base and its combining mark can leave a non-NFC sequence: normalise again.
        name = Normalizer.normalize(stripInvisible(lastSegment(name)), Normalizer.Form.NFC).strip();
        while (name.endsWith(".")) {
            name = name.substring(0, name.length() - 1).strip();
        }

        // Split before trimming leading dots, so ".pdf" keeps its extension (and becomes "file.pdf").
        String stem = name;
        String extension = "";
        int dot = name.lastIndexOf('.');
        if (dot >= 0 && isExtension(name.substring(dot + 1))) {
            stem = name.substring(0, dot);
            extension = name.substring(dot);
        }
        stem = trimSpacesAndDots(stem);
        if (stem.isEmpty()) {
            stem = FALLBACK_STEM;
        }
        int stemBudget = maxBytes - utf8Length(extension);
        if (utf8Length(stem) > stemBudget) {
            stem = trimSpacesAndDots(truncateUtf8(stem, stemBudget));
            if (stem.isEmpty()) {
                stem = FALLBACK_STEM;
            }
        }
        return stem + extension;
    }

    private static String lastSegment(String name) {
        String[] segments = name.split("[/\\\\]");
        for (int i = segments.length - 1; i >= 0; i--) {
            String s = segments[i];
            if (!s.isEmpty() && !s.equals(".") && !s.equals("..")) {
                return s;
            }
        }
        return "";
    }

    private static String stripInvisible(String name) {
        StringBuilder out = new StringBuilder(name.length());
        name.codePoints().forEach(cp -> {
            switch (Character.getType(cp)) {
                case Character.CONTROL, Character.FORMAT, Character.SURROGATE,
                        Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR -> { }
                case Character.SPACE_SEPARATOR -> out.append(' ');
                default -> out.appendCodePoint(cp);
            }
        });
        return out.toString();
    }

    private static String trimSpacesAndDots(String s) {
        int start = 0;
        int end = s.length();
        while (start < end && (s.charAt(start) == ' ' || s.charAt(start) == '.')) {
            start++;
        }
        while (end > start && (s.charAt(end - 1) == ' ' || s.charAt(end - 1) == '.')) {
            end--;
        }
        return s.substring(start, end);
    }

    private static boolean isExtension(String s) {
        int count = s.codePointCount(0, s.length());
        return count >= 1 && count <= MAX_EXTENSION_CODE_POINTS && s.codePoints().allMatch(Character::isLetterOrDigit);
    }

    /** The longest prefix of {@code s} that is whole code points and at most {@code maxBytes} of UTF-8. */
    private static String truncateUtf8(String s, int maxBytes) {
        int bytes = 0;
        int i = 0;
        while (i < s.length()) {
            int cp = s.codePointAt(i);
            int len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
            if (bytes + len > maxBytes) {
                break;
            }
            bytes += len;
            i += Character.charCount(cp);
        }
        return s.substring(0, i);
    }

    private static int utf8Length(String s) {
        return s.getBytes(StandardCharsets.UTF_8).length;
    }
}
