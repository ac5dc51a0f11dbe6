// The UI benchmark's driver (bench/ui/run.sh runs it; see bench/ui/README.md):
//
// 1. Page loads, 0 vs 50 extensions, in one run: two `symphony serve` instances side by side (release build,
//    embedded nats-server each). Both run the fixture extension `uifix` (tests/fixtures/ui_ext, its JSX page
//    /uifix is the page measured); instance `with50` also runs 50 extra extensions (bench/ui/extensions.py,
//    one Python process), each with a JSX page + route + menu entry, a markdown help page, a JSX dashboard
//    widget and an endpoint. Debian's Chromium (headless, playwright-core) loads, in a fresh browser context
//    per sample (empty HTTP cache, already signed in by session cookie):
//      shell  `/`       → first-contentful-paint; sidebar present; all menu entries in the sidebar; every
//                         dashboard widget rendered (each in its frame, which reports it to the top document)
//      page   `/uifix`  → first-contentful-paint; `[data-testid=greeting]` rendered in the page's frame (frame
//                         loaded, scoped credentials fetched, module fetched and imported, NATS connected)
//    then loads the same URL again in the same context ("warm": HTTP cache filled). Variants alternate
//    sample by sample (ABBA order per round) so drift on the machine hits both alike.
//    Then `GET /api/v1/extensions/all` straight from Node on both instances (alternating, paced), with the CPU
//    the servers spent, to show where the extra time goes.
// 2. JSX transpile of a 500-line TSX page: on instance `with0`, after the page loads, N+1 extensions `bpNNN`
//    each register one variant of the page (unique by a comment). Per variant: the first
//    `GET /api/v1/ui/module/bpNNN/page` (transpile-cache miss), then cached GETs (hit, full body) and
//    ETag revalidations (304), plus `GET /api/v1/ping` as the HTTP floor and `GET /api/v1/userinfo` as the
//    authenticated floor; the server's debug line
//    `ui module transpiled … cache=miss|hit micros=…` gives the server-side time.
// 3. Between 1 and 2, a burst of back-to-back `GET /api/v1/extensions/all` per instance, counting status codes
//    (with 50 extensions the server ran out of JetStream consumers during development).
//
// Writes <out>/ui.json (every sample) for bench/ui/report.py. Stops everything it started, also on failure.
import { execFileSync, spawn } from "node:child_process";
import { createRequire } from "node:module";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
const require = createRequire(path.join(ROOT, "web/package.json"));
const { chromium } = require("playwright-core");

const env = process.env;
const OUT = path.resolve(process.argv[2] ?? path.join(HERE, "results"));
const BIN = path.resolve(env.BENCH_UI_BIN ?? path.join(ROOT, "target/release"));
const CHROMIUM = env.SYMPHONY_CHROMIUM ?? "/usr/bin/chromium";
const PYTHON = path.join(ROOT, ".venv/bin/python");
const SAMPLES = Number(env.BENCH_UI_SAMPLES ?? 20);
const WARMUP_ROUNDS = Number(env.BENCH_UI_WARMUP ?? 2);
const EXTRAS = Number(env.BENCH_UI_EXTRAS ?? 50);
const JSX_SAMPLES = Number(env.BENCH_UI_JSX_SAMPLES ?? 30);
const JSX_REPEAT = Number(env.BENCH_UI_JSX_REPEAT ?? 5);
const API_SAMPLES = Number(env.BENCH_UI_API_SAMPLES ?? 30);
const API_PAUSE_MS = 1500;
const IDLE_MS = 20_000;
const BURST = Number(env.BENCH_UI_BURST ?? 40);
const PASSWORD = "ui-bench-Pa55word";
const STARTUP_MS = 120_000;
const SAMPLE_TIMEOUT_MS = 60_000;
// Between samples: keeps the request rate near one user's (each load of the with50 shell leaves ~50 JetStream
// consumers behind for a few seconds; see burstPhase).
const SAMPLE_PAUSE_MS = 1000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error("bench-ui:", ...a);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "symphony-ui-bench-"));
const children = [];
let browser;

function natsServerEnv() {
  if (env.SYMPHONY_NATS_SERVER) return {};
  try {
    return { SYMPHONY_NATS_SERVER: fs.readFileSync(path.join(ROOT, ".venv/nats-server-path"), "utf8").trim() };
  } catch {
    return {};
  }
}

