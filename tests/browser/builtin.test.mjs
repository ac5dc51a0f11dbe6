// The shell's built-in "Platform" pages in a real browser (see harness.mjs): API Keys (server errors inline, a
// registration token shown once with the command that starts an extension, that token really starting the Rust
// hello example, revoking a key), Extensions (live state, detail page, the account's JetStream limits an
// administrator changes, a registration token bound to a prefix), Languages and Libraries (the pip line
// for this instance), Swagger (the embedded Swagger UI) and Users and Roles (create, duplicate refused,
// disable), plus phone width in the dark theme. Screenshots go to target/browser-artifacts/builtin/.
//
// Run: node --test tests/browser/builtin.test.mjs   (after scripts/build-web.sh and `cargo build --workspace --bins`)
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { BIN, PYTHON, Platform, ROOT, STARTUP_MS } from "./harness.mjs";

const platform = new Platform("builtin");
let origin;
const shot = (page, name) => platform.shot(page, name);
const TOKEN_RE = /^[a-z2-7]+\.[a-z2-7]{26}\.[A-Za-z0-9_-]{43}$/;

before(async () => {
  await platform.start();
  origin = platform.origin;
  // A richer manifest for the detail page: endpoints, a bucket, routes, a menu, resources.
  await platform.extension("catalog", path.join(BIN, "catalog"));
  // Two instances of the Python multi-instance example: instance handlers and a command (docs/protocol.md §12).
  const workers = path.join(ROOT, "examples/python/workers/main.py");
  for (const n of [1, 2]) {
    await platform.extension(`workers-${n}`, PYTHON, [workers], { WORKERS_ITEMS: "20", PYTHONPATH: path.join(ROOT, "python") });
  }
});

after(() => platform.close());

/** Opens a built-in page through the sidebar's "Platform" group. */
async function openPlatformPage(page, label, urlPath) {
  await page.getByTestId("platform-nav").getByRole("link", { name: label, exact: true }).click();
  await page.waitForURL(`${origin}${urlPath}`);
}

const keyRow = (page, name) => page.getByTestId("key-table").locator(`tr[data-name="${name}"]`);

