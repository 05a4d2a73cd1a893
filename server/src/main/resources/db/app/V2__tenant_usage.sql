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
CREATE OR REPLACE FUNCTION ${silo_schema}.usage_month() RETURNS date LANGUAGE sql STABLE AS $fn$
    SELECT pg_catalog.date_trunc('month', coalesce(nullif(pg_catalog.current_setting('silo.usage_month', true), '')::timestamp,
                                                   pg_catalog.now() AT TIME ZONE 'UTC'))::date
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
--
-- The helpers below are not SECURITY DEFINER and pin no search_path themselves: they run inside the trigger
-- functions further down, which do both (each SET clause costs a configuration save and restore per call). Nobody
-- else may call them.
CREATE OR REPLACE FUNCTION ${silo_schema}.usage_apply(p_tenant bigint, p_month date, p_bytes bigint, p_count bigint)
    RETURNS void LANGUAGE plpgsql AS $fn$
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
        -- Row locks in month order, taken by the sub-select: a plain UPDATE takes them in scan order, which differs
        -- between two writers as rows get new versions, and two writers of one tenant would then deadlock.
        UPDATE ${app_schema}.tenant_usage u
           SET storage_bytes = u.storage_bytes + p_bytes,
               documents_count = u.documents_count + p_count,
               updated_at = pg_catalog.now()
          FROM (SELECT l.month FROM ${app_schema}.tenant_usage l
                 WHERE l.tenant_id = p_tenant AND l.month >= p_month ORDER BY l.month FOR NO KEY UPDATE) locked
         WHERE u.tenant_id = p_tenant AND u.month = locked.month;
    END IF;
END
$fn$;

-- Logs and records a change that tenant_usage missed. Never raises: the application's write must go on.
CREATE OR REPLACE FUNCTION ${silo_schema}.usage_note_drift(p_tenant bigint, p_month date, p_bytes bigint,
                                                           p_count bigint, p_operation text, p_sqlstate text,
                                                           p_message text)
    RETURNS void LANGUAGE plpgsql AS $fn$
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

