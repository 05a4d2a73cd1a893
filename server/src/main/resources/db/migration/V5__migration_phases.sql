-- A migration runs an ordered list of phases (KEYS, MONGO, S3); each phase's progress and checkpoint is one row here,
-- so status, watch, estimates and the runner loop over phases instead of naming them in columns.
CREATE TABLE IF NOT EXISTS ${silo_schema}.migration_phases (
    migration_id uuid        NOT NULL REFERENCES ${silo_schema}.migrations (id) ON DELETE CASCADE,
    phase        text        NOT NULL CHECK (phase IN ('KEYS', 'MONGO', 'S3')),
    ordinal      integer     NOT NULL,
    -- Where the phase writes (namespace, bucket): a later run into the same target compares instead of assuming it empty.
    target       text,
    total        bigint      NOT NULL DEFAULT 0,
    total_bytes  bigint      NOT NULL DEFAULT 0,
    done         bigint      NOT NULL DEFAULT 0,
    failed       bigint      NOT NULL DEFAULT 0,
    bytes        bigint      NOT NULL DEFAULT 0,
    -- The phase's cursor after its last committed batch (a Mongo _id in extended JSON, a document id).
    checkpoint   text,
    started_at   timestamptz NOT NULL DEFAULT now(),
    ended_at     timestamptz,
    PRIMARY KEY (migration_id, phase)
);

-- Existing runs keep their MONGO progress.
INSERT INTO ${silo_schema}.migration_phases (migration_id, phase, ordinal, target, total, done, failed, bytes,
                                            checkpoint, started_at, ended_at)
SELECT id, 'MONGO', 1, definition->>'target', docs_total, docs_done, docs_failed, docs_bytes, checkpoint_id, mongo_started_at, mongo_ended_at
FROM ${silo_schema}.migrations WHERE mongo_started_at IS NOT NULL
ON CONFLICT DO NOTHING;

ALTER TABLE ${silo_schema}.migrations DROP COLUMN IF EXISTS checkpoint_id;
ALTER TABLE ${silo_schema}.migrations DROP COLUMN IF EXISTS docs_total;
ALTER TABLE ${silo_schema}.migrations DROP COLUMN IF EXISTS docs_done;
ALTER TABLE ${silo_schema}.migrations DROP COLUMN IF EXISTS docs_failed;
ALTER TABLE ${silo_schema}.migrations DROP COLUMN IF EXISTS docs_bytes;
ALTER TABLE ${silo_schema}.migrations DROP COLUMN IF EXISTS mongo_started_at;
ALTER TABLE ${silo_schema}.migrations DROP COLUMN IF EXISTS mongo_ended_at;

-- Definitions become {"mongo": plan, "s3": plan}: one part per phase that runs.
UPDATE ${silo_schema}.migrations SET definition = jsonb_build_object('mongo', definition)
WHERE NOT (definition ? 'mongo' OR definition ? 's3');
UPDATE ${silo_schema}.verifications SET definition = jsonb_build_object('mongo', definition)
WHERE definition IS NOT NULL AND NOT (definition ? 'mongo' OR definition ? 's3');

-- Which phases a verification checked: a purge needs every phase of the migration's definition checked clean.
ALTER TABLE ${silo_schema}.verifications ADD COLUMN IF NOT EXISTS phases text[];
UPDATE ${silo_schema}.verifications SET phases = ARRAY['MONGO'] WHERE phases IS NULL;

-- Audit rows name the phase whose data they deleted.
ALTER TABLE ${silo_schema}.data_audit ADD COLUMN IF NOT EXISTS phase text;
UPDATE ${silo_schema}.data_audit SET phase = 'MONGO' WHERE phase IS NULL;