test("API keys, registration token → running extension, revocation, extension detail", { timeout: 240_000 }, async () => {
  const page = await platform.signedInPage();
  await openPlatformPage(page, "API Keys", "/platform/keys");
  await page.getByTestId("platform-keys").waitFor();
  assert.equal(await page.getByTestId("page-title").innerText(), "API Keys");
  const form = page.getByTestId("create-key-form");

  // A server error is shown inline with its message.
  await form.getByRole("radio", { name: /API key/ }).check();
  await form.getByLabel("Name", { exact: true }).fill("bad key");
  await form.getByLabel("Capabilities", { exact: true }).fill("pub:nope");
  await form.getByTestId("create-key").click();
  const formError = form.getByTestId("form-error");
  await formError.waitFor();
  assert.match(await formError.innerText(), /capability/i);
  await shot(page, "01-keys-error");

  // A registration token: shown once, with the exact commands that start an extension with it.
  await form.getByRole("radio", { name: /Registration token/ }).check();
  await form.getByLabel("Name", { exact: true }).fill("hello on test host");
  await form.getByTestId("create-key").click();
  const panel = page.getByTestId("new-token");
  await panel.waitFor();
  const token = (await panel.getByTestId("token").innerText()).trim();
  assert.match(token, TOKEN_RE);
  assert.equal((await panel.getByTestId("command-python").innerText()).trim(), `REGISTRATION_TOKEN=${token} python main.py`);
  assert.equal((await panel.getByTestId("command-rust").innerText()).trim(), `REGISTRATION_TOKEN=${token} cargo run`);
  await panel.getByTestId("token-copy").click();
  await panel.getByTestId("token-copy").filter({ hasText: /Copied|Selected/ }).waitFor();
  await shot(page, "02-registration-token");
  await panel.getByTestId("new-token-done").click();
  await panel.waitFor({ state: "detached" });
  assert.equal(await keyRow(page, "hello on test host").getByTestId("key-status").innerText(), "Active");

  // The token works: the Rust hello example provisions its key with it and shows up as OK.
  const helloProcess = platform.spawn("hello", path.join(BIN, "hello"), [], {
    REGISTRATION_TOKEN: token,
    SYMPHONY_CREDENTIAL_STORE: "file",
    CIRATA_CONFIG_DIR: path.join(platform.tmp, "cfg-hello"),
    RUST_LOG: "info",
  });
  await openPlatformPage(page, "Extensions", "/platform/extensions");
  const helloRow = page.getByTestId("platform-extension-hello");
  await helloRow.getByTestId("state").filter({ hasText: "OK" }).waitFor({ timeout: STARTUP_MS });
  await page.getByTestId("platform-extension-catalog").getByTestId("state").filter({ hasText: "OK" }).waitFor({ timeout: STARTUP_MS });
  await shot(page, "03-extensions");

  // Detail: instances of hello; endpoints, buckets, routes and resources of the catalog.
  await helloRow.getByRole("link", { name: "Hello World" }).click();
  await page.waitForURL(`${origin}/platform/extensions/hello`);
  const hello = page.getByTestId("extension-detail-hello");
  await hello.getByTestId("instances").getByTestId("instance-state").filter({ hasText: "Running" }).waitFor();
  assert.equal(await page.getByTestId("page-title").innerText(), "Hello World");
  await page.getByLabel("Breadcrumbs").getByRole("link", { name: "Extensions" }).click();
  await page.getByTestId("platform-extension-catalog").getByRole("link", { name: "Catalog" }).click();
  const catalog = page.getByTestId("extension-detail-catalog");
  await catalog.waitFor();
  assert.match(await catalog.getByTestId("endpoints").innerText(), /cirata\.extensions\.catalog\.list/);
  assert.match(await catalog.getByTestId("endpoints").innerText(), /\/api\/v1\/extension\/catalog\/add/);
  assert.match(await catalog.getByTestId("buckets").innerText(), /catalog_items/);
  assert.match(await catalog.getByTestId("routes").innerText(), /\/catalog/);
  assert.match(await catalog.getByTestId("resources").innerText(), /ui:\/\/catalog\/home/);
  await shot(page, "04-extension-detail");

  // Back on API Keys: the registration token is used up and hello's own key is running.
  await openPlatformPage(page, "API Keys", "/platform/keys");
  await keyRow(page, "hello on test host").getByTestId("key-status").filter({ hasText: "Used" }).waitFor();
  const helloKey = keyRow(page, "Hello World");
  await helloKey.waitFor();
  assert.match(await helloKey.innerText(), /hello/);

  // An API key: the panel shows a curl line for its capability; then revoke it with confirmation.
  await form.getByRole("radio", { name: /API key/ }).check();
  await form.getByLabel("Name", { exact: true }).fill("report script");
  await form.getByLabel("Capabilities", { exact: true }).fill("pub:extensions.catalog.list");
  await form.getByLabel("Notes (optional)", { exact: true }).fill("nightly report");
  await form.getByTestId("create-key").click();
  await panel.waitFor();
  const apiToken = (await panel.getByTestId("token").innerText()).trim();
  assert.match(apiToken, TOKEN_RE);
  assert.equal(
    (await panel.getByTestId("command-curl").innerText()).trim(),
    `curl -H "Authorization: Bearer ${apiToken}" ${platform.info.origin}/api/v1/extension/catalog/list`,
  );
  const listed = await fetch(`${origin}/api/v1/extension/catalog/list`, { headers: { Authorization: `Bearer ${apiToken}` } });
  assert.equal(listed.status, 200, "the new key calls the endpoint its capability names");
  await panel.getByTestId("new-token-done").click();

  const report = keyRow(page, "report script");
  await report.getByRole("button", { name: "Revoke" }).click();
  const confirm = page.getByTestId("revoke-confirm");
  assert.match(await confirm.innerText(), /report script/);
  await confirm.getByRole("button", { name: "Yes, revoke" }).click();
  await report.getByTestId("key-status").filter({ hasText: "Revoked" }).waitFor();
  assert.equal(await report.getByRole("button", { name: "Revoke" }).count(), 0, "a revoked key offers no revoke button");
  const refused = await fetch(`${origin}/api/v1/apikey`, { headers: { Authorization: `Bearer ${apiToken}` } });
  assert.equal(refused.status, 401);
  assert.equal((await refused.json()).code, "token_revoked");
  await shot(page, "05-keys-revoked");

  // Live state: hello stops while its detail page is open; the page shows it Inactive without a reload.
  await openPlatformPage(page, "Extensions", "/platform/extensions");
  await page.getByTestId("platform-extension-hello").getByRole("link", { name: "Hello World" }).click();
  await hello.getByTestId("state").filter({ hasText: "OK" }).first().waitFor();
  await platform.stop(helloProcess);
  await hello.locator(".bi-title").getByTestId("state").filter({ hasText: "Inactive" }).waitFor({ timeout: STARTUP_MS });
  await hello.getByTestId("instances").getByTestId("instance-state").filter({ hasText: "Stopped" }).waitFor();
  await shot(page, "05b-hello-inactive");

  assert.deepEqual(page.pageErrors.map(String), []);
  await page.context().close();
});

