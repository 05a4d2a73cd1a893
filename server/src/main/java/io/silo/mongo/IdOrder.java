package io.silo.mongo;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.bson.BsonValue;

/**
 * MongoDB's sort order for the {@code _id} types Silo can compare exactly: ObjectId (bytewise), strings (UTF-8
 * bytewise, the simple collation) and numbers (by value). Anything else, or two different type families, is
 * "unknown" and callers must fall back to asking the database.
 */
final class IdOrder {

  private IdOrder() {
  }

  /** Negative, zero or positive as MongoDB would sort {@code a} and {@code b}; null when not known here. */
  static Integer compare(BsonValue a, BsonValue b) {
    if (a == null || b == null) {
      return null;
    }
    if (a.isObjectId() && b.isObjectId()) {
      return a.asObjectId().getValue().compareTo(b.asObjectId().getValue());
    }
    if (a.isString() && b.isString()) {
      return Arrays.compareUnsigned(a.asString().getValue().getBytes(StandardCharsets.UTF_8),
          b.asString().getValue().getBytes(StandardCharsets.UTF_8));
    }
    if (isIntegral(a) && isIntegral(b)) {
      return Long.compare(a.asNumber().longValue(), b.asNumber().longValue());
    }
    if (a.isNumber() && b.isNumber() && !a.isDecimal128() && !b.isDecimal128()) {
      double x = a.asNumber().doubleValue();
      double y = b.asNumber().doubleValue();
      return Double.isNaN(x) || Double.isNaN(y) ? null : Double.compare(x, y);
    }
    return null;
  }

  private static boolean isIntegral(BsonValue v) {
    return v.isInt32() || v.isInt64();
  }
}