function start(name, command, args, extraEnv = {}) {
  const logFile = path.join(tmp, `${name}.log`);
  const fd = fs.openSync(logFile, "w");
  const child = spawn(command, args, { cwd: tmp, env: { ...env, ...natsServerEnv(), ...extraEnv }, stdio: ["ignore", fd, fd] });
  fs.closeSync(fd);
  child.label = name;
  child.logFile = logFile;
  child.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  children.push(child);
  return child;
}

async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const t = sleep(15_000).then(() => "timeout");
  if ((await Promise.race([child.exited, t])) === "timeout") {
    child.kill("SIGKILL");
    await child.exited;
  }
}

let cleaning;
function cleanup() {
  cleaning ??= (async () => {
    await browser?.close().catch(() => {});
    for (const c of [...children].reverse()) await stop(c);
    fs.rmSync(tmp, { recursive: true, force: true });
  })();
  return cleaning;
}
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    log(`${sig}: stopping everything`);
    cleanup().finally(() => process.exit(130));
  });
}

async function waitFor(what, probe, timeoutMs = STARTUP_MS) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    for (const c of children) {
      if (c.exitCode !== null) throw new Error(`${c.label} exited (${c.exitCode}) while waiting for ${what}`);
    }
    try {
      const v = await probe();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
}

/** One `symphony serve` with its own data dir. */
class Instance {
  constructor(name) {
    this.name = name;
    this.dataDir = path.join(tmp, `data-${name}`);
  }

  async start() {
    this.server = start(`symphony-${this.name}`, path.join(BIN, "symphony"), ["serve", "--data-dir", this.dataDir, "--http", "0", "--nats-port", "0", "--ws-port", "0"], {
      SYMPHONY_ADMIN_PASSWORD: PASSWORD,
      RUST_LOG: "info,async_nats=warn,symphony::ui::jsx=debug",
      NO_COLOR: "1",
    });
    const ports = await waitFor(`${this.name} ports.json`, async () => JSON.parse(fs.readFileSync(path.join(this.dataDir, "ports.json"), "utf8")));
    this.origin = ports.http_url.replace(/\/$/, "");
    await waitFor(`${this.name} /api/v1/ready`, async () => (await fetch(`${this.origin}/api/v1/ready`)).ok);
    const r = await fetch(`${this.origin}/api/v1/login`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: "admin", password: PASSWORD }),
    });
    if (r.status !== 200) throw new Error(`${this.name}: admin login answered ${r.status}: ${await r.text()}`);
    this.session = (await r.json()).token;
    log(`${this.name}: ${this.origin} (pid ${this.server.pid})`);
    return this;
  }

  api(p, init = {}) {
    return fetch(`${this.origin}${p}`, { ...init, headers: { Authorization: `Bearer ${this.session}`, ...(init.headers ?? {}) } });
  }

  async registrationToken(name) {
    const r = await this.api("/api/v1/keys", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name, registration: true }),
    });
    if (r.status !== 201) throw new Error(`${this.name}: registration token: ${r.status} ${await r.text()}`);
    return (await r.json()).token;
  }

  extensionEnv(name) {
    return {
      SYMPHONY_CREDENTIAL_STORE: "file",
      CIRATA_CONFIG_DIR: path.join(tmp, `cfg-${this.name}-${name}`),
      PYTHONUNBUFFERED: "1",
    };
  }

  async extensions() {
    const r = await this.api("/api/v1/extensions/all");
    if (!r.ok) throw new Error(`${this.name}: /api/v1/extensions/all ${r.status}`);
    const text = await r.text();
    return { list: JSON.parse(text), bytes: Buffer.byteLength(text) };
  }
}

