-- AWS KMS through the SDK (issue 13).

-- Each tenant's own AWS KMS master key (CMK) per provider and region. The row is written before CreateKey and its
-- provisioning_id is also a tag on the key, so a key whose CreateKey answer or CreateAlias was lost to a crash is
-- found again (by the recorded ARN, or by that tag) and adopted instead of being created twice. claimed_until keeps
-- two Silo instances from provisioning the same tenant's key at once; create_sent_at, when the last CreateKey went
-- out, lets a call after a lost answer wait until AWS lists the new key (ListKeys is eventually consistent).
CREATE TABLE IF NOT EXISTS ${silo_schema}.tenant_cmks (
    provider        text        NOT NULL,
    region          text        NOT NULL,
    tenant_slug     text        NOT NULL,
    alias           text        NOT NULL,
    provisioning_id uuid        NOT NULL,
    key_arn         text,
    state           text        NOT NULL CHECK (state IN ('CREATING', 'ACTIVE', 'DELETION_SCHEDULED')),
    origin          text        NOT NULL DEFAULT 'CREATED' CHECK (origin IN ('CREATED', 'ADOPTED')),
    claimed_until   timestamptz,
    create_sent_at  timestamptz,
    deletion_date   timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, region, tenant_slug)
);
CREATE INDEX IF NOT EXISTS tenant_cmks_arn_idx ON ${silo_schema}.tenant_cmks (key_arn);

-- Where each tenant data key came from: CREATED by Silo, or ADOPTED (found under the configured alt name, made
-- before Silo, e.g. by the CSFLE lab's tenant-<id> naming). Keys without a row have not been used by Silo yet.
CREATE TABLE IF NOT EXISTS ${silo_schema}.tenant_keys (
    key_id      uuid        PRIMARY KEY,
    tenant_slug text        NOT NULL,
    alt_name    text        NOT NULL,
    origin      text        NOT NULL CHECK (origin IN ('CREATED', 'ADOPTED')),
    recorded_at timestamptz NOT NULL DEFAULT now()
);
-- Keys Silo created before this table existed, named by the only template there was then.
INSERT INTO ${silo_schema}.tenant_keys (key_id, tenant_slug, alt_name, origin, recorded_at)
SELECT DISTINCT ON (key_id) key_id, tenant_slug, 'tenant-' || tenant_slug, 'CREATED', created_at
FROM ${silo_schema}.key_audit
WHERE action = 'CREATE' AND outcome = 'OK' AND key_id IS NOT NULL
ORDER BY key_id, created_at
ON CONFLICT (key_id) DO NOTHING;

-- New audited actions: a data key adopted, a tenant CMK created or adopted, a CMK's deletion scheduled.
ALTER TABLE ${silo_schema}.key_audit DROP CONSTRAINT IF EXISTS key_audit_action_check;
ALTER TABLE ${silo_schema}.key_audit ADD CONSTRAINT key_audit_action_check
    CHECK (action IN ('CREATE', 'ROTATE', 'SHRED', 'ADOPT', 'CMK_CREATE', 'CMK_ADOPT', 'CMK_SCHEDULE_DELETION'));
