package io.silo.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.silo.Quote;
import io.silo.mongo.EncryptionPlan;
import io.silo.mongo.FieldRule;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Status messages stay small and readable whatever the caller sent, and are encoded as the gRPC spec says. */
class StatusMessageTest {

  @Test
  void grpcMessageEncodingTouchesOnlyBytesOutsidePrintableAsciiAndPercent() {
    assertThat(GrpcErrors.percentEncode("slug: must be 3-40 characters long (got 41)"))
        .isEqualTo("slug: must be 3-40 characters long (got 41)");
    assertThat(GrpcErrors.percentEncode("100% caf\u00e9\n\u202E")).isEqualTo("100%25 caf%C3%A9%0A%E2%80%AE");
  }

  @Test
  void quotedValuesAreCutAndInvisibleCharactersShown() {
    String quoted = Quote.of("x".repeat(200_000));
    assertThat(quoted).hasSizeLessThan(Quote.MAX_QUOTED + 40).endsWith("(200000 characters)");
    assertThat(Quote.of("a\u202Eb\u0000c")).isEqualTo("'a\\u202Eb\\u0000c'");
    assertThat(Quote.of(null)).isEqualTo("(none)");
  }

  @Test
  void messagesAreBoundedWithoutSplittingASurrogatePair() {
    String message = "a".repeat(GrpcErrors.MAX_MESSAGE_CHARS - 1) + "\uD83D\uDE00" + "tail";
    String bounded = GrpcErrors.bounded(message);
    assertThat(bounded).startsWith("a".repeat(GrpcErrors.MAX_MESSAGE_CHARS - 1) + "\u2026");
    assertThat(GrpcErrors.bounded("short")).isEqualTo("short");
  }

  @Test
  void aPlanOfManyFieldsIsRefusedBeforeItsPairsAreCompared() {
    List<FieldRule> fields = new ArrayList<>();
    for (int i = 0; i < 25_000; i++) {
      fields.add(new FieldRule("f" + i, FieldRule.Algorithm.RANDOM, "string"));
    }
    EncryptionPlan plan = new EncryptionPlan(new EncryptionPlan.Namespace("legacy", "patients"),
        new EncryptionPlan.Namespace("medical", "patients"), "tenantId", fields, 100);
    long started = System.nanoTime();
    EncryptionPlan.InvalidPlanException refused = org.junit.jupiter.api.Assertions.assertThrows(
        EncryptionPlan.InvalidPlanException.class, () -> plan.validate("definition."));
    assertThat(refused.field()).isEqualTo("definition.fields");
    assertThat(System.nanoTime() - started).isLessThan(1_000_000_000L);
  }
}