// --- what the page measures (runs in the page before any of its scripts) ------------------------------------
function observer(cfg) {
  // Extension pages and widgets render in frames on the UI sandbox origin (docs/ui.md "Trust"): this script runs
  // in them too, and tells the top document what it saw.
  if (window !== window.top) {
    const seen = new Set();
    const tell = () => {
      for (const [what, selector] of [["greeting", "[data-testid=greeting]"], ["widget", "[data-testid=bench-widget], [data-testid=status-version]"]]) {
        if (!seen.has(what) && document.querySelector(selector)) {
          seen.add(what);
          window.top.postMessage({ __bench: what }, "*");
        }
      }
    };
    new MutationObserver(tell).observe(document, { childList: true, subtree: true });
    return;
  }
  const b = (window.__bench = { marks: {}, done: false });
  let framedWidgets = 0;
  let framedGreeting = false;
  window.addEventListener("message", (e) => {
    if (e.data?.__bench === "widget") framedWidgets += 1;
    if (e.data?.__bench === "greeting") framedGreeting = true;
    check();
  });
  const mark = (k) => {
    if (!(k in b.marks)) b.marks[k] = performance.now();
  };
  const wanted = cfg.kind === "shell" ? ["fcp", "menus", "widgets"] : ["fcp", "greeting"];
  const finish = () => {
    if (!b.done && wanted.every((k) => k in b.marks)) b.done = true;
  };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (e.name === "first-contentful-paint") b.marks.fcp = e.startTime;
      if (e.name === "first-paint") b.marks.fp = e.startTime;
    }
    finish();
  }).observe({ type: "paint", buffered: true });
  const check = () => {
    if (cfg.kind === "shell") {
      const sidebar = document.querySelector("[data-testid=sidebar]");
      if (sidebar) {
        mark("sidebar");
        if (sidebar.querySelectorAll('[data-testid^="menu-"]').length >= cfg.menus) mark("menus");
      }
      const inline = document.querySelectorAll("[data-testid=bench-widget], [data-testid=status-version]").length;
      if (inline + framedWidgets >= cfg.widgets) mark("widgets");
    } else if (framedGreeting || document.querySelector("[data-testid=greeting]")) {
      mark("greeting");
    }
    finish();
    if (b.done) mo.disconnect();
  };
  const mo = new MutationObserver(check);
  mo.observe(document, { childList: true, subtree: true });
}

function collect() {
  const nav = performance.getEntriesByType("navigation")[0];
  const all = performance.getEntriesByType("resource").filter((e) => e.name.includes("/api/v1/extensions/all"))[0];
  return {
    marks: window.__bench.marks,
    nav: nav && { responseEnd: nav.responseEnd, domContentLoaded: nav.domContentLoadedEventEnd, load: nav.loadEventEnd },
    extensionsAll: all && { start: all.startTime, end: all.responseEnd, bytes: all.encodedBodySize },
    resources: performance.getEntriesByType("resource").length,
  };
}

async function measure(inst, kind) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: "light" });
  try {
    const url = new URL(inst.origin);
    await context.addCookies([{ name: "symphony_session", value: inst.session, domain: url.hostname, path: "/", httpOnly: true, sameSite: "Strict" }]);
    await context.addInitScript(observer, { kind, menus: inst.menus, widgets: inst.widgets });
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    const target = kind === "shell" ? `${inst.origin}/` : `${inst.origin}/uifix`;
    const once = async () => {
      await page.goto(target, { waitUntil: "commit" });
      await page.waitForFunction(() => window.__bench?.done, null, { timeout: SAMPLE_TIMEOUT_MS, polling: 20 });
      return page.evaluate(collect);
    };
    const cold = await once();
    const warm = await once();
    if (errors.length) throw new Error(`${inst.name} ${kind}: page errors: ${errors.join("; ")}`);
    return { cold, warm };
  } finally {
    await context.close();
  }
}

// --- machine load ---------------------------------------------------------------------------------------
function cpuSnap() {
  const v = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  return { total: v.reduce((a, b) => a + b, 0), idle: v[3] + v[4] };
}
const busyPct = (a, b) => 100 * (1 - (b.idle - a.idle) / Math.max(b.total - a.total, 1));
const loadavg = () => fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

/** CPU seconds (user + system) a process has used so far (its own, not its children's). */
function procCpu(pid) {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return null;
  }
}

