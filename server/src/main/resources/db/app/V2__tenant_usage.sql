-- Storage used per tenant and month, kept by triggers on the application's documents table, so that the migration
-- guide's support query runs unchanged:
--   SELECT t.name, tu.storage_used_mb, tu.documents_count FROM tenants t JOIN tenant_usage tu ON t.id = tu.tenant_id
--   WHERE tu.month = date_trunc('month', CURRENT_DATE);
--
-- Units: storage_bytes is exact; storage_used_mb is MiB (2^20 bytes, rounded to 3 decimals), derived from it.
-- A row holds the tenant's totals at the end of its month (so far, for the current one). A month is a UTC calendar
-- month, identified by its first day.
--
-- Every name inside a function body is schema-qualified and every function pins search_path: triggers run inside
-- the application's sessions, under its search path. The trigger functions are SECURITY DEFINER so the
-- application's role needs no privileges on Silo's tables.

CREATE TABLE IF NOT EXISTS ${app_schema}.tenant_usage (
    tenant_id       bigint        NOT NULL REFERENCES ${tenants_table} (id) ON DELETE CASCADE,
    month           date          NOT NULL CHECK (extract(day FROM month) = 1),
    storage_bytes   bigint        NOT NULL DEFAULT 0,
    storage_used_mb numeric(20,3) GENERATED ALWAYS AS (round(storage_bytes / 1048576.0, 3)) STORED,
    documents_count bigint        NOT NULL DEFAULT 0,
    updated_at      timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, month)
);
COMMENT ON COLUMN ${app_schema}.tenant_usage.storage_used_mb IS 'MiB (2^20 bytes), from storage_bytes';

-- A trigger that could not update tenant_usage records why here (after a WARNING) instead of failing the
-- application's write; silo usage --reconcile repairs the tenant and marks the row resolved. tenant_id NULL means
-- "every tenant" (a TRUNCATE, or a statement whose tenants are unknown).
CREATE TABLE IF NOT EXISTS ${silo_schema}.usage_drift (
    id              bigserial   PRIMARY KEY,
    tenant_id       bigint,
    month           date,
    bytes_delta     bigint,
    documents_delta bigint,
    operation       text        NOT NULL,
    sqlstate        text,
    message         text,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz
);
CREATE INDEX IF NOT EXISTS usage_drift_open ON ${silo_schema}.usage_drift (tenant_id) WHERE resolved_at IS NULL;

-- The month a write counts in: the session's silo.usage_month setting when set (tests and back-dated corrections),
-- else the UTC month of the transaction's start, so one transaction never spans two months.
CREATE OR REPLACE FUNCTION ${silo_schema}.usage_month() RETURNS date
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
    SELECT date_trunc('month', coalesce(nullif(current_setting('silo.usage_month', true), '')::timestamp,
                                        now() AT TIME ZONE 'UTC'))::date
$fn$;

-- Adds a change to one tenant's usage in p_month and every later month on record.
--
-- Concurrency: deltas are row-level `x = x + delta` updates, so concurrent writers never lose each other's changes.
-- The first write of a month carries the totals forward from the latest earlier month, which is only exact if no
-- writer still has an uncommitted change to that earlier month. So writers hold a per-tenant advisory lock in
-- shared mode until they commit, and the creator of a month takes it exclusively: it waits for every open writer of
-- that tenant, then reads with a fresh snapshot. A writer that waited for a creator then updates "p_month and later"
-- with a fresh snapshot too, so its change also reaches the month created meanwhile. (Assumes READ COMMITTED, the
-- PostgreSQL default; see the README.)
CREATE OR REPLACE FUNCTION ${silo_schema}.usage_apply(p_tenant bigint, p_month date, p_bytes bigint, p_count bigint)
    RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    v_bytes bigint;
    v_count bigint;
