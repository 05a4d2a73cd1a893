package io.silo.cli;

import io.silo.api.v1.KeyOrigin;
import io.silo.api.v1.TenantKey;

/** The human view of data keys: TENANT, KEY ID, ORIGIN, PROVIDER, MASTER KEY, CREATED, UPDATED columns. */
final class KeyTable {

  /** Longest master key descriptor shown in a table cell; JSON output always has the whole text. */
  static final int MAX_DESCRIPTOR = 40;

  private KeyTable() {}

  static Table of(Iterable<TenantKey> keys) {
    Table table = new Table("TENANT", "KEY ID", "ORIGIN", "PROVIDER", "MASTER KEY", "CREATED", "UPDATED");
    for (TenantKey k : keys) {
      table.row(
          k.getTenant(),
          k.getKeyId(),
          origin(k.getOrigin()),
          k.getMasterKey().getProvider(),
          truncate(k.getMasterKey().getDescriptorJson()),
          TenantTable.time(k.hasCreateTime() ? k.getCreateTime() : null),
          TenantTable.time(k.hasUpdateTime() ? k.getUpdateTime() : null));
    }
    return table;
  }

  /** Who made the key: CREATED by Silo, ADOPTED from before Silo, UNMANAGED (no record); blank if not said. */
  static String origin(KeyOrigin origin) {
    return switch (origin) {
      case KEY_ORIGIN_CREATED -> "CREATED";
      case KEY_ORIGIN_ADOPTED -> "ADOPTED";
      case KEY_ORIGIN_UNMANAGED -> "UNMANAGED";
      default -> "";
    };
  }

  /** The provider name as shown in remarks; empty means the server never said. */
  static String provider(String provider) {
    return provider == null || provider.isEmpty() ? "(unknown)" : provider;
  }

  // An AWS or Azure descriptor runs to a hundred characters and would push the
  // time columns off the screen.
  static String truncate(String descriptor) {
    if (descriptor.codePointCount(0, descriptor.length()) <= MAX_DESCRIPTOR) {
      return descriptor;
    }
    // Cut by code points so a surrogate pair is never split in half.
    return descriptor.substring(0, descriptor.offsetByCodePoints(0, MAX_DESCRIPTOR - 3)) + "...";
  }
}
