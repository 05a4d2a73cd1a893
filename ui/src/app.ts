// Silo's live dashboard: talks to Silo only through the public API over binary gRPC-Web, with the token typed in once.
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { timestampDate, type Timestamp, type Duration } from "@bufbuild/protobuf/wkt";
import { TenantService, TenantStatus, type Tenant } from "./gen/silo/v1/tenant_pb";
import {
  MigrationService, MigrationState, MigrationPhase, FindingKind, type Migration, type MigrationEvent,
} from "./gen/silo/v1/migration_pb";
import { KeyService } from "./gen/silo/v1/key_pb";
import { UsageService, type TenantUsage } from "./gen/silo/v1/usage_pb";
import { SessionService, CallerRole } from "./gen/silo/v1/session_pb";

const TOKEN_KEY = "silo.token";
const PAGE_SIZE = 50;
const CALL_TIMEOUT_MS = 15_000;
const ACTIVE = new Set([MigrationState.PLANNED, MigrationState.RUNNING, MigrationState.PAUSED]);

// sessionStorage only: the token is gone when the tab closes and never reaches localStorage or a cookie.
let token = sessionStorage.getItem(TOKEN_KEY) ?? "";
const withToken: Interceptor = (next) => async (req) => {
  req.header.set("authorization", "Bearer " + token);
  return next(req);
};
const transport = createGrpcWebTransport({ baseUrl: location.origin, useBinaryFormat: true, interceptors: [withToken] });
const tenants = createClient(TenantService, transport);
const migrations = createClient(MigrationService, transport);
const keys = createClient(KeyService, transport);
const usage = createClient(UsageService, transport);
const session = createClient(SessionService, transport);

/** The live state of one tenant row. */
interface Row {
  tenant: Tenant;
  migration?: Migration;
  rate?: number;
  eta?: Duration;
  element: HTMLElement;
  open: boolean;
  // Kept across re-renders, so progress events do not refetch keys and reports or drop a verify result.
  details?: HTMLElement;
}

