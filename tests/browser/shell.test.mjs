// The web UI shell in a real browser: Debian's Chromium (/usr/bin/chromium, never a downloaded build)
// driven headless by playwright-core. Starts `symphony serve` and the Rust catalog example, signs in
// through the page, waits for the Catalog menu entry, opens the catalog's markdown help page, toggles the
// theme, checks phone width, and keeps screenshots in target/browser-artifacts/ (or
// $SYMPHONY_BROWSER_ARTIFACTS). Every process it starts is stopped in `after`.
//
// Run: node --test tests/browser/   (after scripts/build-web.sh and `cargo build --workspace --bins`)
import { spawn, execFile } from "node:child_process";
import { createRequire } from "node:module";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(path.join(ROOT, "web/package.json"));
const { chromium } = require("playwright-core");

const CHROMIUM = process.env.SYMPHONY_CHROMIUM ?? "/usr/bin/chromium";
const BIN = path.join(ROOT, "target/debug");
const ARTIFACTS = process.env.SYMPHONY_BROWSER_ARTIFACTS ?? path.join(ROOT, "target/browser-artifacts");
const PASSWORD = "browser-test-Pa55word";
const STARTUP_MS = 90_000;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "symphony-browser-"));
const dataDir = path.join(tmp, "data");
const children = [];
let browser;
let origin;
let info;

function natsServerEnv() {
  if (process.env.SYMPHONY_NATS_SERVER) return {};
  try {
    return { SYMPHONY_NATS_SERVER: fs.readFileSync(path.join(ROOT, ".venv/nats-server-path"), "utf8").trim() };
  } catch {
    return {};
  }
}

function start(name, command, args, env) {
  const log = fs.openSync(path.join(ARTIFACTS, `${name}.log`), "w");
  const child = spawn(command, args, {
    cwd: tmp,
    env: { ...process.env, ...natsServerEnv(), ...env },
    stdio: ["ignore", log, log],
  });
  child.name = name;
  child.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  children.push(child);
  return child;
}

async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const timeout = new Promise((resolve) => setTimeout(() => resolve("timeout"), 10_000));
  if ((await Promise.race([child.exited, timeout])) === "timeout") {
    child.kill("SIGKILL");
    await child.exited;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what, probe, timeoutMs = STARTUP_MS) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    for (const child of children) {
      if (child.exitCode !== null) {
        throw new Error(`${child.name} exited (${child.exitCode}) while waiting for ${what}; see ${ARTIFACTS}/${child.name}.log`);
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

const shot = (page, name) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  for (const f of fs.readdirSync(ARTIFACTS)) fs.rmSync(path.join(ARTIFACTS, f), { force: true });

  start("symphony", path.join(BIN, "symphony"), ["serve", "--data-dir", dataDir, "--http", "0", "--nats-port", "0", "--ws-port", "0"], {
    SYMPHONY_ADMIN_PASSWORD: PASSWORD,
    RUST_LOG: "info,async_nats=warn",
  });
  const ports = await waitFor("ports.json", async () => JSON.parse(fs.readFileSync(path.join(dataDir, "ports.json"), "utf8")));
  origin = ports.http_url.replace(/\/$/, "");
  await waitFor("/api/v1/ready", async () => (await fetch(`${origin}/api/v1/ready`)).ok);
  info = await (await fetch(`${origin}/api/v1/symphonyinfo`)).json();

  const { stdout } = await promisify(execFile)(path.join(BIN, "symphony"), ["token", "create", "--registration", "--data-dir", dataDir], {
    env: { ...process.env, ...natsServerEnv() },
  });
  const token = stdout.trim();
  assert.ok(token, "symphony token create printed no token");
  start("catalog", path.join(BIN, "catalog"), [], {
    REGISTRATION_TOKEN: token,
    SYMPHONY_CREDENTIAL_STORE: "file",
    CIRATA_CONFIG_DIR: path.join(tmp, "cfg"),
    RUST_LOG: "info",
  });

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
});

