package io.silo.store;

import io.vertx.core.Future;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.RowSet;
import io.vertx.sqlclient.Tuple;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Reads and registers tenants in the application's tenants table. */
public final class TenantStore {

  /** Result of a registration: the tenant and whether this call inserted it. */
  public record Registration(TenantRecord tenant, boolean created) {
  }

  /** The slug exists with another display name. */
  public static final class SlugTakenException extends RuntimeException {
    private final TenantRecord existing;

    public SlugTakenException(TenantRecord existing) {
      super("tenant '" + existing.slug() + "' already exists with a different display name");
      this.existing = existing;
    }

    public TenantRecord existing() {
      return existing;
    }
  }

  private static final String COLUMNS = "id, slug, name, silo_status, created_at, updated_at";

  private final Pool pool;
  private final Tables tables;

  public TenantStore(Pool pool, Tables tables) {
    this.pool = pool;
    this.tables = tables;
  }

  /**
   * Inserts the tenant unless its slug exists. Concurrent registrations of one slug are settled by the
   * unique index: exactly one insert wins and the others read the winner's row.
   */
  public Future<Registration> register(String slug, String name) {
    String insert = "INSERT INTO " + tables.tenants() + " (name, slug) VALUES ($1, $2) "
        + "ON CONFLICT (slug) WHERE slug IS NOT NULL DO NOTHING RETURNING " + COLUMNS;
    return pool.preparedQuery(insert).execute(Tuple.of(name, slug)).compose(rows -> {
      if (rows.size() == 1) {
        return Future.succeededFuture(new Registration(map(rows.iterator().next()), true));
      }
      return get(slug).compose(existing -> {
        if (existing.isEmpty()) {
          // The conflicting row vanished between the two statements; let the caller retry.
          return Future.failedFuture(new IllegalStateException("tenant '" + slug + "' changed concurrently, retry"));
        }
        if (!existing.get().name().equals(name)) {
          return Future.failedFuture(new SlugTakenException(existing.get()));
        }
        return Future.succeededFuture(new Registration(existing.get(), false));
      });
    });
  }

  public Future<Optional<TenantRecord>> get(String slug) {
    return pool.preparedQuery("SELECT " + COLUMNS + " FROM " + tables.tenants() + " WHERE slug = $1")
        .execute(Tuple.of(slug))
        .map(rows -> rows.size() == 0 ? Optional.empty() : Optional.of(map(rows.iterator().next())));
  }

  /** Which of the given slugs are registered, in one query however many there are. */
  public Future<java.util.Set<String>> existing(List<String> slugs) {
    if (slugs.isEmpty()) {
      return Future.succeededFuture(java.util.Set.of());
    }
    return pool.preparedQuery("SELECT slug FROM " + tables.tenants() + " WHERE slug = ANY($1)")
        .execute(Tuple.of(slugs.toArray(new String[0])))
        .map(rows -> {
          java.util.Set<String> out = new java.util.HashSet<>();
          rows.forEach(row -> out.add(row.getString(0)));
          return out;
        });
  }

  /** The slugs of the tenants with the given ids (the application table's primary key), in one query. */
  public Future<java.util.Map<Long, String>> slugsByIds(java.util.Collection<Long> ids) {
    if (ids.isEmpty()) {
      return Future.succeededFuture(java.util.Map.of());
    }
    return pool.preparedQuery("SELECT id, slug FROM " + tables.tenants() + " WHERE slug IS NOT NULL AND id = ANY($1)")
        .execute(Tuple.of(ids.toArray(new Long[0])))
        .map(rows -> {
          java.util.Map<Long, String> out = new java.util.HashMap<>();
          rows.forEach(row -> out.put(row.getLong(0), row.getString(1)));
          return out;
        });
  }

  /** One page of tenants ordered by slug, starting after the given slug; fetches one extra row to know if more exist. */
  public Future<List<TenantRecord>> listAfter(String afterSlug, int limit) {
    String sql = "SELECT " + COLUMNS + " FROM " + tables.tenants()
        + " WHERE slug IS NOT NULL AND slug > $1 ORDER BY slug LIMIT $2";
    return pool.preparedQuery(sql).execute(Tuple.of(afterSlug, limit)).map(TenantStore::mapAll);
  }

  /** Number of registered tenants; used by tests and reports. */
  public Future<Long> count() {
    return pool.query("SELECT count(*) FROM " + tables.tenants() + " WHERE slug IS NOT NULL").execute()
        .map(rows -> rows.iterator().next().getLong(0));
  }

  private static List<TenantRecord> mapAll(RowSet<Row> rows) {
    List<TenantRecord> out = new ArrayList<>(rows.size());
    for (Row row : rows) {
      out.add(map(row));
    }
    return out;
  }

  private static TenantRecord map(Row row) {
    return new TenantRecord(row.getLong("id"), row.getString("slug"), row.getString("name"),
        row.getString("silo_status"), row.getOffsetDateTime("created_at"), row.getOffsetDateTime("updated_at"));
  }
}
