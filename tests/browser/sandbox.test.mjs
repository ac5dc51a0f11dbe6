// Extension UI runs with least privilege (docs/ui.md "Trust", docs/security.md "Extension UI"), in a real browser
// (see harness.mjs) with two copies of the fixture extension tests/fixtures/ui_ext (prefixes uifix and uifix2):
// (a) a widget or HTML frame has an opaque origin on the UI sandbox origin: it cannot read the shell's cookie or
//     localStorage, cannot call /api/v1/users, /api/v1/keys or /api/v1/usertoken with what it was given, and can
//     still call its own extension's gateway route (and no other extension's);
// (b) a JSX page cannot reach the session: it is not same-origin with the shell, and its fetches of the platform
//     API fail, while it still talks to its extension;
// (c) extension A's frame cannot read extension B's frame (nor the shell) on the same dashboard.
// Screenshots: target/browser-artifacts/sandbox/.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { PYTHON, Platform, ROOT, STARTUP_MS } from "./harness.mjs";

const platform = new Platform("sandbox");
let origin;
let sandbox;

before(async () => {
  await platform.start();
  origin = platform.origin;
  sandbox = platform.sandbox;
  const fixture = path.join(ROOT, "tests/fixtures/ui_ext/main.py");
  await platform.extension("uifix", PYTHON, [fixture]);
  await platform.extension("uifix2", PYTHON, [fixture], { UIFIX_PREFIX: "uifix2" });
});

after(() => platform.close());

const shot = (page, name) => platform.shot(page, name);

const open = (page, route) => platform.open(page, route);

/** The playwright Frame of the extension frame matching `selector`, once its page is written into it. */
async function frameOf(page, selector, ready) {
  const handle = await page.locator(selector).first().elementHandle({ timeout: STARTUP_MS });
  const frame = await handle.contentFrame();
  await frame.waitForFunction(ready, null, { timeout: STARTUP_MS });
  return frame;
}

/** What a script inside a frame can reach of the session. */
function probe({ shellOrigin }) {
  const attempt = (f) => {
    try {
      return { ok: true, value: f() };
    } catch (e) {
      return { ok: false, error: e.name };
    }
  };
  const fetched = async (url, init) => {
    try {
      const r = await fetch(url, init);
      return { status: r.status, body: (await r.text()).slice(0, 300) };
    } catch (e) {
      return { error: String(e) };
    }
  };
  const others = () => Array.from({ length: window.parent.frames.length }, (_, i) => window.parent.frames[i]).filter((w) => w !== window);
  const token = window.symphony?.token ?? window.__SYMPHONY__?.token ?? null;
  const bearer = token ? { Authorization: `Bearer ${token}` } : {};
  return (async () => ({
    origin: window.origin,
    location: location.origin,
    cookie: attempt(() => document.cookie),
    storage: attempt(() => localStorage.getItem("shell-secret")),
    parent: attempt(() => window.parent.document.title),
    // Every other frame of the shell (another extension's, or another page of this one).
    siblings: others().map((w) => attempt(() => w.document.body.innerHTML.length)),
    siblingBoot: others().map((w) => attempt(() => w.__SYMPHONY__.token)),
    token,
    // The platform API on the frame's own origin (the sandbox has none) and on the shell's (CSP and CORS refuse).
    usersHere: await fetched("/api/v1/users", { headers: bearer }),
    usersShell: await fetched(`${shellOrigin}/api/v1/users`, { headers: bearer, credentials: "include" }),
    keysShell: await fetched(`${shellOrigin}/api/v1/keys`, { credentials: "include" }),
    usertokenShell: await fetched(`${shellOrigin}/api/v1/usertoken`, { credentials: "include" }),
    // Its own extension's gateway route, and another's.
    own: await fetched("/api/v1/extension/uifix/pages/hello", { headers: bearer }),
    other: await fetched("/api/v1/extension/uifix2/pages/hello", { headers: bearer }),
  }))();
}

