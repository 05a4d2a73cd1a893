package io.silo.keys;

import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Vertx;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BiFunction;
import java.util.function.Function;

/** The process-wide registry of {@link KmsBudget}s: one per KMS provider and region, plus one per AWS control-plane operation. */
public final class KmsBudgets {

  private record Key(String provider, String region, String operation) {}

  private final Vertx vertx;
  private final MeterRegistry registry;
  private final BiFunction<String, String, KmsBudget.Settings> settingsFor;
  private final Function<String, KmsBudget.Settings> controlSettingsFor;
  private final Map<Key, KmsBudget> budgets = new ConcurrentHashMap<>();

  /**
   * @param settingsFor the settings of a (provider, region) budget, asked once when it is first used; region is ""
   *     for providers without regions (local, kmip)
   * @param registry where the budgets' meters go, or null for none
   */
  public KmsBudgets(Vertx vertx, MeterRegistry registry, BiFunction<String, String, KmsBudget.Settings> settingsFor) {
    this(vertx, registry, settingsFor, operation -> KmsBudget.Settings.of(settingsFor.apply("aws", "").ratePerSecond()));
  }

  /**
   * As above, with the settings of control-plane budgets by AWS operation (e.g. "CreateKey"); each operation of each
   * provider and region gets a budget of its own, because AWS meters each control-plane operation separately.
   */
  public KmsBudgets(Vertx vertx, MeterRegistry registry, BiFunction<String, String, KmsBudget.Settings> settingsFor,
                    Function<String, KmsBudget.Settings> controlSettingsFor) {
    this.vertx = Objects.requireNonNull(vertx, "vertx");
    this.registry = registry;
    this.settingsFor = Objects.requireNonNull(settingsFor, "settingsFor");
    this.controlSettingsFor = Objects.requireNonNull(controlSettingsFor, "controlSettingsFor");
  }

  /** The same rate for every provider and region. */
  public static KmsBudgets uniform(Vertx vertx, MeterRegistry registry, double ratePerSecond) {
    KmsBudget.Settings settings = KmsBudget.Settings.of(ratePerSecond);
    return new KmsBudgets(vertx, registry, (p, r) -> settings);
  }

  /**
   * The budget of a provider as named in kmsProviders (e.g. "aws", "kmip:prod") and a region, created on first use.
   */
  public KmsBudget budget(String provider, String region) {
    Key key = new Key(Objects.requireNonNull(provider, "provider"), region == null ? "" : region, "");
    // computeIfAbsent so two callers racing on a new key share one budget (and one set of meters).
    return budgets.computeIfAbsent(key,
        k -> new KmsBudget(vertx, k.provider(), k.region(), settingsFor.apply(k.provider(), k.region()), registry));
  }

  /** The control-plane budget of one AWS operation (e.g. "CreateKey") of a provider and region, created on first use. */
  public KmsBudget control(String provider, String region, String operation) {
    Key key = new Key(Objects.requireNonNull(provider, "provider"), region == null ? "" : region,
        Objects.requireNonNull(operation, "operation"));
    return budgets.computeIfAbsent(key, k -> new KmsBudget(vertx, k.provider(), k.region(), KmsBudget.CONTROL_PLANE,
        k.operation(), controlSettingsFor.apply(k.operation()), registry));
  }

  /** The budget of a provider without regions. */
  public KmsBudget budget(String provider) {
    return budget(provider, "");
  }

  /** The budgets created so far, keyed "provider" or "provider/region", control-plane ones with " Operation" added. */
  public Map<String, KmsBudget> snapshot() {
    Map<String, KmsBudget> out = new java.util.TreeMap<>();
    budgets.forEach((k, v) -> out.put((k.region().isEmpty() ? k.provider() : k.provider() + "/" + k.region())
        + (k.operation().isEmpty() ? "" : " " + k.operation()), v));
    return out;
  }
}
