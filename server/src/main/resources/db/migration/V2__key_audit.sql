-- Every key operation (create, rotate, shred) leaves an audit row, successful or not.
CREATE TABLE IF NOT EXISTS ${silo_schema}.key_audit (
    id              bigserial   PRIMARY KEY,
    tenant_slug     text        NOT NULL,
    action          text        NOT NULL CHECK (action IN ('CREATE', 'ROTATE', 'SHRED')),
    key_id          uuid,
    from_provider   text,
    from_master_key jsonb,
    to_provider     text,
    to_master_key   jsonb,
    caller          text        NOT NULL,
    outcome         text        NOT NULL CHECK (outcome IN ('OK', 'FAILED')),
    error           text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS key_audit_tenant_idx ON ${silo_schema}.key_audit (tenant_slug, created_at);

-- A shredded tenant must not silently get a fresh key: its old ciphertext would look recoverable.
CREATE TABLE IF NOT EXISTS ${silo_schema}.key_shreds (
    tenant_slug  text        PRIMARY KEY,
    key_id       uuid        NOT NULL,
    shredded_at  timestamptz NOT NULL DEFAULT now(),
    recreated_at timestamptz
);