/** The pids of a process's children (symphony → its embedded nats-server). */
function childPids(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** CPU seconds so far of each role: symphony and nats-server of both instances, the extras process. */
function cpuByRole(roles) {
  return Object.fromEntries(Object.entries(roles).map(([role, pid]) => [role, pid ? procCpu(pid) : null]));
}
const cpuDelta = (a, b) => Object.fromEntries(Object.keys(a).map((k) => [k, a[k] === null || b[k] === null ? null : b[k] - a[k]]));

/** `GET /api/v1/extensions/all` straight from Node (no browser), both instances alternating, one pair every
 * API_PAUSE_MS: back to back, the 50-extension instance runs out of JetStream consumers (see burstPhase). */
async function apiPhase(a, b, n) {
  const out = { with0: [], with50: [], pause_ms: API_PAUSE_MS };
  for (let i = 0; i < n + 3; i++) {
    for (const inst of i % 2 === 0 ? [a, b] : [b, a]) {
      const t0 = performance.now();
      const r = await inst.api("/api/v1/extensions/all");
      await r.arrayBuffer();
      if (!r.ok) throw new Error(`${inst.name}: /api/v1/extensions/all ${r.status}`);
      if (i >= 3) out[inst.name].push(performance.now() - t0); // the first 3 pairs warm up
    }
    await sleep(API_PAUSE_MS);
  }
  return out;
}

/** BURST back-to-back `GET /api/v1/extensions/all` per instance: status codes and times. Runs after the page
 * loads (it may leave the 50-extension instance answering 500 for a while). */
async function burstPhase(insts, n) {
  const out = {};
  for (const inst of insts) {
    await sleep(15_000); // let consumers of earlier requests expire
    const codes = {};
    let firstFailure = null;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const r = await inst.api("/api/v1/extensions/all");
      const body = await r.text();
      codes[r.status] = (codes[r.status] ?? 0) + 1;
      if (!r.ok && firstFailure === null) firstFailure = { request: i + 1, status: r.status, body: body.slice(0, 300) };
    }
    out[inst.name] = { requests: n, seconds: (performance.now() - t0) / 1000, codes, first_failure: firstFailure };
    log(`burst ${inst.name}: ${JSON.stringify(codes)}${firstFailure ? `, first failure at request ${firstFailure.request}` : ""}`);
  }
  return out;
}

// --- transpile phase ------------------------------------------------------------------------------------
async function timedGet(inst, p, headers = {}) {
  const t0 = performance.now();
  const r = await inst.api(p, { headers });
  const body = await r.arrayBuffer();
  return { ms: performance.now() - t0, status: r.status, bytes: body.byteLength, etag: r.headers.get("etag"), type: r.headers.get("content-type"), body };
}

