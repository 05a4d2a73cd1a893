-- The audit trail of calls: every mutating call, whatever its outcome, and every refused call. It names the caller
-- (token name or certificate subject, never a token), the RPC, the tenant, a SHA-256 of the request message and the
-- gRPC status. Key and data operations keep their own audits (key_audit, data_audit); ListAuditEvents joins all three.
CREATE TABLE IF NOT EXISTS ${silo_schema}.audit_log (
    id             bigserial   PRIMARY KEY,
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    caller         text        NOT NULL,
    peer           text,
    rpc            text        NOT NULL,
    tenant_slug    text,
    migration_id   uuid,
    request_sha256 text,
    outcome        text        NOT NULL,
    message        text
);
CREATE INDEX IF NOT EXISTS audit_log_by_time ON ${silo_schema}.audit_log (created_at, id);
CREATE INDEX IF NOT EXISTS audit_log_by_tenant ON ${silo_schema}.audit_log (tenant_slug, created_at);

-- Append-only, also for Silo's own database user: the owner of a table cannot be denied UPDATE or DELETE by a
-- REVOKE, so a trigger refuses them, and TRUNCATE too. Removing the triggers needs a deliberate DDL change, which
-- the database's own logs show.
CREATE OR REPLACE FUNCTION ${silo_schema}.audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
DROP TRIGGER IF EXISTS audit_log_no_change ON ${silo_schema}.audit_log;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON ${silo_schema}.audit_log
    FOR EACH ROW EXECUTE FUNCTION ${silo_schema}.audit_log_append_only();
DROP TRIGGER IF EXISTS audit_log_no_truncate ON ${silo_schema}.audit_log;
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON ${silo_schema}.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION ${silo_schema}.audit_log_append_only();
