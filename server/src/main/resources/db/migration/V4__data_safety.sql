-- A run whose verification found problems ends VERIFY_FAILED instead of COMPLETED:
-- COMPLETED means copied and verified clean, and only COMPLETED can lead to a purge.
ALTER TABLE ${silo_schema}.migrations DROP CONSTRAINT IF EXISTS migrations_state_check;
ALTER TABLE ${silo_schema}.migrations ADD CONSTRAINT migrations_state_check
    CHECK (state IN ('PLANNED', 'RUNNING', 'PAUSED', 'COMPLETED', 'VERIFY_FAILED', 'FAILED', 'CANCELLED',
                     'ROLLED_BACK'));

-- What an operator should know about a run that is not an error: a re-sync's changes, a purged source.
ALTER TABLE ${silo_schema}.migrations ADD COLUMN IF NOT EXISTS notice text;
-- Top-level fields a run copied in plaintext because its plan does not list them.
ALTER TABLE ${silo_schema}.migrations ADD COLUMN IF NOT EXISTS plaintext_fields jsonb NOT NULL DEFAULT '[]';
-- Transient faults requeue the run with a backoff instead of failing it: how often in a row, and not before when.
ALTER TABLE ${silo_schema}.migrations ADD COLUMN IF NOT EXISTS retry_attempts integer NOT NULL DEFAULT 0;
ALTER TABLE ${silo_schema}.migrations ADD COLUMN IF NOT EXISTS retry_after timestamptz;

-- A verification gates a purge only when it answered the migration's own question: the exact definition.
ALTER TABLE ${silo_schema}.verifications ADD COLUMN IF NOT EXISTS definition jsonb;

-- A purge is recorded before it deletes anything and updated with what it deleted, so a purge that died midway
-- still tells rollback and re-sync that the target may hold the only copy.
ALTER TABLE ${silo_schema}.data_audit DROP CONSTRAINT IF EXISTS data_audit_outcome_check;
ALTER TABLE ${silo_schema}.data_audit ADD CONSTRAINT data_audit_outcome_check
    CHECK (outcome IN ('STARTED', 'OK', 'FAILED'));
