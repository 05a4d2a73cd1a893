package io.silo.jobs;

import io.vertx.core.json.JsonObject;
import java.util.Collections;
import java.util.EnumMap;
import java.util.Map;
import java.util.Optional;

/**
 * A migration's definition parsed once into typed parts, one per phase that runs: {@code {mongo: plan?, s3: plan?}}.
 * Its JSON form is what {@code silo.migrations.definition} stores and what a verification is compared with.
 */
public record JobDefinition(Map<PhaseName, PhaseSpec> parts) {

  public JobDefinition {
    parts = Collections.unmodifiableMap(new EnumMap<>(parts.isEmpty() ? new EnumMap<>(PhaseName.class)
        : new EnumMap<>(parts)));
  }

  /** A definition with only {@code part}. */
  public static JobDefinition of(PhaseName phase, PhaseSpec part) {
    Map<PhaseName, PhaseSpec> map = new EnumMap<>(PhaseName.class);
    map.put(phase, part);
    return new JobDefinition(map);
  }

  public boolean has(PhaseName phase) {
    return parts.containsKey(phase);
  }

  public Optional<PhaseSpec> part(PhaseName phase) {
    return Optional.ofNullable(parts.get(phase));
  }

  /** This phase's part as its own type; the phase asking knows the type it parsed. */
  public <T extends PhaseSpec> T part(PhaseName phase, Class<T> type) {
    PhaseSpec spec = parts.get(phase);
    if (spec == null) {
      throw new IllegalStateException("the definition has no " + phase + " part");
    }
    return type.cast(spec);
  }

  /** {@code {"mongo": {...}, "s3": {...}}} in phase order. */
  public JsonObject toJson() {
    JsonObject json = new JsonObject();
    parts.forEach((phase, spec) -> json.put(phase.key(), spec.toJson()));
    return json;
  }
}
