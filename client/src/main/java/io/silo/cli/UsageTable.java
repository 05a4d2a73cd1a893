package io.silo.cli;

import io.silo.api.v1.TenantUsage;
import io.silo.api.v1.UsageDrift;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Locale;

/** The human views of usage: one row per tenant and month, and the drift a reconcile found. */
final class UsageTable {

  /** Marks a month that had no changes, whose totals are those of the latest earlier month. */
  static final String CARRIED = "*";
  static final String CARRIED_NOTE = CARRIED + " no changes that month: totals carried forward from the month before";

  private UsageTable() {}

  static Table of(Iterable<TenantUsage> usage) {
    Table table = new Table("TENANT", "MONTH", "MIB", "BYTES", "DOCUMENTS", "BUCKET");
    for (TenantUsage u : usage) {
      table.row(u.getTenant(), month(u.getMonth()) + (u.getCarriedForward() ? CARRIED : ""),
          String.format(Locale.ROOT, "%.3f", u.getStorageUsedMb()), Long.toString(u.getStorageBytes()),
          Long.toString(u.getDocumentsCount()), u.getBucket());
    }
    return table;
  }

  static boolean anyCarried(Iterable<TenantUsage> usage) {
    for (TenantUsage u : usage) {
      if (u.getCarriedForward()) {
        return true;
      }
    }
    return false;
  }

  static Table drift(Iterable<UsageDrift> drift) {
    Table table = new Table("TENANT", "RECORDED BYTES", "ACTUAL BYTES", "RECORDED DOCUMENTS", "ACTUAL DOCUMENTS");
    for (UsageDrift d : drift) {
      table.row(d.getTenant(), d.getRowMissing() ? "(no row)" : Long.toString(d.getRecordedBytes()),
          Long.toString(d.getActualBytes()), d.getRowMissing() ? "(no row)" : Long.toString(d.getRecordedCount()),
          Long.toString(d.getActualCount()));
    }
    return table;
  }

  /** {@code 2026-11} for the first instant of a month. */
  static String month(com.google.protobuf.Timestamp t) {
    return Instant.ofEpochSecond(t.getSeconds()).atOffset(ZoneOffset.UTC).toLocalDate().toString().substring(0, 7);
  }
}