REVOKE ALL ON FUNCTION ${silo_schema}.usage_apply(bigint, date, bigint, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION ${silo_schema}.usage_note_drift(bigint, date, bigint, bigint, text, text, text) FROM PUBLIC;

-- Changes are applied once per transaction, at commit. Statements only add their deltas to a transaction-local map
-- (the setting silo.usage_pending: {"<tenant id>/<month>": [bytes, documents]}), which writes nothing, so a
-- transaction of thousands of single-row statements neither rewrites one usage row thousands of times (each version
-- stays until the transaction ends, and finding the live one gets slower with every update) nor opens a writing
-- subtransaction per statement (past 64, PostgreSQL's subtransaction cache overflows and every session slows down).
-- The first change of a transaction queues a row in usage_flushes, whose deferred constraint trigger applies the map
-- at commit, in tenant order, so two transactions never lock usage rows in opposite orders, and each holds them only
-- while it commits. Under SET CONSTRAINTS ALL IMMEDIATE the flush runs after each statement instead. A savepoint
-- rolled back takes its part of the map, and its queued row, with it.
CREATE UNLOGGED TABLE IF NOT EXISTS ${silo_schema}.usage_flushes (
    id bigserial PRIMARY KEY
);

-- Adds one change to the transaction's map; returns whether the map was empty (so a flush must be queued).
CREATE OR REPLACE FUNCTION ${silo_schema}.usage_defer(p_tenant bigint, p_month date, p_bytes bigint, p_count bigint)
    RETURNS boolean LANGUAGE plpgsql AS $fn$
DECLARE
    v_pending text := coalesce(pg_catalog.current_setting('silo.usage_pending', true), '');
    v_map jsonb := CASE WHEN v_pending = '' THEN '{}'::jsonb ELSE v_pending::jsonb END;
    v_key text := p_tenant::text || '/' || pg_catalog.to_char(p_month, 'YYYY-MM-DD');
    v_old jsonb := v_map -> v_key;
BEGIN
    v_map := pg_catalog.jsonb_set(v_map, ARRAY[v_key], pg_catalog.jsonb_build_array(
        coalesce((v_old ->> 0)::bigint, 0) + p_bytes, coalesce((v_old ->> 1)::bigint, 0) + p_count));
    PERFORM pg_catalog.set_config('silo.usage_pending', v_map::text, true);
    RETURN v_pending = '';
END
$fn$;

REVOKE ALL ON FUNCTION ${silo_schema}.usage_defer(bigint, date, bigint, bigint) FROM PUBLIC;

-- Adds a statement's changes (parallel arrays: tenant ids, bytes, documents) to the map; returns whether a flush must
-- be queued. Any failure (a bad silo.usage_month) leaves a drift record per change instead: the write goes on.
CREATE OR REPLACE FUNCTION ${silo_schema}.usage_record(p_tenants bigint[], p_bytes bigint[], p_counts bigint[],
                                                       p_operation text)
    RETURNS boolean LANGUAGE plpgsql AS $fn$
DECLARE
    v_month date;
    v_first boolean := false;
    v_state text;
    v_message text;
BEGIN
    BEGIN
        v_month := ${silo_schema}.usage_month();
        FOR i IN 1 .. coalesce(pg_catalog.array_length(p_tenants, 1), 0) LOOP
            CONTINUE WHEN p_tenants[i] IS NULL;
            IF ${silo_schema}.usage_defer(p_tenants[i], v_month, p_bytes[i], p_counts[i]) THEN
                v_first := true;
            END IF;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT;
        FOR i IN 1 .. coalesce(pg_catalog.array_length(p_tenants, 1), 0) LOOP
            CONTINUE WHEN p_tenants[i] IS NULL;
            PERFORM ${silo_schema}.usage_note_drift(p_tenants[i], v_month, p_bytes[i], p_counts[i], p_operation,
                                                    v_state, v_message);
        END LOOP;
        RETURN false;
    END;
    RETURN v_first;
END
$fn$;

REVOKE ALL ON FUNCTION ${silo_schema}.usage_record(bigint[], bigint[], bigint[], text) FROM PUBLIC;

-- Inserts and deletes, per statement over the transition table (named alike by both triggers): one map entry per
-- tenant however many rows the statement touched. The queue row is written outside every exception block, so no
-- block ever writes (a block that writes takes a subtransaction id).
CREATE OR REPLACE FUNCTION ${silo_schema}.usage_documents_changed() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    v_sign bigint := CASE TG_OP WHEN 'DELETE' THEN -1 ELSE 1 END;
    v_tenants bigint[];
    v_bytes bigint[];
    v_counts bigint[];
BEGIN
    BEGIN
        SELECT pg_catalog.array_agg(x.tenant_id), pg_catalog.array_agg(v_sign * x.bytes),
               pg_catalog.array_agg(v_sign * x.docs)
          INTO v_tenants, v_bytes, v_counts
          FROM (SELECT c.tenant_id, sum(coalesce(c.size_bytes, 0))::bigint AS bytes, count(*)::bigint AS docs
                  FROM silo_changed_documents c WHERE c.tenant_id IS NOT NULL GROUP BY c.tenant_id) x;
    EXCEPTION WHEN OTHERS THEN
        PERFORM ${silo_schema}.usage_note_drift(NULL, NULL, NULL, NULL, TG_OP, SQLSTATE, SQLERRM);
        RETURN NULL;
    END;
    IF ${silo_schema}.usage_record(v_tenants, v_bytes, v_counts, TG_OP) THEN
        INSERT INTO ${silo_schema}.usage_flushes DEFAULT VALUES;
    END IF;
    RETURN NULL;
END
$fn$;

-- A size change, or a document moved to another tenant (it leaves one and joins the other).
CREATE OR REPLACE FUNCTION ${silo_schema}.usage_document_updated() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    v_old bigint := coalesce(OLD.size_bytes, 0);
    v_new bigint := coalesce(NEW.size_bytes, 0);
    v_recorded boolean;
BEGIN
    IF OLD.tenant_id IS NOT DISTINCT FROM NEW.tenant_id THEN
        v_recorded := ${silo_schema}.usage_record(ARRAY[NEW.tenant_id], ARRAY[v_new - v_old], ARRAY[0::bigint], TG_OP);
    ELSIF OLD.tenant_id IS NULL THEN
        v_recorded := ${silo_schema}.usage_record(ARRAY[NEW.tenant_id], ARRAY[v_new], ARRAY[1::bigint], TG_OP);
    ELSIF NEW.tenant_id IS NULL THEN
        v_recorded := ${silo_schema}.usage_record(ARRAY[OLD.tenant_id], ARRAY[-v_old], ARRAY[-1::bigint], TG_OP);
    ELSE
        v_recorded := ${silo_schema}.usage_record(ARRAY[OLD.tenant_id, NEW.tenant_id], ARRAY[-v_old, v_new],
                                                  ARRAY[-1::bigint, 1::bigint], TG_OP);
    END IF;
    IF v_recorded THEN
        INSERT INTO ${silo_schema}.usage_flushes DEFAULT VALUES;
    END IF;
    RETURN NULL;
END
$fn$;

-- Applies the transaction's map (the deferred trigger of its usage_flushes row). One exception block for all of it:
-- if any tenant cannot be updated (a deadlock with a reconcile, a lock timeout), none is, and each entry gets a
-- drift record. An empty map here means something reset silo.usage_pending mid-transaction: reconcile everything.
CREATE OR REPLACE FUNCTION ${silo_schema}.usage_flush() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    r record;
    v_pending text := coalesce(pg_catalog.current_setting('silo.usage_pending', true), '');
    v_state text;
    v_message text;
    v_detail text;
BEGIN
    PERFORM pg_catalog.set_config('silo.usage_pending', '', true);
    DELETE FROM ${silo_schema}.usage_flushes f WHERE f.id = NEW.id;
    IF v_pending = '' THEN
        PERFORM ${silo_schema}.usage_note_drift(NULL, NULL, NULL, NULL, 'COMMIT', NULL,
            'this transaction''s usage changes were lost: silo.usage_pending was reset before it committed');
        RETURN NULL;
    END IF;
    BEGIN
        FOR r IN SELECT pg_catalog.split_part(e.key, '/', 1)::bigint AS tenant_id,
                        pg_catalog.to_date(pg_catalog.split_part(e.key, '/', 2), 'YYYY-MM-DD') AS month,
                        (e.value ->> 0)::bigint AS bytes, (e.value ->> 1)::bigint AS docs
                   FROM pg_catalog.jsonb_each(v_pending::jsonb) e ORDER BY 1, 2 LOOP
            IF r.bytes <> 0 OR r.docs <> 0 THEN
                PERFORM ${silo_schema}.usage_apply(r.tenant_id, r.month, r.bytes, r.docs);
            END IF;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT, v_detail = PG_EXCEPTION_DETAIL;
        v_message := v_message || coalesce(' (' || nullif(v_detail, '') || ')', '');
        BEGIN
            FOR r IN SELECT pg_catalog.split_part(e.key, '/', 1)::bigint AS tenant_id,
                            pg_catalog.to_date(pg_catalog.split_part(e.key, '/', 2), 'YYYY-MM-DD') AS month,
                            (e.value ->> 0)::bigint AS bytes, (e.value ->> 1)::bigint AS docs
                       FROM pg_catalog.jsonb_each(v_pending::jsonb) e LOOP
                PERFORM ${silo_schema}.usage_note_drift(r.tenant_id, r.month, r.bytes, r.docs, 'COMMIT', v_state,
                                                        v_message);
            END LOOP;
        EXCEPTION WHEN OTHERS THEN
            PERFORM ${silo_schema}.usage_note_drift(NULL, NULL, NULL, NULL, 'COMMIT', v_state, v_message);
        END;
    END;
    RETURN NULL;
END
$fn$;

DROP TRIGGER IF EXISTS silo_usage_flush ON ${silo_schema}.usage_flushes;
CREATE CONSTRAINT TRIGGER silo_usage_flush AFTER INSERT ON ${silo_schema}.usage_flushes
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ${silo_schema}.usage_flush();

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

REVOKE ALL ON FUNCTION ${silo_schema}.usage_reconcile(bigint, date, boolean) FROM PUBLIC;

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
