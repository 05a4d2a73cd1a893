package io.silo.jobs;

import io.vertx.core.json.JsonObject;

/**
 * One phase's part of a migration definition (for example the Mongo encryption plan or the S3 copy plan), parsed once
 * by its phase and stored as JSON under the phase's key.
 */
public interface PhaseSpec {

  /** The stored form; {@link Phase#parse} reads it back. */
  JsonObject toJson();

  /** Where the phase reads from (a namespace, a bucket): names data-audit rows and finds earlier purges. */
  String source();

  /** Where it writes to. */
  String target();
}
