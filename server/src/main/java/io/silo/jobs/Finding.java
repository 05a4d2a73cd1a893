package io.silo.jobs;

/**
 * One problem a phase's verification found, without plaintext: {@code kind} is a proto {@code FindingKind} name
 * without its prefix (MISSING_TARGET, OBJECT_MISMATCH, ...), {@code item} a document _id or object key.
 */
public record Finding(PhaseName phase, String kind, String item, String field, String message) {
}