/** The platform API as the holder of `token` would call it from anywhere (not only from the frame). */
async function asHolder(token) {
  const out = {};
  for (const [method, p] of [
    ["GET", "/api/v1/users"],
    ["GET", "/api/v1/keys"],
    ["POST", "/api/v1/keys"],
    ["GET", "/api/v1/usertoken"],
    ["POST", "/api/v1/usertoken/scoped"],
    ["GET", "/api/v1/userinfo"],
    ["GET", "/api/v1/roles"],
  ]) {
    const r = await fetch(`${origin}${p}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: method === "POST" ? JSON.stringify({ name: "stolen", prefix: "uifix" }) : undefined,
    });
    out[`${method} ${p}`] = { status: r.status, code: (await r.json().catch(() => ({}))).code };
  }
  return out;
}

function assertConfined(seen, what) {
  assert.equal(seen.origin, "null", `${what}: an opaque origin`);
  assert.equal(seen.location, sandbox, `${what}: loaded from the UI sandbox origin`);
  assert.deepEqual(seen.cookie, { ok: false, error: "SecurityError" }, `${what}: document.cookie`);
  assert.deepEqual(seen.storage, { ok: false, error: "SecurityError" }, `${what}: localStorage`);
  assert.deepEqual(seen.parent, { ok: false, error: "SecurityError" }, `${what}: the shell's document`);
  assert.equal(seen.usersHere.status, 404, `${what}: no platform API on the sandbox origin: ${JSON.stringify(seen.usersHere)}`);
  for (const key of ["usersShell", "keysShell", "usertokenShell"]) {
    assert.match(seen[key].error ?? "", /TypeError/, `${what}: ${key} must fail: ${JSON.stringify(seen[key])}`);
  }
}

test("extension frames cannot reach the session, the shell or each other", { timeout: 300_000 }, async () => {
  const page = await platform.signedInPage();
  await page.evaluate(() => localStorage.setItem("shell-secret", "only the shell"));
  for (const name of ["UI Fixture", "UI Fixture uifix2"]) {
    await page.getByTestId("sidebar").getByRole("link", { name, exact: true }).waitFor({ timeout: STARTUP_MS });
  }

  // (a) A bridge page (text/html+symphony): it holds a token, and that token is scoped.
  await open(page, "/uifix/frame");
  const bridge = await frameOf(page, "[data-testid=extension-frame][data-kind='html+symphony']", () => !!window.symphony?.token);
  const seenBridge = await bridge.evaluate(probe, { shellOrigin: origin });
  assertConfined(seenBridge, "bridge page");
  assert.equal(seenBridge.own.status, 200, JSON.stringify(seenBridge.own));
  assert.match(seenBridge.own.body, /user:admin/);
  assert.equal(seenBridge.other.status, 403, JSON.stringify(seenBridge.other));
  assert.match(seenBridge.other.body, /scoped_token/);
  for (const [call, r] of Object.entries(await asHolder(seenBridge.token))) {
    assert.deepEqual(r, { status: 403, code: "scoped_token" }, `the bridge page's token at ${call}`);
  }
  // The bridge reaches its own extension's subjects only.
  const crossed = await bridge.evaluate(() =>
    window.symphony.request("cirata.extensions.uifix2.echo", "{}").then(
      () => "answered",
      (e) => e.code,
    ),
  );
  assert.equal(crossed, "forbidden");
  assert.match(await bridge.evaluate(() => window.symphony.request("cirata.extensions.uifix.echo", '{"say":"own"}')), /echo: own/);

  // What a frame asks of the shell stays within the shell: breadcrumbs only to shell paths, navigation likewise.
  await bridge.evaluate(() =>
    window.symphony.setTitle({ "javascript:alert(document.domain)": "Evil", "//evil.example/": "Far", "/": "Home", "/uifix/frame": "Bridge" }),
  );
  await page.getByTestId("page-title").filter({ hasText: "Bridge" }).waitFor();
  assert.deepEqual(await page.locator("ol.breadcrumbs a").evaluateAll((as) => as.map((a) => a.getAttribute("href"))), ["/"]);
  await bridge.evaluate(() => window.symphony.navigate("//evil.example/x"));
  await bridge.evaluate(() => window.symphony.navigate("/\\evil.example/x"));
  await page.waitForTimeout(300);
  assert.equal(new URL(page.url()).href, `${origin}/uifix/frame`);

  // A plain text/html page: the same confinement, and no token at all.
  await open(page, "/uifix/plain");
  const plain = await frameOf(page, "[data-testid=extension-frame][data-kind=html]", () => !!document.getElementById("plain"));
  const seenPlain = await plain.evaluate(probe, { shellOrigin: origin });
  assertConfined(seenPlain, "plain page");
  assert.equal(seenPlain.token, null);
  assert.equal(seenPlain.own.status, 401, JSON.stringify(seenPlain.own));

  // (b) A JSX page: not same-origin with the shell; what it holds opens its extension only.
  await open(page, "/uifix");
  const jsx = await frameOf(page, "[data-testid=extension-frame][data-kind=jsx]", () => !!document.querySelector("[data-testid=greeting]"));
  const seenJsx = await jsx.evaluate(probe, { shellOrigin: origin });
  assertConfined(seenJsx, "JSX page");
  assert.equal(seenJsx.own.status, 200, JSON.stringify(seenJsx.own));
  assert.equal(seenJsx.other.status, 403, JSON.stringify(seenJsx.other));
  for (const [call, r] of Object.entries(await asHolder(seenJsx.token))) {
    assert.deepEqual(r, { status: 403, code: "scoped_token" }, `the JSX page's token at ${call}`);
  }
  // Its NATS connection still answers (the scoped credentials' limits: tests/tests/ui_sandbox.rs).
  await jsx.getByRole("button", { name: "Echo" }).click();
  await jsx.getByTestId("echo-reply").filter({ hasText: "echo: ping" }).waitFor();
  await shot(page, "01-jsx");

  // (c) The dashboard: widgets of uifix and uifix2 side by side, neither can read the other (nor the shell).
  await page.getByTestId("sidebar").getByRole("link", { name: "Home" }).click();
  const widgets = page.locator("section.widget [data-testid=extension-frame]");
  await widgets.nth(1).waitFor({ timeout: STARTUP_MS });
  const one = await frameOf(page, "section.widget [data-testid=extension-frame][data-prefix=uifix]", () => !!document.querySelector("[data-testid=status-version]"));
  await frameOf(page, "section.widget [data-testid=extension-frame][data-prefix=uifix2]", () => !!document.querySelector("[data-testid=status-version]"));
  const seenWidget = await one.evaluate(probe, { shellOrigin: origin });
  assertConfined(seenWidget, "widget");
  assert.ok(seenWidget.siblings.length >= 1, JSON.stringify(seenWidget.siblings));
  for (const s of seenWidget.siblings) assert.deepEqual(s, { ok: false, error: "SecurityError" }, "another frame's document");
  for (const s of seenWidget.siblingBoot) assert.ok(!s.ok, `another frame's globals: ${JSON.stringify(s)}`);
  await shot(page, "02-widgets");

  assert.deepEqual(page.pageErrors.map(String), []);
  await page.context().close();
});

test("the UI sandbox origin serves no shell, no platform API and no cookie", async () => {
  for (const p of ["/", "/catalog", "/api/v1/userinfo", "/api/v1/users", "/api/v1/login", "/api/v1/usertoken"]) {
    const r = await fetch(`${sandbox}${p}`, { headers: { Accept: "text/html", Authorization: `Bearer ${await platform.adminToken()}` } });
    assert.equal(r.status, 404, `${p}: ${r.status}`);
    assert.equal(r.headers.get("set-cookie"), null, p);
  }
  // The session cookie or the session's bearer opens no gateway route there.
  const admin = await platform.adminToken();
  for (const headers of [{ Cookie: `symphony_session=${admin}` }, { Authorization: `Bearer ${admin}` }]) {
    const r = await fetch(`${sandbox}/api/v1/extension/uifix/pages/hello`, { headers });
    assert.ok([401, 403].includes(r.status), `${JSON.stringify(Object.keys(headers))}: ${r.status}`);
  }
  // The frame document: sandboxed without same-origin, embeddable by the shell only.
  const frame = await fetch(`${sandbox}/frame`);
  const csp = frame.headers.get("content-security-policy") ?? "";
  assert.match(csp, /^sandbox allow-scripts allow-forms allow-popups;/);
  assert.doesNotMatch(csp, /allow-same-origin/);
  assert.match(csp, /frame-ancestors http:\/\/\*:\d+$/);
  assert.match(csp, /connect-src 'self' /);
});