async function transpilePhase(inst) {
  const count = JSX_SAMPLES + 1; // bp000 is the warm-up: the process's first transpile
  const tokens = [];
  for (let i = 0; i < count; i++) tokens.push(await inst.registrationToken(`bench-bigpage-${i}`));
  const tokenFile = path.join(tmp, "bigpage-tokens.json");
  fs.writeFileSync(tokenFile, JSON.stringify(tokens));
  const prefix = (i) => `bp${String(i).padStart(3, "0")}`;
  start("bigpage", PYTHON, [path.join(HERE, "extensions.py"), "jsx", tokenFile], inst.extensionEnv("bigpage"));
  await waitFor("the bigpage extensions to register", async () => {
    const { list } = await inst.extensions();
    return list.filter((x) => x.prefix.startsWith("bp") && x.state === "OK").length === count;
  });
  const name = (i) => `/api/v1/ui/module/${prefix(i)}/page`;
  const first = await timedGet(inst, name(0));
  if (first.status !== 200) throw new Error(`${name(0)}: ${first.status} ${Buffer.from(first.body).toString()}`);
  const js = Buffer.from(first.body).toString();
  if (!js.includes("react/jsx-runtime") || !first.type?.startsWith("text/javascript")) throw new Error(`${name(0)} is not transpiled JSX: ${first.type}`);
  for (let k = 0; k < 20; k++) await timedGet(inst, name(0)); // warm the connection and the hit path
  for (let k = 0; k < 20; k++) await timedGet(inst, "/api/v1/ping");
  const out = { first_ms: first.ms, output_bytes: first.bytes, cold: [], cached: [], revalidate: [], ping: [], userinfo: [] };
  for (let i = 1; i < count; i++) {
    const cold = await timedGet(inst, name(i));
    if (cold.status !== 200) throw new Error(`bigpage ${name(i)}: ${cold.status}`);
    out.cold.push(cold.ms);
    for (let k = 0; k < JSX_REPEAT; k++) {
      const hit = await timedGet(inst, name(i));
      if (hit.status !== 200) throw new Error(`bigpage ${name(i)} (cached): ${hit.status}`);
      out.cached.push(hit.ms);
      const rv = await timedGet(inst, name(i), { "If-None-Match": cold.etag });
      if (rv.status !== 304) throw new Error(`bigpage ${name(i)} revalidation: ${rv.status}`);
      out.revalidate.push(rv.ms);
      out.ping.push((await timedGet(inst, "/api/v1/ping")).ms);
      out.userinfo.push((await timedGet(inst, "/api/v1/userinfo")).ms);
    }
  }
  // The server's own timing of each lookup (debug line of crates/server/src/ui/jsx.rs).
  await sleep(500);
  const text = fs.readFileSync(inst.server.logFile, "utf8").replace(/\x1b\[[0-9;]*m/g, "");
  out.server = { first_us: null, miss_us: [], hit_us: [], lines: 0 };
  for (const line of text.split("\n")) {
    if (!line.includes("ui module transpiled") || !/ui:\/\/bp\d{3}\/page/.test(line)) continue;
    out.server.lines++;
    const micros = Number(/micros=(\d+)/.exec(line)?.[1]);
    const miss = /cache="?miss/.test(line);
    if (line.includes("ui://bp000/page")) {
      if (miss) out.server.first_us = micros;
      continue;
    }
    (miss ? out.server.miss_us : out.server.hit_us).push(micros);
  }
  return out;
}

// --- main -----------------------------------------------------------------------------------------------
async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const before = cpuSnap();
  await sleep(3000);
  const backgroundBusy = busyPct(before, cpuSnap());
  const loadStart = loadavg();
  log(`machine ${backgroundBusy.toFixed(0)}% busy before the run (load ${loadStart})`);

  const a = new Instance("with0");
  const b = new Instance("with50");
  await Promise.all([a.start(), b.start()]);
  const uifix = path.join(ROOT, "tests/fixtures/ui_ext/main.py");
  for (const inst of [a, b]) {
    const token = await inst.registrationToken("bench-uifix");
    start(`uifix-${inst.name}`, PYTHON, [uifix], { ...inst.extensionEnv("uifix"), REGISTRATION_TOKEN: token });
  }
  const tokens = [];
  for (let i = 0; i < EXTRAS; i++) tokens.push(await b.registrationToken(`bench-extra-${i + 1}`));
  const tokenFile = path.join(tmp, "extra-tokens.json");
  fs.writeFileSync(tokenFile, JSON.stringify(tokens));
  const extras = EXTRAS > 0 ? start("extras", PYTHON, [path.join(HERE, "extensions.py"), "extras", tokenFile], b.extensionEnv("extras")) : null;

  for (const [inst, n] of [[a, 1], [b, 1 + EXTRAS]]) {
    const { list, bytes } = await waitFor(`${inst.name}: ${n} extensions OK`, async () => {
      const e = await inst.extensions();
      return e.list.filter((x) => x.state === "OK").length === n ? e : false;
    });
    inst.extensionCount = list.length;
    inst.menus = list.reduce((s, x) => s + (x.manifest.menus ?? []).length, 0);
    inst.widgets = list.reduce((s, x) => s + (x.manifest.widgets ?? []).length, 0);
    inst.extensionsAllBytes = bytes;
    log(`${inst.name}: ${list.length} extensions, ${inst.menus} menu entries, ${inst.widgets} widgets, /api/v1/extensions/all ${bytes} bytes`);
  }

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  log(`chromium ${browser.version()}`);

  const samples = [];
  const rounds = [];
  const roles = {
    "with0 symphony": a.server.pid,
    "with0 nats-server": childPids(a.server.pid)[0],
    "with50 symphony": b.server.pid,
    "with50 nats-server": childPids(b.server.pid)[0],
    "with50 extras (python)": extras?.pid,
  };
  const cpu0 = cpuByRole(roles);
  const wall0 = performance.now();
  const totalRounds = WARMUP_ROUNDS + SAMPLES;
  for (let r = 0; r < totalRounds; r++) {
    const warmup = r < WARMUP_ROUNDS;
    const snap = cpuSnap();
    const t0 = performance.now();
    // ABBA within a round, and the round's first variant alternates: each variant goes first equally often.
    const [x, y] = r % 2 === 0 ? [a, b] : [b, a];
    for (const [inst, kind] of [[x, "shell"], [y, "shell"], [y, "page"], [x, "page"]]) {
      const m = await measure(inst, kind);
      if (!warmup) samples.push({ round: r - WARMUP_ROUNDS, variant: inst.name, kind, ...m });
      await sleep(SAMPLE_PAUSE_MS);
    }
    const busy = busyPct(snap, cpuSnap());
    if (!warmup) rounds.push({ round: r - WARMUP_ROUNDS, busy_pct: busy, seconds: (performance.now() - t0) / 1000, loadavg: loadavg() });
    log(`round ${r + 1}/${totalRounds}${warmup ? " (warm-up)" : ""}: machine ${busy.toFixed(0)}% busy`);
  }
  const cpu = { seconds: (performance.now() - wall0) / 1000, used: cpuDelta(cpu0, cpuByRole(roles)) };
  const serverErrors = Object.fromEntries(
    [a, b].map((i) => [i.name, fs.readFileSync(i.server.logFile, "utf8").split("\n").filter((l) => l.includes(" ERROR ")).length]),
  );
  log(`server ERROR lines during the page loads: ${JSON.stringify(serverErrors)}`);

  log("api: GET /api/v1/extensions/all from Node, both instances alternating");
  // Idle first (heartbeats, the servers' own timers), to subtract from the CPU the requests cost.
  const idle0 = cpuByRole(roles);
  const idleT0 = performance.now();
  await sleep(IDLE_MS);
  const idle = { seconds: (performance.now() - idleT0) / 1000, used: cpuDelta(idle0, cpuByRole(roles)) };
  const apiCpu0 = cpuByRole(roles);
  const apiT0 = performance.now();
  const api = await apiPhase(a, b, API_SAMPLES);
  api.cpu = cpuDelta(apiCpu0, cpuByRole(roles));
  api.seconds = (performance.now() - apiT0) / 1000;
  api.idle = idle;

  log(`burst: ${BURST} back-to-back GET /api/v1/extensions/all per instance`);
  const burst = BURST > 0 ? await burstPhase([a, b], BURST) : null;

  log(`transpile: ${JSX_SAMPLES} variants of the 500-line page, ${JSX_REPEAT} cached GETs + revalidations each`);
  const transpile = await transpilePhase(a);
  const source = execFileSync(PYTHON, [path.join(HERE, "fixtures.py"), "page"], { encoding: "utf8" });
  transpile.source_lines = source.split("\n").length - 1;
  transpile.source_bytes = Buffer.byteLength(source);


  const result = {
    env: {
      date: new Date().toISOString(),
      background_busy_pct: backgroundBusy,
      loadavg_start: loadStart,
      loadavg_end: loadavg(),
      chromium: browser.version(),
      node: process.version,
    },
    config: { samples: SAMPLES, warmup_rounds: WARMUP_ROUNDS, extras: EXTRAS, jsx_samples: JSX_SAMPLES, jsx_repeat: JSX_REPEAT, api_samples: API_SAMPLES, burst: BURST },
    instances: Object.fromEntries(
      [a, b].map((i) => [i.name, { extensions: i.extensionCount, menus: i.menus, widgets: i.widgets, extensions_all_bytes: i.extensionsAllBytes }]),
    ),
    cpu,
    server_errors_during_page_loads: serverErrors,
    api,
    burst,
    rounds,
    samples,
    transpile,
  };
  fs.writeFileSync(path.join(OUT, "ui.json"), JSON.stringify(result, null, 1));
  log(`wrote ${path.join(OUT, "ui.json")}`);
}

let status = 0;
try {
  await main();
} catch (e) {
  status = 1;
  console.error(e);
  for (const c of children) {
    try {
      const lines = fs.readFileSync(c.logFile, "utf8").trimEnd().split("\n");
      console.error(`----- ${c.label} (last 15 lines)\n${lines.slice(-15).join("\n")}`);
    } catch {}
  }
} finally {
  await cleanup();
}
process.exit(status);
