package io.silo.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Assume;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;

class BucketNamerTest {

    private final BucketNamer namer = new BucketNamer();

    @Provide
    Arbitrary<String> slugs() {
        // Plain slugs, and hostile ones: any Unicode, punctuation only, very long, dots and "xn--" look-alikes.
        return Arbitraries.oneOf(
                Arbitraries.strings().withCharRange('a', 'z').numeric().withChars('-').ofMinLength(0).ofMaxLength(80),
                Arbitraries.strings().all().ofMinLength(0).ofMaxLength(200),
                Arbitraries.strings().withChars(".-_ xn").ofMinLength(0).ofMaxLength(70),
                Arbitraries.of("192.168.0.1", "xn--bcher-kva", "sthree-x", "a-s3alias", "b--ol-s3", "..", "", "É"));
    }

    @Property(tries = 2000)
    void everyNameIsAValidBucketName(@ForAll("slugs") String slug, @ForAll @IntRange(min = 0, max = 50) int attempt) {
        String name = namer.name(slug, attempt);
        assertThat(BucketNamer.violations(name)).as(name).isEmpty();
        assertThat(name).matches("dataroom-saas-[a-z0-9-]+-[0-9a-f]{8}");
    }

    @Property(tries = 500)
    void theSameSlugAndAttemptAlwaysGiveTheSameName(@ForAll("slugs") String slug, @ForAll @IntRange(max = 20) int attempt) {
        assertThat(new BucketNamer().name(slug, attempt)).isEqualTo(namer.name(slug, attempt));
    }

    @Property(tries = 2000)
    void distinctTenantsGetDistinctNames(@ForAll("slugs") String a, @ForAll("slugs") String b) {
        Assume.that(!a.equals(b));
        assertThat(namer.name(a, 0)).isNotEqualTo(namer.name(b, 0));
    }

    @Property(tries = 300)
    void eachAttemptGivesANewName(@ForAll("slugs") String slug, @ForAll @IntRange(max = 30) int attempt) {
        assertThat(namer.name(slug, attempt + 1)).isNotEqualTo(namer.name(slug, attempt));
    }

    @Property(tries = 300)
    void aConfiguredPrefixIsUsedAndNamesStayValid(@ForAll("slugs") String slug) {
        BucketNamer custom = new BucketNamer("acme-prod-tenant-storage-eu-central-1");
        String name = custom.name(slug, 0);
        assertThat(name).startsWith("acme-prod-tenant-storage-eu-central-1-");
        assertThat(BucketNamer.violations(name)).as(name).isEmpty();
    }

    @net.jqwik.api.Example
    void readableSlugsStayReadable() {
        assertThat(namer.name("acme-corp", 0)).matches("dataroom-saas-acme-corp-[0-9a-f]{8}");
        assertThat(namer.name("Café Übersee GmbH", 0)).matches("dataroom-saas-cafe-ubersee-gmbh-[0-9a-f]{8}");
        assertThat(namer.name("!!!", 0)).matches("dataroom-saas-tenant-[0-9a-f]{8}");
    }

    @net.jqwik.api.Example
    void longSlugsAreCutTheSameWayEveryTime() {
        String slug = "the-quite-extraordinarily-long-tenant-name-of-a-holding-company-with-subsidiaries";
        String name = namer.name(slug, 0);
        assertThat(name).hasSizeLessThanOrEqualTo(63).isEqualTo(namer.name(slug, 0));
        assertThat(name).startsWith("dataroom-saas-the-quite-extraordinarily-long-tenant-");
        // Same 40-character start, different tails: the hash of the whole slug keeps them apart.
        assertThat(namer.name(slug + "-2", 0)).isNotEqualTo(name);
    }

    @net.jqwik.api.Example
    void invalidPrefixesAreRefused() {
        assertThatThrownBy(() -> new BucketNamer("xn--abc")).hasMessageContaining("xn--");
        assertThatThrownBy(() -> new BucketNamer("sthree-abc")).hasMessageContaining("sthree-");
        assertThatThrownBy(() -> new BucketNamer("Upper")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new BucketNamer("a.b")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new BucketNamer("x".repeat(60))).isInstanceOf(IllegalArgumentException.class);
    }

    @net.jqwik.api.Example
    void theValidatorKnowsEveryRule() {
        assertThat(BucketNamer.violations("ab")).isNotEmpty();
        assertThat(BucketNamer.violations("a".repeat(64))).isNotEmpty();
        assertThat(BucketNamer.violations("Abc")).isNotEmpty();
        assertThat(BucketNamer.violations("-abc")).isNotEmpty();
        assertThat(BucketNamer.violations("abc-")).isNotEmpty();
        assertThat(BucketNamer.violations("a..b")).isNotEmpty();
        assertThat(BucketNamer.violations("192.168.5.4")).isNotEmpty();
        assertThat(BucketNamer.violations("xn--abc")).isNotEmpty();
        assertThat(BucketNamer.violations("sthree-abc")).isNotEmpty();
        assertThat(BucketNamer.violations("abc-s3alias")).isNotEmpty();
        assertThat(BucketNamer.violations("abc--ol-s3")).isNotEmpty();
        assertThat(BucketNamer.violations("my-bucket.v2")).isEmpty();
    }
}