test("Extension detail: each instance's handler answers for that instance; a command runs on one", { timeout: 120_000 }, async () => {
  const page = await platform.signedInPage();
  await page.goto(`${origin}/platform/extensions/workers`);
  const workers = page.getByTestId("extension-detail-workers");
  const instances = workers.getByTestId("instances");
  await instances.getByTestId("instance-state").filter({ hasText: "Running" }).nth(1).waitFor({ timeout: STARTUP_MS });
  const rows = instances.locator("tr[data-testid^='instance-']");
  assert.equal(await rows.count(), 2);
  assert.match(await instances.innerText(), /shares partitioned work/);

  // Each row's button reaches its own instance (?instance=<id>): the reply names that instance.
  for (const i of [0, 1]) {
    const row = rows.nth(i);
    const id = (await row.getAttribute("data-testid")).replace("instance-", "");
    await row.getByTestId("call-local-status").click();
    const reply = instances.getByTestId("instance-reply");
    await reply.filter({ hasText: id }).waitFor();
    assert.equal(await reply.getAttribute("data-ok"), "true");
    assert.equal(JSON.parse(await reply.locator("pre").innerText()).instance_id, id);
  }
  await shot(page, "04b-instance-handler");

  // The declared command: Run → exactly one instance answers.
  const commands = workers.getByTestId("commands");
  assert.match(await commands.innerText(), /Rebuild the search index/);
  await commands.getByTestId("command-reindex").getByRole("button", { name: "Run" }).click();
  const ran = commands.getByTestId("command-reply");
  await ran.filter({ hasText: "reindexed_by" }).waitFor();
  const by = JSON.parse(await ran.locator("pre").innerText()).reindexed_by;
  const ids = await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.testid.replace("instance-", "")));
  assert.ok(ids.includes(by), `${by} is one of ${ids}`);
  await shot(page, "04c-command");

  assert.deepEqual(page.pageErrors.map(String), []);
  await page.context().close();
});

