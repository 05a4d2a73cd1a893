package io.silo.dev;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * The legacy SaaS application's own tables ({@code tenants}, {@code documents}) as the app had them before Silo,
 * created if absent so the dev stack looks like a real estate. Silo's control-plane tables live elsewhere (schema
 * {@code silo}, Flyway).
 */
public final class AppSchema {

    public static final String DEFAULT_TENANTS_TABLE = "tenants";
    public static final String DEFAULT_DOCUMENTS_TABLE = "documents";

    /**
     * Lower-case unquoted PostgreSQL identifiers, optionally schema-qualified. Restricting to this form means the
     * name is the same quoted or not, so other code can refer to it either way, and nothing can be injected.
     */
    private static final Pattern IDENTIFIER = Pattern.compile("[a-z_][a-z0-9_]{0,62}");

    private final String tenantsTable;
    private final String documentsTable;

    /** Uses the given table names, each {@code name} or {@code schema.name} of lower-case SQL identifiers. */
    public AppSchema(String tenantsTable, String documentsTable) {
        this.tenantsTable = requireTableName(tenantsTable);
        this.documentsTable = requireTableName(documentsTable);
        if (this.tenantsTable.equals(this.documentsTable)) {
            throw new IllegalArgumentException("tenants and documents tables must differ: " + tenantsTable);
        }
    }

    /** The legacy app's names: {@code tenants} and {@code documents}. */
    public static AppSchema defaults() {
        return new AppSchema(DEFAULT_TENANTS_TABLE, DEFAULT_DOCUMENTS_TABLE);
    }

    /** Validates {@code name} or {@code schema.name}; throws {@link IllegalArgumentException} otherwise. */
    public static String requireTableName(String name) {
        Objects.requireNonNull(name, "table name");
        String[] parts = name.split("\\.", -1);
        if (parts.length > 2) {
            throw new IllegalArgumentException("Not a table name (at most schema.table): '" + name + "'");
        }
        for (String part : parts) {
            if (!IDENTIFIER.matcher(part).matches()) {
                throw new IllegalArgumentException("Not a valid SQL identifier: '" + name
                        + "' (use lower-case letters, digits and _, starting with a letter or _, at most 63 chars)");
            }
        }
        return name;
    }

    public String tenantsTable() {
        return tenantsTable;
    }

    public String documentsTable() {
        return documentsTable;
    }

    /** Creates the tables (and a tenant_id index on documents) if they do not exist, in one transaction. */
    public void createIfAbsent(Connection c) throws SQLException {
        boolean autoCommit = c.getAutoCommit();
        c.setAutoCommit(false);
        try (Statement st = c.createStatement()) {
            // Serialise concurrent creators (two dev stacks on one server, tests): CREATE TABLE IF NOT EXISTS
            // alone can still fail with a unique violation on pg_type when two sessions race.
            st.execute("select pg_advisory_xact_lock(hashtext('silo.dev.AppSchema'))");
            st.execute("create table if not exists " + tenantsTable + " ("
                    + "id bigserial primary key, "
                    + "name text not null, "
                    + "slug text unique not null, "
                    + "created_at timestamptz default now(), "
                    + "updated_at timestamptz default now())");
            st.execute("create table if not exists " + documentsTable + " ("
                    + "id bigserial primary key, "
                    + "tenant_id bigint not null references " + tenantsTable + "(id), "
                    + "filename text not null, "
                    + "s3_bucket text not null, "
                    + "s3_key text not null, "
                    + "size_bytes bigint not null, "
                    + "content_type text, "
                    + "created_at timestamptz default now())");
            // The legacy app looked documents up per tenant; without this every per-tenant scan is a full scan.
            // An index lives in its table's schema, so it is named after the bare table name (kept within 63 chars).
            String bare = documentsTable.substring(documentsTable.indexOf('.') + 1);
            String suffix = "_tenant_id_idx";
            String indexName = bare.substring(0, Math.min(bare.length(), 63 - suffix.length())) + suffix;
            st.execute("create index if not exists " + indexName + " on " + documentsTable + " (tenant_id)");
            c.commit();
        } catch (SQLException | RuntimeException e) {
            c.rollback();
            throw e;
        } finally {
            c.setAutoCommit(autoCommit);
        }
    }
}
