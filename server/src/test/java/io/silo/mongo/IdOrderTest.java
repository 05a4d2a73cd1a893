package io.silo.mongo;

import static org.assertj.core.api.Assertions.assertThat;

import org.bson.BsonDecimal128;
import org.bson.BsonDouble;
import org.bson.BsonInt32;
import org.bson.BsonInt64;
import org.bson.BsonObjectId;
import org.bson.BsonString;
import org.bson.types.Decimal128;
import org.bson.types.ObjectId;
import org.junit.jupiter.api.Test;

class IdOrderTest {

  @Test
  void stringsCompareByUtf8BytesLikeMongoNotByUtf16Units() {
    // U+FF5E sorts after a surrogate pair in UTF-16 but before it in UTF-8, MongoDB's simple collation.
    BsonString fullwidthTilde = new BsonString("\uFF5E");
    BsonString emoji = new BsonString("\uD83D\uDE00");
    assertThat("\uFF5E".compareTo("\uD83D\uDE00")).isPositive();
    assertThat(IdOrder.compare(fullwidthTilde, emoji)).isNegative();
    assertThat(IdOrder.compare(new BsonString("a-000010"), new BsonString("a-000009"))).isPositive();
  }

  @Test
  void objectIdsAndMixedWidthIntegersCompareByValue() {
    ObjectId first = new ObjectId(1, 1);
    ObjectId second = new ObjectId(2, 0);
    assertThat(IdOrder.compare(new BsonObjectId(first), new BsonObjectId(second))).isNegative();
    assertThat(IdOrder.compare(new BsonInt32(7), new BsonInt64(7))).isZero();
    assertThat(IdOrder.compare(new BsonInt64(1L << 40), new BsonDouble(3.5))).isPositive();
  }

  @Test
  void differentTypeFamiliesAndDecimalsAreUnknownSoCallersAskTheDatabase() {
    assertThat(IdOrder.compare(new BsonString("1"), new BsonInt32(1))).isNull();
    assertThat(IdOrder.compare(new BsonObjectId(new ObjectId()), new BsonString("x"))).isNull();
    assertThat(IdOrder.compare(new BsonDecimal128(Decimal128.parse("1.5")), new BsonInt32(1))).isNull();
    assertThat(IdOrder.compare(new BsonDouble(Double.NaN), new BsonInt32(1))).isNull();
  }
}