test("Extension account: the administrator changes its limits; a registration token bound to a prefix", { timeout: 120_000 }, async () => {
  const page = await platform.signedInPage();
  await openPlatformPage(page, "Extensions", "/platform/extensions");
  const row = page.getByTestId("platform-extension-catalog");
  await row.getByTestId("state").filter({ hasText: "OK" }).waitFor({ timeout: STARTUP_MS });
  await row.getByRole("link", { name: "Catalog" }).click();
  await page.waitForURL(`${origin}/platform/extensions/catalog`);

  // The account: owner (catalog was provisioned with a data-dir token) and the default limits in human units.
  const account = page.getByTestId("extension-detail-catalog").getByTestId("account");
  await account.getByTestId("limits").waitFor();
  assert.match(await account.getByTestId("account-owner").innerText(), /administrators/);
  assert.equal(await account.getByTestId("limit-disk").innerText(), "1.0 GiB");
  assert.equal(await account.getByTestId("limit-memory").innerText(), "64 MiB");
  assert.equal(await account.getByTestId("limit-streams").innerText(), "100");
  assert.equal(await account.getByTestId("limit-consumers").innerText(), "1000");
  await account.scrollIntoViewIfNeeded();
  await shot(page, "04c-extension-account");

  // The form starts from the current limits. A value the server refuses: its message, inline.
  await account.getByTestId("edit-limits").click();
  const form = account.getByTestId("limits-form");
  const disk = form.getByLabel("Disk storage", { exact: true });
  const streams = form.getByLabel("Streams", { exact: true });
  assert.equal(await disk.inputValue(), "1 GiB");
  assert.equal(await form.getByLabel("Memory storage", { exact: true }).inputValue(), "64 MiB");
  await streams.fill("0");
  await form.getByTestId("save-limits").click();
  await form.getByTestId("form-error").filter({ hasText: "streams must be -1 (unlimited) or a positive number" }).waitFor();
  // A size the form cannot read is refused before any request.
  await streams.fill("unlimited");
  await disk.fill("2GB");
  await form.getByTestId("save-limits").click();
  await form.getByTestId("form-error").filter({ hasText: 'unknown unit "GB"' }).waitFor();
  await shot(page, "04d-limits-error");

  // 2 GiB disk, unlimited streams: saved, shown, and still there after a reload.
  await disk.fill("2 GiB");
  await form.getByTestId("save-limits").click();
  await form.waitFor({ state: "detached" });
  await account.getByTestId("limit-disk").filter({ hasText: "2.0 GiB" }).waitFor();
  await page.reload();
  await account.getByTestId("limit-disk").filter({ hasText: "2.0 GiB" }).waitFor();
  assert.equal(await account.getByTestId("limit-streams").innerText(), "unlimited");
  assert.equal(await account.getByTestId("limit-memory").innerText(), "64 MiB");
  const adminToken = await platform.adminToken();
  const auth = { headers: { Authorization: `Bearer ${adminToken}` } };
  const saved = await (await fetch(`${origin}/api/v1/extensions/catalog/account`, auth)).json();
  assert.deepEqual(saved.limits, { disk_storage: 2 ** 31, mem_storage: 64 * 2 ** 20, streams: -1, consumer: 1000 });
  await account.scrollIntoViewIfNeeded();
  await shot(page, "04e-limits-saved");

  // A registration token bound to the catalog prefix.
  await openPlatformPage(page, "API Keys", "/platform/keys");
  const keyForm = page.getByTestId("create-key-form");
  await keyForm.getByRole("radio", { name: /Registration token/ }).check();
  await keyForm.getByLabel("Name", { exact: true }).fill("second catalog");
  await keyForm.getByLabel("Bind to extension prefix (optional)", { exact: true }).fill("catalog");
  await keyForm.getByTestId("create-key").click();
  const panel = page.getByTestId("new-token");
  await panel.waitFor();
  assert.match((await panel.getByTestId("token").innerText()).trim(), TOKEN_RE);
  await panel.getByTestId("new-token-done").click();
  await keyRow(page, "second catalog").waitFor();
  const keys = await (await fetch(`${origin}/api/v1/keys`, auth)).json();
  const bound = keys.find((k) => k.name === "second catalog");
  assert.equal(bound?.kind, "registration", JSON.stringify(keys));
  assert.equal(bound.prefix, "catalog");

  assert.deepEqual(page.pageErrors.map(String), []);
  await page.context().close();
});

test("Languages and Libraries, Swagger", { timeout: 120_000 }, async () => {
  const page = await platform.signedInPage();
  await openPlatformPage(page, "Languages and Libraries", "/platform/libraries");
  const pip = (await page.getByTestId("pip-install").innerText()).trim();
  assert.ok(pip.startsWith("pip install --index-url "), pip);
  assert.ok(pip.includes(`${platform.info.origin}/pypi/simple`), `${pip} names ${platform.info.origin}`);
  assert.ok(pip.endsWith(" cirata-symphony"), pip);
  // The index the line names answers (PEP 503 root listing the SDK).
  const index = await fetch(`${origin}/pypi/simple/`);
  assert.equal(index.status, 200);
  assert.match(await index.text(), /cirata-symphony/);
  const libraries = await (await fetch(`${origin}/api/v1/libraries`)).json();
  for (const lib of libraries) {
    const link = page.getByTestId(`download-${lib.language}`).getByRole("link", { name: lib.file });
    assert.equal(await link.getAttribute("href"), lib.url);
  }
  await shot(page, "06-libraries");

  await openPlatformPage(page, "Swagger", "/platform/swagger");
  assert.equal(await page.getByTestId("swagger-open").getAttribute("href"), "/help/access/swagger");
  assert.equal(await page.getByTestId("openapi-json").getAttribute("href"), "/api/v1/openapi.json");
  const frame = page.frameLocator('[data-testid="swagger-frame"]');
  await frame.locator(".swagger-ui .info .title").filter({ hasText: "Symphony" }).waitFor({ timeout: STARTUP_MS });
  await frame.getByText("/api/v1/extensions/all").first().waitFor();
  await shot(page, "07-swagger");

  assert.deepEqual(page.pageErrors.map(String), []);
  await page.context().close();
});

