package io.silo.bench;

/** One timed run: how many documents it moved (or would have moved) and how long it took. */
record Measurement(String mode, long docs, long nanos, String note) {

  Measurement(String mode, long docs, long nanos) {
    this(mode, docs, nanos, "");
  }

  double seconds() {
    return nanos / 1e9;
  }

  double docsPerSecond() {
    return nanos <= 0 ? 0 : docs / seconds();
  }

  /** The rate at which doing I/O and crypto one after the other would run: 1/(1/b + 1/c). */
  static double combined(double ioRate, double cryptoRate) {
    return 1.0 / (1.0 / ioRate + 1.0 / cryptoRate);
  }
}
