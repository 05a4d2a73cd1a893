-- Every bucket Silo is about to create, or has created or adopted, for a tenant. The intent is written before
-- CreateBucket and the outcome after, so a crash in between never leaves a bucket nobody knows about; rollback
-- deletes a bucket only when created_by_silo. PROBE rows are the throw-away buckets of the permissions preflight.
CREATE TABLE IF NOT EXISTS ${silo_schema}.tenant_buckets (
    bucket          text        PRIMARY KEY,
    tenant_slug     text        NOT NULL,
    purpose         text        NOT NULL DEFAULT 'TENANT' CHECK (purpose IN ('TENANT', 'PROBE')),
    state           text        NOT NULL CHECK (state IN ('INTENT', 'CREATED', 'ADOPTED', 'DELETED')),
    created_by_silo boolean     NOT NULL DEFAULT false,
    -- Which BucketNamer attempt produced the name; null until known, -1 for a name it would not produce.
    attempt         integer,
    -- The controls as last applied or checked: [{control, state, detail}].
    controls        jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS tenant_buckets_by_tenant ON ${silo_schema}.tenant_buckets (tenant_slug, updated_at DESC);