test("Users and Roles: create a user, duplicate refused, edit roles, delete, disable; phone width, dark theme", { timeout: 120_000 }, async () => {
  const page = await platform.signedInPage();
  await openPlatformPage(page, "Users and Roles", "/platform/users");
  const form = page.getByTestId("create-user-form");
  await form.getByLabel("Username", { exact: true }).fill("operator1");
  await form.getByLabel("Display name (optional)", { exact: true }).fill("Operator One");
  await form.getByLabel("Initial password", { exact: true }).fill("operator-Pa55word");
  await form.getByRole("checkbox", { name: "developer" }).check();
  await form.getByTestId("create-user").click();
  const row = page.getByTestId("user-operator1");
  await row.waitFor();
  const text = await row.innerText();
  assert.match(text, /Operator One/);
  assert.match(text, /viewer/);
  assert.match(text, /developer/);
  assert.equal(await row.getByTestId("user-status").innerText(), "Active");

  // The same name again: the server's message is shown in the form.
  await form.getByLabel("Username", { exact: true }).fill("operator1");
  await form.getByLabel("Initial password", { exact: true }).fill("operator-Pa55word");
  await form.getByTestId("create-user").click();
  await form.getByTestId("form-error").filter({ hasText: "exists" }).waitFor();

  // Roles are listed with what they grant.
  assert.match(await page.getByTestId("role-viewer").innerText(), /extensions\.>/);

  // Edit roles: drop developer.
  await row.getByRole("button", { name: "Edit" }).click();
  const editor = page.getByTestId("edit-user-form");
  await editor.getByRole("checkbox", { name: "developer" }).uncheck();
  await editor.getByRole("button", { name: "Save" }).click();
  await editor.waitFor({ state: "detached" });
  await page.waitForFunction(() => !document.querySelector('[data-testid="user-operator1"]')?.textContent?.includes("developer"));
  assert.match(await row.innerText(), /viewer/);

  // Delete another user, with confirmation.
  await form.getByLabel("Username", { exact: true }).fill("temp-user");
  await form.getByLabel("Initial password", { exact: true }).fill("temporary-Pa55word");
  await form.getByTestId("create-user").click();
  const temp = page.getByTestId("user-temp-user");
  await temp.getByRole("button", { name: "Delete" }).click();
  const confirm = page.getByTestId("delete-confirm");
  assert.match(await confirm.innerText(), /temp-user/);
  await confirm.getByRole("button", { name: "Yes, delete" }).click();
  await temp.waitFor({ state: "detached" });
  assert.equal(await page.getByTestId("user-admin").getByRole("button", { name: "Delete" }).count(), 0, "no deleting yourself");

  // Disable, and the new user can no longer sign in.
  await row.getByRole("button", { name: "Disable" }).click();
  await row.getByTestId("user-status").filter({ hasText: "Disabled" }).waitFor();
  const login = await fetch(`${origin}/api/v1/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: "operator1", password: "operator-Pa55word" }),
  });
  assert.notEqual(login.status, 200, "a disabled user cannot sign in");
  await shot(page, "08-users");
  assert.deepEqual(page.pageErrors.map(String), []);
  await page.context().close();

  // Phone width, dark theme: nothing but the table wrappers scrolls sideways.
  const phone = await platform.signedInPage({ width: 390, height: 844, colorScheme: "dark" });
  assert.equal(await phone.locator("html").getAttribute("data-theme"), "dark");
  for (const [urlPath, name] of [
    ["/platform/keys", "09-phone-keys"],
    ["/platform/extensions", "10-phone-extensions"],
    ["/platform/libraries", "11-phone-libraries"],
    ["/platform/users", "12-phone-users"],
  ]) {
    await phone.goto(`${origin}${urlPath}`);
    await phone.locator(".bi-page").first().waitFor();
    await phone.getByText("Loading…").first().waitFor({ state: "detached" }).catch(() => {});
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `${urlPath} is ${overflow}px wider than the phone screen`);
    const content = await phone.evaluate(() => {
      const el = document.querySelector(".content");
      return el ? el.scrollWidth - el.clientWidth : 0;
    });
    assert.ok(content <= 0, `${urlPath}: the content area scrolls sideways by ${content}px`);
    await shot(phone, name);
  }
  assert.deepEqual(phone.pageErrors.map(String), []);
  await phone.context().close();
});
