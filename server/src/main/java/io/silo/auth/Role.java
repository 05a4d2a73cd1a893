package io.silo.auth;

import java.util.Locale;

/** What a token may do; each role includes everything the roles before it may do. */
public enum Role {
  /** Reads: get, list, watch, plan, read-only verify, usage, reports. */
  VIEWER,
  /** A viewer that also runs migrations: start, pause, resume, cancel, roll back, document URLs. */
  OPERATOR,
  /** Everything, including tenant registration, key create/rotate/shred and purge. */
  ADMIN;

  /** Whether this role may do what {@code required} may do. */
  public boolean includes(Role required) {
    return ordinal() >= required.ordinal();
  }

  /** The lower-case name used in configuration and messages. */
  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** Parses a configured role name; null when it is not one. */
  static Role parse(String value) {
    for (Role role : values()) {
      if (role.label().equals(value)) {
        return role;
      }
    }
    return null;
  }
}
