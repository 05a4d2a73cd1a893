package io.silo.jobs;

import io.silo.SiloException;
import io.vertx.core.json.JsonObject;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/** The ordered list of phases this server runs, as wired at start-up; parses stored definitions with them. */
public final class Phases {

  private final List<Phase> ordered;

  public Phases(List<Phase> ordered) {
    this.ordered = List.copyOf(ordered);
  }

  public List<Phase> all() {
    return ordered;
  }

  /** The phases a job with {@code definition} runs, in order. */
  public List<Phase> applicable(JobDefinition definition) {
    return ordered.stream().filter(p -> p.appliesTo(definition)).toList();
  }

  /** The phase called {@code name}, if this server runs it. */
  public java.util.Optional<Phase> find(PhaseName name) {
    return ordered.stream().filter(p -> p.name() == name).findFirst();
  }

  /** Parses a stored definition ({@code {"mongo": {...}, "s3": {...}}}); a part no phase knows is an error. */
  public JobDefinition parse(JsonObject json) {
    Map<PhaseName, PhaseSpec> parts = new EnumMap<>(PhaseName.class);
    for (String key : json.fieldNames()) {
      PhaseName name = null;
      for (PhaseName n : PhaseName.values()) {
        if (n.key().equals(key)) {
          name = n;
        }
      }
      java.util.Optional<Phase> phase = name == null ? java.util.Optional.empty() : find(name);
      if (phase.isEmpty()) {
        throw SiloException.precondition("definition part '" + key + "' is not a phase this server runs");
      }
      parts.put(name, phase.get().parse(json.getJsonObject(key)));
    }
    return new JobDefinition(parts);
  }
}