let role = CallerRole.UNSPECIFIED;
let rows = new Map<string, Row>();
let pageTokens: string[] = [""]; // page i starts at pageTokens[i]
let page = 0;
let nextToken = "";
let usageBySlug: Map<string, TenantUsage> | null = null; // null: UsageService does not answer
let watchAbort: AbortController | null = null;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function el(tag: string, cls?: string, text?: string): HTMLElement {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function fmtNum(n: bigint | number): string {
  return Number(n).toLocaleString("en-US");
}

function fmtBytes(n: bigint | number): string {
  let v = Number(n);
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return (i === 0 ? v.toFixed(0) : v.toFixed(1)) + " " + units[i];
}

function fmtTime(t?: Timestamp): string {
  return t ? timestampDate(t).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z") : "—";
}

function fmtEta(d?: Duration): string {
  if (!d) return "—";
  const s = Number(d.seconds);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m` : s >= 60 ? `${Math.floor(s / 60)}m${s % 60}s` : `${s}s`;
}

function errorText(e: unknown): string {
  const c = ConnectError.from(e);
  return `${Code[c.code]}: ${c.rawMessage}`;
}

function setMessage(text: string, isError = false) {
  const m = $("message");
  m.textContent = text;
  m.className = isError ? "error" : "";
}

function canOperate(): boolean {
  return role === CallerRole.OPERATOR || role === CallerRole.ADMIN;
}

// ---- sign-in ---------------------------------------------------------------------------------------------------

async function signIn() {
  try {
    const me = await session.whoAmI({}, { timeoutMs: CALL_TIMEOUT_MS });
    role = me.role;
    $("who").textContent = me.authDisabled
      ? "authentication disabled (admin)"
      : `${me.name} · ${CallerRole[me.role].toLowerCase()}${me.tenant ? " · tenant " + me.tenant : ""}`;
    $("login").hidden = true;
    $("main").hidden = false;
    document.body.dataset.role = CallerRole[me.role].toLowerCase();
    await loadUsage();
    await loadPage(0);
    watch();
  } catch (e) {
    sessionStorage.removeItem(TOKEN_KEY);
    $("login").hidden = false;
    $("main").hidden = true;
    setMessage("sign-in failed: " + errorText(e), true);
  }
}

function signOut() {
  watchAbort?.abort();
  sessionStorage.removeItem(TOKEN_KEY);
  token = "";
  location.reload();
}

// ---- tenants, one server-side page at a time -------------------------------------------------------------------

async function loadPage(index: number) {
  const res = await tenants.listTenants({ pageSize: PAGE_SIZE, pageToken: pageTokens[index] }, { timeoutMs: CALL_TIMEOUT_MS });
  page = index;
  nextToken = res.nextPageToken;
  if (nextToken && pageTokens.length === index + 1) pageTokens.push(nextToken);
  const list = $("tenants");
  list.replaceChildren();
  rows = new Map();
  for (const t of res.tenants) {
    const row: Row = { tenant: t, element: el("div", "tenant"), open: false };
    row.element.dataset.tenant = t.slug;
    rows.set(t.slug, row);
    list.append(row.element);
    render(row);
  }
  $("page").textContent = `page ${index + 1} · ${res.tenants.length} tenant${res.tenants.length === 1 ? "" : "s"}`;
  ($("prev") as HTMLButtonElement).disabled = index === 0;
  ($("next") as HTMLButtonElement).disabled = !nextToken;
  // Each visible tenant's latest migration; the watch stream keeps them current from here on.
  await Promise.all([...rows.values()].map(async (row) => {
    try {
      const latest = await migrations.listMigrations({ tenant: row.tenant.slug, pageSize: 1 }, { timeoutMs: CALL_TIMEOUT_MS });
      if (latest.migrations.length > 0 && !row.migration) {
        row.migration = latest.migrations[0];
        render(row);
      }
    } catch (e) {
      row.element.querySelector(".state")!.textContent = errorText(e);
    }
  }));
}

async function loadUsage() {
  const found = new Map<string, TenantUsage>();
  try {
    let pageToken = "";
    do {
      const res = await usage.listUsage({ pageSize: 1000, pageToken }, { timeoutMs: CALL_TIMEOUT_MS });
      for (const u of res.usage) found.set(u.tenant, u);
      pageToken = res.nextPageToken;
    } while (pageToken && found.size < 20_000);
    usageBySlug = found;
  } catch (e) {
    // UNIMPLEMENTED on servers without usage reports: every tenant shows "n/a".
    usageBySlug = null;
  }
}

function render(row: Row) {
  const { tenant, migration: m } = row;
  const e = row.element;
  e.replaceChildren();
  const head = el("div", "head");
  head.append(el("span", "slug", tenant.slug), el("span", "name", tenant.displayName),
    el("span", "status status-" + TenantStatus[tenant.status].toLowerCase(), TenantStatus[tenant.status].toLowerCase()));
  const state = el("span", "state", m ? MigrationState[m.state].toLowerCase().replace("_", " ") : "no migration");
  if (m) state.classList.add("state-" + MigrationState[m.state].toLowerCase());
  head.append(state);
  const u = usageBySlug?.get(tenant.slug);
  head.append(el("span", "usage", usageBySlug === null ? "usage n/a" : u
    ? `${u.storageUsedMb.toFixed(1)} MiB · ${fmtNum(u.documentsCount)} docs` : "usage —"));
  e.append(head);

  if (m) {
    const phases = el("div", "phases");
    for (const p of m.progress) {
      const name = MigrationPhase[p.phase];
      const line = el("div", "phase");
      line.dataset.phase = name;
      const bar = document.createElement("progress");
      bar.max = Math.max(Number(p.total), 1);
      bar.value = Math.min(Number(p.done), bar.max);
      const current = ACTIVE.has(m.state) && m.phase === p.phase;
      const detail = `${fmtNum(p.done)} / ${p.total > 0n ? fmtNum(p.total) : "?"}`
        + (p.bytes > 0n ? ` · ${fmtBytes(p.bytes)}` : "")
        + (p.failed > 0n ? ` · ${fmtNum(p.failed)} failed` : "")
        + (current && row.rate !== undefined ? ` · ${fmtNum(Math.round(row.rate))}/s · ETA ${fmtEta(row.eta)}` : "");
      line.append(el("span", "phase-name", name.toLowerCase()), bar, el("span", "phase-detail", detail));
      phases.append(line);
    }
    e.append(phases);
    // How each phase ran, e.g. which encryption path the MONGO phase's values took and why.
    for (const p of m.progress) {
      if (p.detail) e.append(el("div", "phase-note", `${MigrationPhase[p.phase].toLowerCase()}: ${p.detail}`));
    }
    if (m.lastError) e.append(el("div", "last-error", m.lastError));
    if (m.notice) e.append(el("div", "notice", m.notice));
  }

  const actions = el("div", "actions");
  const toggle = el("button", "toggle", row.open ? "hide details" : "details") as HTMLButtonElement;
  toggle.onclick = () => {
    row.open = !row.open;
    row.details = undefined;
    render(row);
  };
  actions.append(toggle);
  if (canOperate()) {
    const active = m && ACTIVE.has(m.state);
    if (!active) actions.append(action("start", () => start(row)));
    if (m && (m.state === MigrationState.RUNNING || m.state === MigrationState.PLANNED)) actions.append(action("pause", () => pause(row)));
    if (m && (m.state === MigrationState.PAUSED || m.state === MigrationState.FAILED)) actions.append(action("resume", () => resume(row)));
    if (active) actions.append(action("cancel", () => cancel(row)));
    if (m && !active && m.state !== MigrationState.ROLLED_BACK) actions.append(action("rollback", () => rollback(row)));
  }
  e.append(actions);
  if (row.open) {
    if (!row.details) {
      row.details = el("div", "details");
      void fillDetails(row, row.details);
    }
    e.append(row.details);
  }
}

function action(name: string, run: () => Promise<unknown>): HTMLButtonElement {
  const b = el("button", "action", name) as HTMLButtonElement;
  b.dataset.action = name;
  b.onclick = async () => {
    b.disabled = true;
    try {
      await run();
      setMessage("");
    } catch (e) {
      setMessage(`${name} failed: ${errorText(e)}`, true);
    } finally {
      b.disabled = false;
    }
  };
  return b;
}

function updated(row: Row, m: Migration | undefined) {
  if (m) row.migration = m;
  row.details = undefined;
  render(row);
}

async function start(row: Row) {
  const res = await migrations.startMigration({ tenants: [row.tenant.slug], idempotencyKey: crypto.randomUUID() }, { timeoutMs: CALL_TIMEOUT_MS });
  updated(row, res.migrations[0]);
}

async function pause(row: Row) {
  updated(row, (await migrations.pauseMigration({ migrationId: row.migration!.id }, { timeoutMs: CALL_TIMEOUT_MS })).migration);
}

async function resume(row: Row) {
  updated(row, (await migrations.resumeMigration({ migrationId: row.migration!.id }, { timeoutMs: CALL_TIMEOUT_MS })).migration);
}

async function cancel(row: Row) {
  if (!confirm(`Cancel the migration of ${row.tenant.slug}? It cannot be resumed.`)) return;
  updated(row, (await migrations.cancelMigration({ migrationId: row.migration!.id }, { timeoutMs: CALL_TIMEOUT_MS })).migration);
}

async function rollback(row: Row) {
  const typed = prompt(`Roll back ${row.tenant.slug}: this removes its migrated target data (the source is untouched).\nType the tenant slug to confirm.`);
  if (typed !== row.tenant.slug) {
    setMessage("rollback not confirmed");
    return;
  }
  const res = await migrations.rollbackMigration({ tenant: row.tenant.slug, migrationId: row.migration!.id, idempotencyKey: crypto.randomUUID() }, { timeoutMs: 120_000 });
  setMessage(`rolled back ${row.tenant.slug}: ${fmtNum(res.documentsRemoved)} documents, ${fmtNum(res.objectsRemoved)} objects removed`);
  updated(row, res.migration);
}

// ---- details: keys, failures, verify ---------------------------------------------------------------------------

async function fillDetails(row: Row, into: HTMLElement) {
  const slug = row.tenant.slug;
  const keyBox = el("div", "keys", "key: loading…");
  const failBox = el("div", "failures");
  const verifyBox = el("div", "verify");
  into.append(keyBox, failBox, verifyBox);
  const verify = el("button", "toggle verify-run", canOperate() ? "verify" : "verify (read-only)") as HTMLButtonElement;
  verify.onclick = () => runVerify(slug, verifyBox, verify);
  verifyBox.append(verify);
  try {
    const res = await keys.listTenantKeys({ tenant: slug, pageSize: 10 }, { timeoutMs: CALL_TIMEOUT_MS });
    const k = res.keys[0];
    keyBox.textContent = k
      ? `key ${k.keyId} · provider ${k.masterKey?.provider ?? "?"} · created ${fmtTime(k.createTime)} · last rotation ${fmtTime(k.updateTime)}`
      : row.tenant.status === TenantStatus.OFFBOARDED ? "key: shredded" : "key: none yet";
  } catch (e) {
    keyBox.textContent = "key: " + errorText(e);
  }
  const m = row.migration;
  if (!m) return;
  try {
    const report = await migrations.getCompletionReport({ migrationId: m.id, pageSize: 100 }, { timeoutMs: CALL_TIMEOUT_MS });
    if (report.items.length === 0) {
      failBox.textContent = "no failed items";
    } else {
      failBox.append(el("div", "title", `failed items${report.nextPageToken ? " (first 100)" : ""}:`));
      const list = el("ul");
      for (const f of report.items) {
        list.append(el("li", "", `${MigrationPhase[f.phase].toLowerCase()} ${f.sourceId}${f.key ? " " + f.key : ""}: ${f.errorCode} ${f.message}`));
      }
      failBox.append(list);
    }
  } catch (e) {
    failBox.textContent = "failures: " + errorText(e);
  }
}

async function runVerify(slug: string, into: HTMLElement, button: HTMLButtonElement) {
  button.disabled = true;
  const out = el("div", "verify-result", "verifying…");
  into.querySelector(".verify-result")?.remove();
  into.append(out);
  const findings = el("ul");
  let shown = 0;
  try {
    for await (const res of migrations.verifyTenant({ tenant: slug })) {
      const item = res.item;
      if (item.case === "checkedSoFar") {
        out.firstChild!.textContent = `verifying… ${fmtNum(item.value)} checked`;
      } else if (item.case === "finding" && shown < 200) {
        const f = item.value;
        findings.append(el("li", "", `${FindingKind[f.kind].toLowerCase()} ${f.sourceId}${f.field ? " ." + f.field : ""}: ${f.message}`));
        shown++;
      } else if (item.case === "summary") {
        const s = item.value;
        out.replaceChildren(el("span", s.clean ? "clean" : "unclean",
          s.clean ? `clean: ${fmtNum(s.checked)} checked` : `${fmtNum(s.findings)} findings in ${fmtNum(s.checked)} checked`), findings);
      }
    }
  } catch (e) {
    out.textContent = "verify failed: " + errorText(e);
  } finally {
    button.disabled = false;
  }
}

// ---- live updates: one WatchMigration stream, reconnecting with backoff ----------------------------------------

function onEvent(ev: MigrationEvent) {
  const m = ev.migration;
  if (!m) return;
  const row = rows.get(m.tenant);
  if (!row) return; // a tenant on another page
  // An older migration's late snapshot must not replace the newer one shown.
  if (row.migration && row.migration.id !== m.id && m.createTime && row.migration.createTime
    && timestampDate(m.createTime) < timestampDate(row.migration.createTime)) return;
  if (row.migration?.id !== m.id || row.migration?.state !== m.state) row.details = undefined; // report may differ now
  row.migration = m;
  row.rate = ev.ratePerSecond;
  row.eta = ev.eta;
  render(row);
}

function watch() {
  watchAbort?.abort();
  const abort = new AbortController();
  watchAbort = abort;
  let delay = 500;
  const status = $("live");
  const loop = async () => {
    while (!abort.signal.aborted) {
      try {
        status.textContent = "live";
        status.className = "live";
        for await (const res of migrations.watchMigration({ all: true }, { signal: abort.signal })) {
          delay = 500;
          if (res.event) onEvent(res.event);
        }
      } catch (e) {
        if (abort.signal.aborted) return;
        const c = ConnectError.from(e);
        if (c.code === Code.Unauthenticated || c.code === Code.PermissionDenied) {
          status.textContent = "stopped: " + errorText(e);
          status.className = "reconnecting";
          return;
        }
      }
      if (abort.signal.aborted) return;
      status.textContent = `reconnecting in ${(delay / 1000).toFixed(1)} s…`;
      status.className = "reconnecting";
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 15_000);
      // Whatever happened while the stream was down: the visible tenants' latest migrations again.
      try {
        await loadPage(page);
      } catch {
        // the next stream attempt reports the outage
      }
    }
  };
  void loop();
}

// ---- wiring ----------------------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("submit", (e) => {
    e.preventDefault();
    token = ($("token") as HTMLInputElement).value.trim();
    ($("token") as HTMLInputElement).value = "";
    sessionStorage.setItem(TOKEN_KEY, token);
    void signIn();
  });
  $("logout").onclick = signOut;
  $("prev").onclick = () => void loadPage(Math.max(page - 1, 0)).catch((e) => setMessage(errorText(e), true));
  $("next").onclick = () => void loadPage(page + 1).catch((e) => setMessage(errorText(e), true));
  if (token) void signIn();
});

// Over HTTP/1.1 a browser keeps about six connections per host, and the watch stream holds one for as long as it
// runs. Ending it when the page goes away (closed, reloaded, navigated, or frozen into the back/forward cache) hands
// the connection back at once instead of whenever the browser gets round to dropping the old document.
window.addEventListener("pagehide", () => watchAbort?.abort());
window.addEventListener("pageshow", (e) => {
  if (e.persisted && token) void signIn();
});
