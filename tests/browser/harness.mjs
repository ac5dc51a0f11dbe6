// Shared set-up for the browser tests: starts `symphony serve` (embedded nats-server) on free loopback ports in a
// temp dir, creates registration tokens, starts extensions, launches Debian's Chromium (/usr/bin/chromium, never a
// downloaded build) headless through playwright-core, and stops every process it started in `close()`.
// Screenshots and process logs go to target/browser-artifacts/<suite>/ (or $SYMPHONY_BROWSER_ARTIFACTS/<suite>).
import { spawn, execFile } from "node:child_process";
import { createRequire } from "node:module";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(path.join(ROOT, "web/package.json"));
const { chromium } = require("playwright-core");

export const CHROMIUM = process.env.SYMPHONY_CHROMIUM ?? "/usr/bin/chromium";
/** `<target>/debug`, where `cargo build` puts the binaries: `$CARGO_TARGET_DIR` when set (as tests/src/bins.rs). */
export const BIN = path.join(process.env.CARGO_TARGET_DIR ? path.resolve(ROOT, process.env.CARGO_TARGET_DIR) : path.join(ROOT, "target"), "debug");
export const PYTHON = path.join(ROOT, ".venv/bin/python");
export const PASSWORD = "browser-test-Pa55word";
export const STARTUP_MS = 90_000;

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function natsServerEnv() {
  if (process.env.SYMPHONY_NATS_SERVER) return {};
  try {
    return { SYMPHONY_NATS_SERVER: fs.readFileSync(path.join(ROOT, ".venv/nats-server-path"), "utf8").trim() };
  } catch {
    return {};
  }
}

/** A running platform for one test file. */
export class Platform {
  constructor(suite) {
    this.suite = suite;
    this.artifacts = path.join(process.env.SYMPHONY_BROWSER_ARTIFACTS ?? path.join(ROOT, "target/browser-artifacts"), suite);
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), `symphony-browser-${suite}-`));
    this.dataDir = path.join(this.tmp, "data");
    this.children = [];
    this.browser = undefined;
    this.origin = undefined;
    this.sandbox = undefined;
    this.info = undefined;
  }

  /** Starts the server (admin password PASSWORD) and the browser. */
  async start(extraArgs = []) {
    fs.rmSync(this.artifacts, { recursive: true, force: true });
    fs.mkdirSync(this.artifacts, { recursive: true });
    this.spawn("symphony", path.join(BIN, "symphony"), ["serve", "--data-dir", this.dataDir, "--http", "0", "--nats-port", "0", "--ws-port", "0", ...extraArgs], {
      SYMPHONY_ADMIN_PASSWORD: PASSWORD,
      RUST_LOG: "info,async_nats=warn",
    });
    const ports = await this.waitFor("ports.json", async () => JSON.parse(fs.readFileSync(path.join(this.dataDir, "ports.json"), "utf8")));
    this.origin = ports.http_url.replace(/\/$/, "");
    /** The UI sandbox origin extension frames load from (docs/ui.md "Trust"). */
    this.sandbox = ports.ui_sandbox_url?.replace(/\/$/, "");
    await this.waitFor("/api/v1/ready", async () => (await fetch(`${this.origin}/api/v1/ready`)).ok);
    this.info = await (await fetch(`${this.origin}/api/v1/symphonyinfo`)).json();
    this.browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
    return this;
  }

  spawn(name, command, args, env = {}, cwd = this.tmp) {
    const log = fs.openSync(path.join(this.artifacts, `${name}.log`), "w");
    const child = spawn(command, args, { cwd, env: { ...process.env, ...natsServerEnv(), ...env }, stdio: ["ignore", log, log] });
    child.name = name;
    child.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    this.children.push(child);
    return child;
  }

  /** A fresh single-use registration token (`symphony token create --registration`). */
  async registrationToken() {
    const { stdout } = await promisify(execFile)(path.join(BIN, "symphony"), ["token", "create", "--registration", "--data-dir", this.dataDir], {
      env: { ...process.env, ...natsServerEnv() },
    });
    const token = stdout.trim();
    assert.ok(token, "symphony token create printed no token");
    return token;
  }

  /** Starts an extension process with a fresh registration token and its own credential dir. */
  async extension(name, command, args = [], env = {}, cwd = this.tmp) {
    const token = await this.registrationToken();
    return this.spawn(name, command, args, {
      REGISTRATION_TOKEN: token,
      SYMPHONY_CREDENTIAL_STORE: "file",
      CIRATA_CONFIG_DIR: path.join(this.tmp, `cfg-${name}`),
      RUST_LOG: "info",
      PYTHONUNBUFFERED: "1",
      ...env,
    }, cwd);
  }

  /** Signs in as admin over REST and returns the session token (a bearer for API calls). */
  async adminToken() {
    const r = await fetch(`${this.origin}/api/v1/login`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: "admin", password: PASSWORD }),
    });
    assert.equal(r.status, 200, `admin login: ${r.status}`);
    return (await r.json()).token;
  }

  /** A new browser context + page signed in through the login form; `pageErrors` collects uncaught errors. */
  async signedInPage({ width = 1280, height = 800, colorScheme = "light" } = {}) {
    const context = await this.browser.newContext({ viewport: { width, height }, colorScheme });
    const page = await context.newPage();
    page.pageErrors = [];
    page.on("pageerror", (e) => page.pageErrors.push(e));
    await page.goto(`${this.origin}/`);
    await page.getByLabel("Username").fill("admin");
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByTestId("sidebar").waitFor({ timeout: STARTUP_MS });
    return page;
  }

  async waitFor(what, probe, timeoutMs = STARTUP_MS) {
    const deadline = Date.now() + timeoutMs;
    let last;
    while (Date.now() < deadline) {
      for (const child of this.children) {
        if (child.exitCode !== null && !child.expectedExit) {
          throw new Error(`${child.name} exited (${child.exitCode}) while waiting for ${what}; see ${this.artifacts}/${child.name}.log`);
        }
      }
      try {
        const value = await probe();
        if (value) return value;
      } catch (e) {
        last = e;
      }
      await sleep(250);
    }
    throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
  }

  /** Opens `route` inside the shell (history API), without a page load. */
  async open(page, route) {
    await page.evaluate((to) => {
      history.pushState(null, "", to);
      window.dispatchEvent(new Event("symphony:navigate"));
    }, route);
    await page.waitForURL(`${this.origin}${route}`);
  }

  shot(page, name) {
    return page.screenshot({ path: path.join(this.artifacts, `${name}.png`), fullPage: true });
  }

  async stop(child) {
    child.expectedExit = true;
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timeout = new Promise((resolve) => setTimeout(() => resolve("timeout"), 10_000));
    if ((await Promise.race([child.exited, timeout])) === "timeout") {
      child.kill("SIGKILL");
      await child.exited;
    }
  }

  /** Stops the browser, then every process (extensions first, then the server), and removes the temp dir. */
  async close() {
    await this.browser?.close().catch(() => {});
    for (const child of [...this.children].reverse()) await this.stop(child);
    fs.rmSync(this.tmp, { recursive: true, force: true });
  }
}
