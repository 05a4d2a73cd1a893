-- The S3 phase's tracking, in the application's own tables (the seed's layout, so its support queries run
-- unchanged). A document is migrated when silo_status = 'COPIED' and silo_bucket/silo_key name its copy; presigned
-- URLs only ever point there, never at the shared s3_bucket/s3_key.
ALTER TABLE ${documents_table}
    ADD COLUMN IF NOT EXISTS silo_bucket           text,
    ADD COLUMN IF NOT EXISTS silo_key              text,
    ADD COLUMN IF NOT EXISTS silo_version_id       text,
    -- The copy's ETag, and the ETag of the source object it was copied from (a conditional copy, so the bytes are
    -- exactly that source's): verify compares both, and purge deletes the source only while it still has this ETag.
    ADD COLUMN IF NOT EXISTS silo_etag             text,
    ADD COLUMN IF NOT EXISTS silo_source_etag      text,
    ADD COLUMN IF NOT EXISTS silo_status           text CHECK (silo_status IN ('COPIED', 'FAILED')),
    ADD COLUMN IF NOT EXISTS silo_error            text,
    ADD COLUMN IF NOT EXISTS silo_migration_id     uuid,
    ADD COLUMN IF NOT EXISTS silo_migrated_at      timestamptz,
    -- Set when purge deleted the shared-bucket object: the tenant bucket then holds the only copy, which rollback
    -- never deletes.
    ADD COLUMN IF NOT EXISTS silo_source_purged_at timestamptz;

-- The phase reads a tenant's documents in id order after a cursor.
CREATE INDEX IF NOT EXISTS silo_documents_tenant_id_id_idx ON ${documents_table} (tenant_id, id);

-- One row per tenant, as in the S3 migration guide.
CREATE TABLE IF NOT EXISTS ${app_schema}.s3_migrations (
    id                 bigserial   PRIMARY KEY,
    tenant_id          bigint      NOT NULL UNIQUE REFERENCES ${tenants_table} (id),
    status             text        NOT NULL CHECK (status IN ('PENDING', 'IN_PROGRESS', 'COMPLETED', 'FAILED',
                                                              'ROLLED_BACK')),
    documents_migrated integer     NOT NULL DEFAULT 0,
    errors             integer     NOT NULL DEFAULT 0,
    started_at         timestamptz,
    completed_at       timestamptz,
    bucket             text,
    migration_id       uuid,
    updated_at         timestamptz
);
