// The web UI shell in a real browser (see harness.mjs): starts `symphony serve` and the seed's Python catalog
// example (examples/python/catalog, unchanged), signs in through the page, waits for the Catalog menu entry,
// adds items over REST and sees them on the catalog's JSX page in its frame (and again after Refresh), opens its markdown
// help page, toggles the theme, checks phone width, and keeps screenshots in target/browser-artifacts/shell/.
//
// Run: node --test tests/browser/   (after scripts/build-web.sh and `cargo build --workspace --bins`)
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { PASSWORD, PYTHON, Platform, ROOT, STARTUP_MS } from "./harness.mjs";

const platform = new Platform("shell");
let origin;
let info;
const shot = (page, name) => platform.shot(page, name);

before(async () => {
  await platform.start();
  origin = platform.origin;
  info = platform.info;
  await platform.extension("catalog", PYTHON, [path.join(ROOT, "examples/python/catalog/main.py")]);
});

after(() => platform.close());

/** Adds an item through the REST gateway as the signed-in admin (service proxy, docs/protocol.md §7.1). */
async function addItem(bearer, item) {
  const r = await fetch(`${origin}/api/v1/extension/catalog/add`, {
    method: "POST",
    headers: { Authorization: `Bearer ${bearer}`, "Content-Type": "application/json" },
    body: JSON.stringify(item),
  });
  const text = await r.text();
  assert.equal(r.status, 200, `add ${item.id}: ${r.status} ${text}`);
  assert.equal(JSON.parse(text).status, "created");
}

test("sign in, see the Catalog menu, read its help page, switch theme, phone width", { timeout: 180_000 }, async () => {
  const context = await platform.browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: "light" });
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

  // The catalog's home page is the seed's JSX, transpiled by the server and run in its frame on the UI sandbox
  // origin; it lists items added over REST through the frame's scoped NATS connection (WebSocket), and Refresh
  // loads them again.
  const bearer = await platform.adminToken();
  await addItem(bearer, { id: "a1", name: "Alpha" });
  await addItem(bearer, { id: "b2", name: "Bravo" });
  await menu.click();
  await page.waitForURL(`${origin}/catalog`);
  const frame = page.getByTestId("extension-page").frameLocator("[data-testid=extension-frame][data-kind=jsx]");
  const list = frame.locator("li");
  await frame.getByRole("heading", { name: "Catalog", level: 1 }).waitFor();
  await list.nth(1).waitFor();
  assert.deepEqual((await list.allInnerTexts()).sort(), ["Alpha", "Bravo"]);
  // setTitle({"/": "Home", "/catalog": "Catalog"}): title and breadcrumbs.
  assert.equal(await page.getByTestId("page-title").innerText(), "Catalog");
  assert.equal(await page.locator("ol.breadcrumbs").getByRole("link", { name: "Home" }).count(), 1);
  await addItem(bearer, { id: "c3", name: "Charlie" });
  await frame.getByRole("button", { name: "Refresh" }).click();
  await list.nth(2).waitFor();
  assert.deepEqual((await list.allInnerTexts()).sort(), ["Alpha", "Bravo", "Charlie"]);
  await shot(page, "02b-catalog-page");

  // A full page load of a shell route (SPA fallback), rendering the markdown help page.
  await page.goto(`${origin}/help/extensions/Catalog`);
  const markdown = page.getByTestId("markdown");
  await markdown.waitFor({ timeout: STARTUP_MS });
  const text = await markdown.innerText();
  assert.equal(await markdown.locator("h1").innerText(), "Catalog");
  assert.ok(text.includes(`This ${info.name} instance is at ${info.origin}; extensions reach its NATS at ${info.nats_address}.`), text);
  assert.ok(text.includes(`bucket on ${info.name} (${info.short_name})`), text);
  assert.ok(text.includes(`${info.origin}/api/v1/extension/catalog/list`), "variables inside code blocks are substituted too");
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