BEGIN
    IF EXISTS (SELECT 1 FROM ${app_schema}.tenant_usage u WHERE u.tenant_id = p_tenant AND u.month = p_month) THEN
        PERFORM pg_catalog.pg_advisory_xact_lock_shared(pg_catalog.hashtext('silo.tenant_usage'),
                                                        pg_catalog.int4(p_tenant % 2147483648));
    ELSE
        PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('silo.tenant_usage'),
                                                 pg_catalog.int4(p_tenant % 2147483648));
        SELECT u.storage_bytes, u.documents_count INTO v_bytes, v_count
          FROM ${app_schema}.tenant_usage u
         WHERE u.tenant_id = p_tenant AND u.month < p_month
         ORDER BY u.month DESC LIMIT 1;
        INSERT INTO ${app_schema}.tenant_usage (tenant_id, month, storage_bytes, documents_count)
        VALUES (p_tenant, p_month, coalesce(v_bytes, 0), coalesce(v_count, 0))
        ON CONFLICT (tenant_id, month) DO NOTHING;
    END IF;
    IF p_bytes <> 0 OR p_count <> 0 THEN
        -- Row locks in month order: an UPDATE takes them in scan order, which differs between two writers as rows
        -- get new versions, and two writers of one tenant would then deadlock.
        PERFORM 1 FROM ${app_schema}.tenant_usage u
         WHERE u.tenant_id = p_tenant AND u.month >= p_month ORDER BY u.month FOR NO KEY UPDATE;
        UPDATE ${app_schema}.tenant_usage u
           SET storage_bytes = u.storage_bytes + p_bytes,
               documents_count = u.documents_count + p_count,
               updated_at = pg_catalog.now()
         WHERE u.tenant_id = p_tenant AND u.month >= p_month;
    END IF;
END
$fn$;

-- Logs and records a change that tenant_usage missed. Never raises: the application's write must go on.
CREATE OR REPLACE FUNCTION ${silo_schema}.usage_note_drift(p_tenant bigint, p_month date, p_bytes bigint,
                                                           p_count bigint, p_operation text, p_sqlstate text,
                                                           p_message text)
    RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
    RAISE WARNING 'silo: tenant_usage missed a change (tenant %, % bytes, % documents, %): % %; run silo usage --reconcile',
        coalesce(p_tenant::text, 'all'), p_bytes, p_count, p_operation, p_sqlstate, p_message;
    BEGIN
        INSERT INTO ${silo_schema}.usage_drift (tenant_id, month, bytes_delta, documents_delta, operation, sqlstate,
                                                message)
        VALUES (p_tenant, p_month, p_bytes, p_count, p_operation, p_sqlstate, p_message);
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'silo: could not record usage drift either: % %', SQLSTATE, SQLERRM;
    END;
END
$fn$;

-- usage_apply for the current month, turning any failure into a drift record.
CREATE OR REPLACE FUNCTION ${silo_schema}.usage_apply_safely(p_tenant bigint, p_bytes bigint, p_count bigint,
                                                             p_operation text)
    RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    v_month date;
    v_detail text;
BEGIN
    IF p_tenant IS NULL THEN
        RETURN;
    END IF;
    BEGIN
        v_month := ${silo_schema}.usage_month();
        PERFORM ${silo_schema}.usage_apply(p_tenant, v_month, p_bytes, p_count);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL;
        PERFORM ${silo_schema}.usage_note_drift(p_tenant, v_month, p_bytes, p_count, p_operation, SQLSTATE,
            SQLERRM || coalesce(' (' || nullif(v_detail, '') || ')', ''));
    END;
END
$fn$;

-- Inserts and deletes are handled per statement over the transition table (named alike by both triggers): one
-- update per tenant however many rows a statement touched, taken in tenant id order so two multi-tenant statements
-- lock in the same order.
CREATE OR REPLACE FUNCTION ${silo_schema}.usage_documents_changed() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    r record;
    v_sign bigint := CASE TG_OP WHEN 'DELETE' THEN -1 ELSE 1 END;
