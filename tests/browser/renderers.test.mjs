// Extension UI renderers in a real browser (see harness.mjs), with the fixture extension tests/fixtures/ui_ext
// (one resource of every kind) and the seed's Python catalog as "another extension":
// - a `text/symphony-jsx` page (in its frame on the UI sandbox origin) importing a `text/symphony-module`, using
//   SymphonyContext (user, theme, setTitle) and the extension's scoped NATS connection;
// - a JSX syntax error shows file, line and column in an error card while another extension's page still works;
// - an htmx page's requests carry the extension's scoped bearer, and the theme toggle reaches its iframe;
// - the postMessage bridge of a `text/html+symphony` page; a plain `text/html` page;
// - `update_resource` changes a page without a reload; a killed extension turns Inactive.
// Screenshots: target/browser-artifacts/renderers/.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { PYTHON, Platform, ROOT, STARTUP_MS } from "./harness.mjs";

const platform = new Platform("renderers");
let origin;
let sandbox;
let uifix;

before(async () => {
  await platform.start();
  origin = platform.origin;
  sandbox = platform.sandbox;
  uifix = await platform.extension("uifix", PYTHON, [path.join(ROOT, "tests/fixtures/ui_ext/main.py")]);
  await platform.extension("catalog", PYTHON, [path.join(ROOT, "examples/python/catalog/main.py")]);
});

after(() => platform.close());

const shot = (page, name) => platform.shot(page, name);

const open = (page, route) => platform.open(page, route);

