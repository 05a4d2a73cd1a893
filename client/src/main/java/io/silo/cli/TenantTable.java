package io.silo.cli;

import com.google.protobuf.Timestamp;
import io.silo.api.v1.Tenant;
import io.silo.api.v1.TenantStatus;
import java.time.Instant;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;

/** The human view of tenants: SLUG, NAME, STATUS, CREATED columns. */
final class TenantTable {
  private static final String STATUS_PREFIX = "TENANT_STATUS_";

  private TenantTable() {}

  static Table of(Iterable<Tenant> tenants) {
    Table table = new Table("SLUG", "NAME", "STATUS", "CREATED");
    for (Tenant t : tenants) {
      table.row(t.getSlug(), t.getDisplayName(), status(t.getStatus()), time(t.hasCreateTime() ? t.getCreateTime() : null));
    }
    return table;
  }

  // The enum prefix is noise in a column headed STATUS; JSON keeps the full name.
  static String status(TenantStatus status) {
    if (status == TenantStatus.UNRECOGNIZED) {
      return "UNKNOWN";
    }
    String name = status.name();
    return name.startsWith(STATUS_PREFIX) ? name.substring(STATUS_PREFIX.length()) : name;
  }

  // UTC at whole seconds: unambiguous across the SREs' time zones and short.
  static String time(Timestamp ts) {
    if (ts == null) {
      return null;
    }
    Instant instant = Instant.ofEpochSecond(ts.getSeconds(), ts.getNanos()).truncatedTo(ChronoUnit.SECONDS);
    return DateTimeFormatter.ISO_INSTANT.format(instant);
  }
}