BEGIN
    BEGIN
        FOR r IN SELECT c.tenant_id, sum(coalesce(c.size_bytes, 0))::bigint AS bytes, count(*)::bigint AS docs
                   FROM silo_changed_documents c GROUP BY c.tenant_id ORDER BY c.tenant_id LOOP
            PERFORM ${silo_schema}.usage_apply_safely(r.tenant_id, v_sign * r.bytes, v_sign * r.docs, TG_OP);
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        PERFORM ${silo_schema}.usage_note_drift(NULL, NULL, NULL, NULL, TG_OP, SQLSTATE, SQLERRM);
    END;
    RETURN NULL;
END
$fn$;

-- A size change, or a document moved to another tenant (taken from the lower tenant id first).
CREATE OR REPLACE FUNCTION ${silo_schema}.usage_document_updated() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
    IF OLD.tenant_id IS NOT DISTINCT FROM NEW.tenant_id THEN
        PERFORM ${silo_schema}.usage_apply_safely(NEW.tenant_id,
            coalesce(NEW.size_bytes, 0) - coalesce(OLD.size_bytes, 0), 0, TG_OP);
    ELSIF NEW.tenant_id IS NULL OR OLD.tenant_id < NEW.tenant_id THEN
        PERFORM ${silo_schema}.usage_apply_safely(OLD.tenant_id, -coalesce(OLD.size_bytes, 0), -1, TG_OP);
        PERFORM ${silo_schema}.usage_apply_safely(NEW.tenant_id, coalesce(NEW.size_bytes, 0), 1, TG_OP);
    ELSE
        PERFORM ${silo_schema}.usage_apply_safely(NEW.tenant_id, coalesce(NEW.size_bytes, 0), 1, TG_OP);
        PERFORM ${silo_schema}.usage_apply_safely(OLD.tenant_id, -coalesce(OLD.size_bytes, 0), -1, TG_OP);
    END IF;
    RETURN NULL;
END
$fn$;

-- TRUNCATE fires no row or transition-table triggers: every tenant needs a reconcile.
CREATE OR REPLACE FUNCTION ${silo_schema}.usage_documents_truncated() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
    PERFORM ${silo_schema}.usage_note_drift(NULL, NULL, NULL, NULL, TG_OP, NULL,
        'documents table truncated; every tenant needs a reconcile');
    RETURN NULL;
END
$fn$;