test("extension pages of every kind", { timeout: 300_000 }, async () => {
  const page = await platform.signedInPage();
  const requests = [];
  page.on("request", (r) => requests.push(r));
  await page.getByTestId("sidebar").getByRole("link", { name: "UI Fixture" }).waitFor({ timeout: STARTUP_MS });
  await page.getByTestId("sidebar").getByRole("link", { name: "Catalog" }).waitFor({ timeout: STARTUP_MS });
  // Marks this document: if any step below reloaded the page, the mark would be gone.
  await page.evaluate(() => (window.__noReload = "still here"));

  // JSX + module import + SymphonyContext + the extension's scoped NATS connection, in a frame.
  await page.getByTestId("sidebar").getByRole("link", { name: "UI Fixture" }).click();
  const jsx = page.frameLocator("[data-testid=extension-frame][data-kind=jsx]");
  await jsx.getByTestId("greeting").waitFor();
  assert.equal(await jsx.getByTestId("greeting").innerText(), "Hello, admin!");
  assert.equal(await jsx.getByTestId("module-version").innerText(), "module v1");
  assert.equal(await jsx.getByTestId("jsx-theme").innerText(), "theme: light");
  assert.equal(await page.getByTestId("page-title").innerText(), "UI Fixture");
  await jsx.getByRole("button", { name: "Echo" }).click();
  await jsx.getByTestId("echo-reply").filter({ hasText: "echo: ping" }).waitFor();
  // The module came from the server's transpiler on the sandbox origin, through the frame's import map.
  assert.ok(requests.some((r) => r.url().startsWith(`${sandbox}/ui/module/`) && r.url().includes("/uifix/common")), "module fetched via import map");
  assert.ok(requests.some((r) => r.url() === `${sandbox}/vendor/react.js`), "react from /vendor of the sandbox origin");
  // The theme reaches the page without a reload.
  await page.getByTestId("theme-toggle").click();
  await jsx.getByTestId("jsx-theme").filter({ hasText: "theme: dark" }).waitFor();
  await page.getByTestId("theme-toggle").click();
  await jsx.getByTestId("jsx-theme").filter({ hasText: "theme: light" }).waitFor();
  await shot(page, "01-jsx");

  // A broken page: an error card with file, line and column; the shell and other pages keep working.
  await open(page, "/uifix/broken");
  const card = page.getByTestId("module-error");
  await card.waitFor();
  const location = await page.getByTestId("module-error-location").innerText();
  assert.match(location, /^ui:\/\/uifix\/broken:4:\d+$/);
  assert.match(await card.innerText(), /Syntax error/);
  await shot(page, "02-broken-jsx");
  // (The seed's catalog page cannot show an empty bucket: its list handler then answers an error object.)
  const add = await fetch(`${origin}/api/v1/extension/catalog/add`, {
    method: "POST",
    headers: { Authorization: `Bearer ${await platform.adminToken()}` },
    body: JSON.stringify({ id: "x1", name: "Xylophone" }),
  });
  assert.equal(add.status, 200, await add.text());
  await page.getByTestId("sidebar").getByRole("link", { name: "Catalog" }).click();
  const catalog = page.frameLocator("[data-testid=extension-frame][data-kind=jsx][data-prefix=catalog]");
  await catalog.getByRole("heading", { name: "Catalog", level: 1 }).waitFor();
  await catalog.getByText("Xylophone").waitFor();
  await catalog.getByRole("button", { name: "Refresh" }).waitFor();
  assert.equal(await page.getByTestId("page-title").innerText(), "Catalog");
  assert.equal(await page.getByTestId("module-error").count(), 0);

  // htmx: the generated shell loads `pages/hello` from the gateway on the sandbox origin with the scoped bearer.
  await open(page, "/uifix/htmx");
  const htmx = page.frameLocator("[data-testid=extension-frame][data-kind=htmx]");
  await htmx.locator("#fragment").waitFor();
  assert.equal(await htmx.locator("#caller").innerText(), "user:admin");
  const fragmentRequest = requests.find((r) => r.url() === `${sandbox}/api/v1/extension/uifix/pages/hello` && r.method() === "GET");
  assert.ok(fragmentRequest, "htmx requested pages/hello relative to <base>");
  assert.match((await fragmentRequest.allHeaders()).authorization ?? "", /^Bearer \S+$/);
  assert.equal(await fragmentRequest.headerValue("hx-request"), "true");
  // The theme toggle reaches the iframe (data-theme on its <html>) without rebuilding it.
  const htmlTheme = () => htmx.locator("html").getAttribute("data-theme");
  assert.equal(await htmlTheme(), "light");
  await page.getByTestId("theme-toggle").click();
  await htmx.locator("html[data-theme=dark]").waitFor({ state: "attached" });
  assert.equal(await htmx.locator("#fragment").count(), 1, "the iframe was not reloaded");
  await shot(page, "03-htmx-dark");

  // The bridge: NATS request under the user's permissions, theme.
  await open(page, "/uifix/frame");
  const bridge = page.frameLocator("[data-testid=extension-frame][data-kind='html+symphony']");
  await bridge.locator("#theme").filter({ hasText: "theme: dark" }).waitFor();
  await bridge.getByRole("button", { name: "Echo" }).click();
  await bridge.locator("#reply").filter({ hasText: "echo: bridge" }).waitFor();
  await page.getByTestId("theme-toggle").click();
  await bridge.locator("#theme").filter({ hasText: "theme: light" }).waitFor();

  // Plain HTML, sandboxed.
  await open(page, "/uifix/plain");
  const plain = page.locator("[data-testid=extension-frame][data-kind=html]");
  assert.equal(await plain.getAttribute("sandbox"), "allow-scripts allow-forms allow-popups");
  assert.equal(new URL(await plain.getAttribute("src")).origin, sandbox);
  await page.frameLocator("[data-kind=html]").locator("#plain").waitFor();

  // update_resource: the page changes without a reload.
  await open(page, "/uifix/status");
  const status = page.frameLocator("[data-testid=extension-frame][data-kind=jsx]");
  await status.getByTestId("status-version").filter({ hasText: "status version 1" }).waitFor();
  const bearer = await platform.adminToken();
  const bump = await fetch(`${origin}/api/v1/extension/uifix/bump`, { method: "POST", headers: { Authorization: `Bearer ${bearer}` } });
  assert.equal(bump.status, 200, await bump.text());
  await status.getByTestId("status-version").filter({ hasText: "status version 2" }).waitFor({ timeout: STARTUP_MS });
  assert.equal(await page.evaluate(() => window.__noReload), "still here", "the page was not reloaded");
  await shot(page, "04-updated");

  // A killed extension turns Inactive on the dashboard, live.
  await page.getByTestId("sidebar").getByRole("link", { name: "Home" }).click();
  await page.getByTestId("extension-uifix").getByTestId("state").filter({ hasText: "OK" }).waitFor();
  // The dashboard shows the extension's widget (the same JSX resource, already updated).
  const widget = page.locator("section.widget").filter({ hasText: "Fixture status" }).frameLocator("[data-testid=extension-frame]");
  await widget.getByTestId("status-version").filter({ hasText: "status version 2" }).waitFor();
  uifix.expectedExit = true;
  uifix.kill("SIGKILL");
  await page.getByTestId("extension-uifix").getByTestId("state").filter({ hasText: "Inactive" }).waitFor({ timeout: 180_000 });
  assert.equal(await page.evaluate(() => window.__noReload), "still here", "the page was not reloaded");
  await shot(page, "05-inactive");

  assert.deepEqual(page.pageErrors.map(String), []);
  await page.context().close();
});
