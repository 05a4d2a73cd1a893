package io.silo.s3;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * Derives a tenant's bucket name, {@code <prefix>-<slug>-<8 hex>}, valid under every S3 naming rule.
 *
 * <p>The name is a pure function of (prefix, tenant slug, attempt): a crash between CreateBucket and recording the
 * outcome is recovered by computing the same name again, and {@code BucketAlreadyExists} (a stranger owns the name)
 * moves on to attempt + 1. The hex suffix hashes the <em>original</em> slug, so two slugs that clean up to the same
 * text ("Acme" and "acme!") still get different buckets.
 */
public final class BucketNamer {

    /** The prefix the S3 migration guide uses. */
    public static final String DEFAULT_PREFIX = "dataroom-saas";

    static final int MAX_LENGTH = 63;
    private static final int SUFFIX_HEX = 8;
    private static final Pattern IPV4_FORM = Pattern.compile("\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}");
    private static final Pattern ALLOWED = Pattern.compile("[a-z0-9.-]+");
    private static final Pattern PREFIX_ALLOWED = Pattern.compile("[a-z0-9](?:[a-z0-9-]*[a-z0-9])?");

    private final String prefix;
    private final int maxSlugLength;

    /** A namer with the guide's prefix, {@value #DEFAULT_PREFIX}. */
    public BucketNamer() {
        this(DEFAULT_PREFIX);
    }

    /**
     * A namer with {@code prefix}: lowercase letters, digits and inner hyphens, leaving room for at least one slug
     * character. Dots are refused: a dotted bucket name breaks virtual-hosted TLS (the certificate is *.s3...).
     */
    public BucketNamer(String prefix) {
        Objects.requireNonNull(prefix, "prefix");
        if (!PREFIX_ALLOWED.matcher(prefix).matches()) {
            throw new IllegalArgumentException("bucket prefix must be lowercase letters, digits and inner hyphens: "
                    + prefix);
        }
        // The reserved prefixes (xn--, sthree-, ...) are rules about the start of the name, which is the prefix.
        List<String> problems = violations(prefix + "-a-00000000");
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException("bucket prefix " + prefix + ": " + String.join("; ", problems));
        }
        // <prefix>-<slug>-<8 hex>: two hyphens and the suffix are fixed, the slug gets what is left.
        this.maxSlugLength = MAX_LENGTH - prefix.length() - 2 - SUFFIX_HEX;
        if (maxSlugLength < 1) {
            throw new IllegalArgumentException("bucket prefix too long (max " + (MAX_LENGTH - 3 - SUFFIX_HEX)
                    + " characters): " + prefix);
        }
        this.prefix = prefix;
    }

    public String prefix() {
        return prefix;
    }

    /** The bucket name for {@code tenantSlug} at {@code attempt} (0 first, +1 after each BucketAlreadyExists). */
    public String name(String tenantSlug, int attempt) {
        Objects.requireNonNull(tenantSlug, "tenantSlug");
        if (attempt < 0) {
            throw new IllegalArgumentException("attempt must be >= 0: " + attempt);
        }
        return prefix + "-" + cleanSlug(tenantSlug) + "-" + suffix(tenantSlug, attempt);
    }

    /**
     * The slug as bucket-name text: ASCII-folded, lowercased, every run of other characters one hyphen, cut to fit
     * at a fixed length (so a long slug always truncates the same way), no hyphen at either end.
     */
    String cleanSlug(String slug) {
        // NFKD splits "é" into "e" + a combining mark, which then drops out as a non-ASCII character.
        String folded = Normalizer.normalize(slug, Normalizer.Form.NFKD).toLowerCase(Locale.ROOT);
        StringBuilder out = new StringBuilder(Math.min(folded.length(), maxSlugLength));
        boolean pendingHyphen = false;
        for (int i = 0; i < folded.length() && out.length() < maxSlugLength; i++) {
            char c = folded.charAt(i);
            boolean alnum = c >= 'a' && c <= 'z' || c >= '0' && c <= '9';
            if (alnum) {
                if (pendingHyphen && out.length() > 0) {
                    if (out.length() + 2 > maxSlugLength) {
                        break; // no room for "-x": end at the previous word rather than glue two words together
                    }
                    out.append('-');
                }
                pendingHyphen = false;
                out.append(c);
            } else if (Character.getType(c) != Character.NON_SPACING_MARK) {
                pendingHyphen = true;
            }
        }
        return out.length() == 0 ? "tenant" : out.toString();
    }

    private static String suffix(String slug, int attempt) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(slug.getBytes(StandardCharsets.UTF_8));
            // A separator byte that UTF-8 text never contains keeps ("a", 12) and ("a1", 2) apart.
            sha.update((byte) 0xFF);
            sha.update(Integer.toString(attempt).getBytes(StandardCharsets.US_ASCII));
            return HexFormat.of().formatHex(sha.digest(), 0, SUFFIX_HEX / 2);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every JVM", e);
        }
    }

    /**
     * Every S3 general-purpose bucket naming rule that {@code name} breaks; empty when it is valid. Used by the
     * tests and as a guard for names that come from configuration or records rather than from this namer.
     */
    public static List<String> violations(String name) {
        List<String> problems = new ArrayList<>();
        if (name == null) {
            problems.add("name is null");
            return problems;
        }
        if (name.length() < 3 || name.length() > MAX_LENGTH) {
            problems.add("length " + name.length() + " is not within 3..63");
        }
        if (!ALLOWED.matcher(name).matches()) {
            problems.add("only lowercase letters, digits, dots and hyphens are allowed");
        }
        if (!name.isEmpty() && (!isAlnum(name.charAt(0)) || !isAlnum(name.charAt(name.length() - 1)))) {
            problems.add("must start and end with a letter or digit");
        }
        if (name.contains("..")) {
            problems.add("must not contain two adjacent dots");
        }
        if (IPV4_FORM.matcher(name).matches()) {
            problems.add("must not be formatted as an IP address");
        }
        for (String reserved : List.of("xn--", "sthree-", "sthree-configurator", "amzn-s3-demo-")) {
            if (name.startsWith(reserved)) {
                problems.add("must not start with " + reserved);
            }
        }
        for (String reserved : List.of("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")) {
            if (name.endsWith(reserved)) {
                problems.add("must not end with " + reserved);
            }
        }
        return problems;
    }

    private static boolean isAlnum(char c) {
        return c >= 'a' && c <= 'z' || c >= '0' && c <= '9';
    }
}