-- Recomputes one tenant's month from the documents table under the exclusive lock (so no writer is in flight),
-- fills the months between its first row and p_month that have none with the totals carried forward, and marks
-- the tenant's drift records resolved. With p_apply false it only reports. Markers are resolved before counting:
-- a marker visible then belongs to a committed write, which the later count sees as well.
CREATE OR REPLACE FUNCTION ${silo_schema}.usage_reconcile(p_tenant bigint, p_month date, p_apply boolean)
    RETURNS TABLE (had_row boolean, recorded_bytes bigint, recorded_count bigint, actual_bytes bigint,
                   actual_count bigint, months_filled integer, markers_resolved integer)
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('silo.tenant_usage'),
                                             pg_catalog.int4(p_tenant % 2147483648));
    months_filled := 0;
    markers_resolved := 0;
    IF p_apply THEN
        UPDATE ${silo_schema}.usage_drift m SET resolved_at = pg_catalog.now()
         WHERE m.tenant_id = p_tenant AND m.resolved_at IS NULL;
        GET DIAGNOSTICS markers_resolved = ROW_COUNT;
    END IF;
    SELECT true, u.storage_bytes, u.documents_count INTO had_row, recorded_bytes, recorded_count
      FROM ${app_schema}.tenant_usage u WHERE u.tenant_id = p_tenant AND u.month = p_month;
    had_row := coalesce(had_row, false);
    SELECT coalesce(sum(d.size_bytes), 0)::bigint, count(*)::bigint INTO actual_bytes, actual_count
      FROM ${documents_table} d WHERE d.tenant_id = p_tenant;
    IF p_apply THEN
        INSERT INTO ${app_schema}.tenant_usage (tenant_id, month, storage_bytes, documents_count)
        SELECT p_tenant, g.m::date, prev.storage_bytes, prev.documents_count
          FROM pg_catalog.generate_series(
                   (SELECT min(u.month) FROM ${app_schema}.tenant_usage u WHERE u.tenant_id = p_tenant)::timestamp,
                   p_month::timestamp - interval '1 month', interval '1 month') AS g(m)
         CROSS JOIN LATERAL (SELECT u.storage_bytes, u.documents_count FROM ${app_schema}.tenant_usage u
                              WHERE u.tenant_id = p_tenant AND u.month < g.m ORDER BY u.month DESC LIMIT 1) prev
        ON CONFLICT (tenant_id, month) DO NOTHING;
        GET DIAGNOSTICS months_filled = ROW_COUNT;
        INSERT INTO ${app_schema}.tenant_usage AS u (tenant_id, month, storage_bytes, documents_count)
        VALUES (p_tenant, p_month, actual_bytes, actual_count)
        ON CONFLICT (tenant_id, month) DO UPDATE
            SET storage_bytes = EXCLUDED.storage_bytes, documents_count = EXCLUDED.documents_count,
                updated_at = pg_catalog.now()
            WHERE (u.storage_bytes, u.documents_count) IS DISTINCT FROM (EXCLUDED.storage_bytes, EXCLUDED.documents_count);
    END IF;
    RETURN NEXT;
END
$fn$;

-- Application writes wait from here until this migration commits, so the backfill below neither misses a row nor
-- counts one that a trigger counts too.
LOCK TABLE ${documents_table} IN SHARE ROW EXCLUSIVE MODE;

DROP TRIGGER IF EXISTS silo_usage_insert ON ${documents_table};
CREATE TRIGGER silo_usage_insert AFTER INSERT ON ${documents_table}
    REFERENCING NEW TABLE AS silo_changed_documents
    FOR EACH STATEMENT EXECUTE FUNCTION ${silo_schema}.usage_documents_changed();

DROP TRIGGER IF EXISTS silo_usage_delete ON ${documents_table};
CREATE TRIGGER silo_usage_delete AFTER DELETE ON ${documents_table}
    REFERENCING OLD TABLE AS silo_changed_documents
    FOR EACH STATEMENT EXECUTE FUNCTION ${silo_schema}.usage_documents_changed();

DROP TRIGGER IF EXISTS silo_usage_update ON ${documents_table};
CREATE TRIGGER silo_usage_update AFTER UPDATE OF size_bytes, tenant_id ON ${documents_table}
    FOR EACH ROW
    WHEN (OLD.size_bytes IS DISTINCT FROM NEW.size_bytes OR OLD.tenant_id IS DISTINCT FROM NEW.tenant_id)
    EXECUTE FUNCTION ${silo_schema}.usage_document_updated();

DROP TRIGGER IF EXISTS silo_usage_truncate ON ${documents_table};
CREATE TRIGGER silo_usage_truncate AFTER TRUNCATE ON ${documents_table}
    FOR EACH STATEMENT EXECUTE FUNCTION ${silo_schema}.usage_documents_truncated();

-- Backfill the current month from the rows that exist, every tenant included (one with no documents gets zeros).
INSERT INTO ${app_schema}.tenant_usage (tenant_id, month, storage_bytes, documents_count)
SELECT t.id, ${silo_schema}.usage_month(), coalesce(sum(d.size_bytes), 0)::bigint, count(d.tenant_id)
  FROM ${tenants_table} t LEFT JOIN ${documents_table} d ON d.tenant_id = t.id
 GROUP BY t.id
ON CONFLICT (tenant_id, month) DO NOTHING;
