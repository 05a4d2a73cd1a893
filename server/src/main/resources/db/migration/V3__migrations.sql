-- One row per tenant per migration run. The runner that holds the lease
-- (lease_token from a sequence, so tokens only grow) is the only writer of
-- progress: every checkpoint update checks the token, which fences out an
-- instance that lost its lease while paused by GC or a network partition.
CREATE SEQUENCE IF NOT EXISTS ${silo_schema}.lease_tokens;

CREATE TABLE IF NOT EXISTS ${silo_schema}.migrations (
    id               uuid        PRIMARY KEY,
    tenant_slug      text        NOT NULL,
    state            text        NOT NULL CHECK (state IN ('PLANNED', 'RUNNING', 'PAUSED', 'COMPLETED', 'FAILED',
                                                           'CANCELLED', 'ROLLED_BACK')),
    phase            text        NOT NULL CHECK (phase IN ('KEYS', 'MONGO', 'S3', 'VERIFY', 'DONE')),
    -- A pause or cancel asked of a running job; the runner applies it after its current batch.
    requested        text        CHECK (requested IN ('PAUSE', 'CANCEL')),
    definition       jsonb       NOT NULL,
    idempotency_key  text,
    key_id           uuid,
    -- Canonical extended JSON of the last source _id whose batch, and every batch before it, is written.
    checkpoint_id    text,
    docs_total       bigint      NOT NULL DEFAULT 0,
    docs_done        bigint      NOT NULL DEFAULT 0,
    docs_failed      bigint      NOT NULL DEFAULT 0,
    docs_bytes       bigint      NOT NULL DEFAULT 0,
    verify_checked   bigint      NOT NULL DEFAULT 0,
    verify_findings  bigint      NOT NULL DEFAULT 0,
    last_error       text,
    lease_owner      text,
    lease_token      bigint,
    lease_expires_at timestamptz,
    created_by       text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz,
    -- When the MONGO phase first started and when it ended: plans estimate durations from these.
    mongo_started_at timestamptz,
    mongo_ended_at   timestamptz
);

-- At most one active run per tenant: a second start returns the running one.
CREATE UNIQUE INDEX IF NOT EXISTS migrations_one_active_per_tenant
    ON ${silo_schema}.migrations (tenant_slug) WHERE state IN ('PLANNED', 'RUNNING', 'PAUSED');
CREATE INDEX IF NOT EXISTS migrations_claimable
    ON ${silo_schema}.migrations (created_at) WHERE state IN ('PLANNED', 'RUNNING');
CREATE INDEX IF NOT EXISTS migrations_by_tenant
    ON ${silo_schema}.migrations (tenant_slug, created_at DESC);

-- Items that did not fit the plan, in the spirit of an S3 Batch Operations
-- completion report. The primary key makes a replayed batch record a failure once.
CREATE TABLE IF NOT EXISTS ${silo_schema}.migration_failures (
    migration_id uuid        NOT NULL REFERENCES ${silo_schema}.migrations (id) ON DELETE CASCADE,
    phase        text        NOT NULL,
    source_id    text        NOT NULL,
    item_key     text,
    version_id   text,
    error_code   text        NOT NULL,
    http_status  integer,
    message      text        NOT NULL,
    seq          bigserial,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (migration_id, phase, source_id)
);
CREATE INDEX IF NOT EXISTS migration_failures_report ON ${silo_schema}.migration_failures (migration_id, seq);

-- Every verification of a tenant, so a purge can require a clean one that is
-- newer than the last change to the target.
CREATE TABLE IF NOT EXISTS ${silo_schema}.verifications (
    id               bigserial   PRIMARY KEY,
    tenant_slug      text        NOT NULL,
    migration_id     uuid        REFERENCES ${silo_schema}.migrations (id) ON DELETE SET NULL,
    source_namespace text        NOT NULL,
    target_namespace text        NOT NULL,
    checked          bigint      NOT NULL,
    findings         bigint      NOT NULL,
    clean            boolean     NOT NULL,
    caller           text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS verifications_by_tenant ON ${silo_schema}.verifications (tenant_slug, id DESC);

-- Destructive data operations (rollback of a target, purge of a source) leave an audit row, successful or not.
CREATE TABLE IF NOT EXISTS ${silo_schema}.data_audit (
    id                bigserial   PRIMARY KEY,
    tenant_slug       text        NOT NULL,
    action            text        NOT NULL CHECK (action IN ('ROLLBACK', 'PURGE_SOURCE')),
    migration_id      uuid,
    verification_id   bigint,
    namespace         text        NOT NULL,
    documents_deleted bigint      NOT NULL DEFAULT 0,
    caller            text        NOT NULL,
    outcome           text        NOT NULL CHECK (outcome IN ('OK', 'FAILED')),
    error             text,
    created_at        timestamptz NOT NULL DEFAULT now()
);
