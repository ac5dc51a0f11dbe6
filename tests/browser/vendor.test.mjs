// The /vendor module entries extension modules import through the import map export every name of the package
// they stand for (a bundled `export *` of a CommonJS package silently exported nothing). Reads the built web/dist.
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createRequire } from "node:module";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const WEB = path.join(ROOT, "web");
const require = createRequire(path.join(WEB, "package.json"));

for (const [pkg, file] of [
  ["@nats-io/nats-core", "nats-core"],
  ["@nats-io/kv", "kv"],
]) {
  test(`/vendor/${file}.js exports every name of ${pkg}`, async () => {
    const library = await import(pathToFileURL(require.resolve(pkg)).href);
    const expected = Object.keys(library).filter((n) => n !== "default" && n !== "__esModule").sort();
    const built = await import(pathToFileURL(path.join(WEB, "dist", "vendor", `${file}.js`)).href);
    const missing = expected.filter((n) => !(n in built));
    assert.deepEqual(missing, [], `web/dist/vendor/${file}.js lacks ${missing.join(", ")}`);
    assert.ok(expected.length > 0);
    assert.equal(typeof built[expected[0]], typeof library[expected[0]]);
  });
}
