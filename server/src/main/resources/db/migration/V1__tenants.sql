-- Silo works inside the application's own database. The application's tenants
-- table is the source of truth for tenants; Silo only adds what it needs.
-- ${tenants_table} and ${silo_schema} are Flyway placeholders, validated as SQL
-- identifiers by Silo before Flyway runs.

CREATE SCHEMA IF NOT EXISTS ${silo_schema};

-- A fresh database (or a standalone Silo) gets a minimal tenants table; an
-- existing application table is kept as it is and only extended below.
CREATE TABLE IF NOT EXISTS ${tenants_table} (
    id         bigserial PRIMARY KEY,
    name       text        NOT NULL,
    slug       text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE ${tenants_table} ADD COLUMN IF NOT EXISTS slug text;
ALTER TABLE ${tenants_table} ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE ${tenants_table} ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();
-- Isolation status is Silo's, so it carries a prefix that cannot collide with
-- the application's own columns.
ALTER TABLE ${tenants_table} ADD COLUMN IF NOT EXISTS silo_status text NOT NULL DEFAULT 'POOLED';

-- Partial, because application rows that predate Silo may have no slug yet.
CREATE UNIQUE INDEX IF NOT EXISTS ${tenants_index}
    ON ${tenants_table} (slug) WHERE slug IS NOT NULL;

-- Every mutating call that carries an idempotency key is recorded, so a retry
-- can be traced to the first call that did the work.
CREATE TABLE IF NOT EXISTS ${silo_schema}.idempotency_keys (
    idempotency_key text        NOT NULL,
    operation       text        NOT NULL,
    resource        text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (operation, idempotency_key)
);