after(async () => {
  await browser?.close().catch(() => {});
  // Extensions first, then the server.
  for (const child of [...children].reverse()) await stop(child);
  fs.rmSync(tmp, { recursive: true, force: true });
});

test("sign in, see the Catalog menu, read its help page, switch theme, phone width", { timeout: 180_000 }, async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: "light" });
  const page = await context.newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e));

  // The server answers the shell for `/` and for shell routes (SPA fallback), JSON 404 for /api/*.
  const api404 = await fetch(`${origin}/api/v1/no-such-path`, { headers: { Accept: "text/html" } });
  assert.equal(api404.status, 404);
  assert.match(api404.headers.get("content-type") ?? "", /application\/json/);

  await page.goto(`${origin}/`);
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill("wrong-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  const loginError = page.getByTestId("login-error");
  await loginError.waitFor();
  assert.ok((await loginError.innerText()).length > 0, "a failed sign-in shows the server's message");
  await shot(page, "01-login-error");

  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();

  // The catalog registers after the page loaded: the polled sidebar picks it up without a reload.
  const menu = page.getByTestId("sidebar").getByRole("link", { name: "Catalog" });
  await menu.waitFor({ timeout: STARTUP_MS });
  await page.getByTestId("extension-catalog").getByTestId("state").filter({ hasText: "OK" }).waitFor({ timeout: STARTUP_MS });
  await shot(page, "02-dashboard");

  // The catalog's home page is JSX: not rendered yet, but shown as a card inside the page.
  await menu.click();
  await page.waitForURL(`${origin}/catalog`);
  await page.getByTestId("renderer-missing").filter({ hasText: "text/symphony-jsx" }).waitFor();

  // A full page load of a shell route (SPA fallback), rendering the markdown help page.
  await page.goto(`${origin}/help/extensions/Catalog`);
  const markdown = page.getByTestId("markdown");
  await markdown.waitFor({ timeout: STARTUP_MS });
  const text = await markdown.innerText();
  assert.equal(await markdown.locator("h1").innerText(), info.name);
  assert.ok(text.includes(`This ${info.name} instance is at ${info.origin}.`), text);
  assert.ok(!text.includes("{{"), `unsubstituted template variable in: ${text}`);
  assert.equal(await markdown.locator("table").count(), 1, "GFM table rendered");
  assert.match(await page.title(), /^Catalog · /);
  await shot(page, "03-help-light");

  // Theme: the toggle flips <html data-theme> and the colours.
  const html = page.locator("html");
  const before = await html.getAttribute("data-theme");
  const bgBefore = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await page.getByTestId("theme-toggle").click();
  const afterTheme = await html.getAttribute("data-theme");
  assert.notEqual(afterTheme, before);
  assert.equal(afterTheme, "dark");
  assert.notEqual(await page.evaluate(() => getComputedStyle(document.body).backgroundColor), bgBefore);
  await shot(page, "04-help-dark");

  // The help index lists it.
  await page.getByTestId("sidebar").getByRole("link", { name: "Help" }).click();
  await page.getByRole("link", { name: "Catalog" }).last().waitFor();

  // Phone width: the sidebar is a drawer behind the menu button.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${origin}/`);
  const sidebarLink = page.getByTestId("sidebar").getByRole("link", { name: "Catalog" });
  await sidebarLink.waitFor({ state: "attached", timeout: STARTUP_MS });
  const closed = await page.getByTestId("sidebar").boundingBox();
  assert.ok(closed && closed.x + closed.width <= 0, `sidebar off-screen at phone width: ${JSON.stringify(closed)}`);
  await page.getByRole("button", { name: "Toggle navigation" }).click();
  await page.waitForFunction(() => {
    const r = document.querySelector("[data-testid=sidebar]")?.getBoundingClientRect();
    return r && r.left >= 0;
  });
  const docWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(docWidth <= 390, `no horizontal overflow at phone width (scrollWidth ${docWidth})`);
  await shot(page, "05-phone-nav");
  await sidebarLink.click();
  await page.waitForURL(`${origin}/catalog`);

  assert.deepEqual(pageErrors.map(String), []);
  await context.close();
});
