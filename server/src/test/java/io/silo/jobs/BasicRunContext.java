package io.silo.jobs;

import io.vertx.core.Context;
import io.vertx.core.Future;
import java.util.Optional;
import java.util.UUID;
import java.util.function.Supplier;

/**
 * The part of a {@link RunContext} that phase tests share: one phase's definition on a Vert.x context, the bound key
 * and the checkpoint, no purge history, notices dropped, no tenant lock. Tests add totals, commits and stops.
 */
public abstract class BasicRunContext implements RunContext {

  public final UUID migrationId;
  public final String tenant;
  public final JobDefinition definition;
  public final Context context;
  private final PhaseName phase;
  public volatile String checkpoint;
  public volatile TenantKey key;

  protected BasicRunContext(UUID migrationId, String tenant, PhaseName phase, PhaseSpec spec, Context context,
                            String checkpoint) {
    this.migrationId = migrationId;
    this.tenant = tenant;
    this.phase = phase;
    this.definition = JobDefinition.of(phase, spec);
    this.context = context;
    this.checkpoint = checkpoint;
  }

  @Override
  public UUID migrationId() {
    return migrationId;
  }

  @Override
  public String tenant() {
    return tenant;
  }

  @Override
  public JobDefinition definition() {
    return definition;
  }

  @Override
  public <T extends PhaseSpec> T spec(Class<T> type) {
    return definition.part(phase, type);
  }

  @Override
  public Context context() {
    return context;
  }

  @Override
  public TenantKey key() {
    return key;
  }

  @Override
  public Future<Void> bindKey(TenantKey key) {
    this.key = key;
    return Future.succeededFuture();
  }

  @Override
  public String checkpoint() {
    return checkpoint;
  }

  @Override
  public Future<Optional<String>> sourcePurgedAt(String source) {
    return Future.succeededFuture(Optional.empty());
  }

  @Override
  public Future<Void> notice(String text) {
    return Future.succeededFuture();
  }

  @Override
  public <T> Future<T> exclusive(Supplier<Future<T>> work) {
    return work.get();
  }
}
