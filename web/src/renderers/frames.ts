// The documents the shell puts into extension frames (docs/protocol.md §11.3): `text/html` as-is,
// `text/html+symphony` with the bridge injected, `text/html+htmx` as a generated shell around the extension's
// JSON config, `text/html;profile=mcp-app` as-is (it speaks MCP's JSON-RPC over postMessage), and
// `text/symphony-jsx` as a host document that imports the transpiled page (`jsxDocument`).
//
// Every frame loads `/frame` from the UI sandbox origin (another origin than the shell's) with
// `sandbox` but never `allow-same-origin`: its origin is opaque, so it shares nothing with the shell or with
// another extension's frame. The shell then posts the document built here into it (docs/ui.md "Trust").
import type { SymphonyInfo, UserInfo } from "../api";
import type { Theme } from "../theme";

export interface FrameBoot {
  theme: Theme;
  /** The frame's scoped bearer: only its extension's gateway routes accept it. */
  token: string | null;
  user: UserInfo;
  info: SymphonyInfo | null;
  prefix: string;
  /** The shell's origin: the only one the frame takes messages from and posts to. */
  parentOrigin: string;
}

/** The `sandbox` flags of every extension frame: never `allow-same-origin` (crates/server/src/ui/sandbox.rs). */
export const FRAME_SANDBOX = "allow-scripts allow-forms allow-popups";

/** The UI sandbox origin of this server, or `null` when it has none (a server older than the shell). */
export function sandboxOrigin(info: SymphonyInfo | null): string | null {
  return info?.ui_sandbox_origin?.replace(/\/+$/, "") || null;
}

/** The frame host document on the sandbox origin, told which origin its parent (this shell) has. */
export function frameSrc(origin: string): string {
  return `${origin}/frame?parent=${encodeURIComponent(window.location.origin)}`;
}

/** JSON safe inside a `<script>` element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

function attr(value: string): string {
  return value.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function bootScripts(boot: FrameBoot): string {
  const data = { theme: boot.theme, token: boot.token, user: boot.user, info: boot.info, prefix: boot.prefix, parentOrigin: boot.parentOrigin };
  return `<script>window.__SYMPHONY__=${scriptJson(data)};</script><script src="/vendor/symphony-bridge.js"></script>`;
}

/** Light and dark defaults for generated pages; extension CSS may override them. */
const FRAME_CSS = `
:root{color-scheme:light;--fg:#1c2330;--bg:#ffffff;--muted:#5d6778;--border:#d9dde5;--accent:#3557d6}
html[data-theme=dark]{color-scheme:dark;--fg:#e6e9ef;--bg:#1b1f27;--muted:#9aa4b5;--border:#2f3643;--accent:#7d97ff}
body{margin:0;padding:1rem;font-family:system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--accent)}table{border-collapse:collapse}td,th{border:1px solid var(--border);padding:.3rem .6rem}
.htmx-indicator{opacity:0}.htmx-request .htmx-indicator,.htmx-request.htmx-indicator{opacity:1}`;

export interface HtmxConfig {
  entry: string;
}

/** Parses an htmx resource's JSON config (`{"entry":"pages/home"}`); the entry must be a relative path. */
export function parseHtmxConfig(content: string): HtmxConfig {
  let config: unknown;
  try {
    config = JSON.parse(content);
  } catch (e) {
    throw new Error(`the htmx resource is not JSON: ${(e as Error).message}`);
  }
  const entry = (config as { entry?: unknown } | null)?.entry;
  if (typeof entry !== "string" || !entry.trim()) throw new Error('the htmx config needs "entry": the page to load first, e.g. "pages/home"');
  if (/^[a-z][a-z0-9+.-]*:/i.test(entry) || entry.startsWith("//") || entry.startsWith("/") || entry.split("/").includes("..")) {
    throw new Error(`the htmx entry "${entry}" must be a path relative to /api/v1/extension/<prefix>/`);
  }
  return { entry };
}

/** The generated htmx shell: htmx, the bridge, `<base>` at the extension's API, bearer on every request. */
export function htmxDocument(config: HtmxConfig, boot: FrameBoot): string {
  const base = `/api/v1/extension/${encodeURIComponent(boot.prefix)}/`;
  return `<!doctype html>
<html lang="en" data-theme="${boot.theme}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<base href="${attr(base)}">
<link rel="stylesheet" href="/vendor/fontawesome/css/all.min.css">
<style>${FRAME_CSS}</style>
${bootScripts(boot)}
<script src="/vendor/htmx.min.js"></script>
</head>
<body>
<main id="symphony-htmx-root" hx-get="${attr(config.entry)}" hx-trigger="load" hx-swap="innerHTML"><p class="htmx-indicator">Loading…</p></main>
</body>
</html>`;
}

/** A `text/html+symphony` page with the bridge injected at the top of its `<head>`. */
export function symphonyDocument(html: string, boot: FrameBoot): string {
  const inject = `${bootScripts(boot)}<script>document.documentElement.setAttribute("data-theme", ${scriptJson(boot.theme)});</script>`;
  const head = /<head(\s[^>]*)?>/i.exec(html);
  if (head) return html.slice(0, head.index + head[0].length) + inject + html.slice(head.index + head[0].length);
  const root = /<html(\s[^>]*)?>/i.exec(html);
  if (root) return html.slice(0, root.index + root[0].length) + `<head>${inject}</head>` + html.slice(root.index + root[0].length);
  return inject + html;
}

export interface JsxBoot extends FrameBoot {
  /** The page module on the sandbox origin (`/ui/module/<token>/<prefix>/<name>?v=<hash>`). */
  module: string;
  /** The resource URI, for error messages. */
  uri: string;
  extension: { prefix: string; name: string };
  path: string;
  /** NATS credentials limited to the extension's subjects. */
  nats: { jwt: string; seed: string; websocket_url: string | null; inbox_prefix: string } | null;
  /** The stylesheets of the shell (its own build's, under /assets/), so pages look like the shell. */
  styles: string[];
  /** Whether the frame is a dashboard widget (it cannot retitle the page). */
  widget: boolean;
}

/** Bare specifiers of JSX pages inside a frame: the vendored modules on the sandbox origin, and the extension
 * modules behind the frame's scoped token (module imports cannot send headers). */
function importMap(token: string): string {
  const t = encodeURIComponent(token);
  return scriptJson({
    imports: {
      react: "/vendor/react.js",
      "react/jsx-runtime": "/vendor/react-jsx-runtime.js",
      "react/jsx-dev-runtime": "/vendor/react-jsx-runtime.js",
      "react-dom": "/vendor/react-dom.js",
      "react-dom/client": "/vendor/react-dom-client.js",
      "@symphony": "/vendor/symphony.js",
      "@symphony/extension/": `/ui/module/${t}/`,
      "@nats-io/nats-core": "/vendor/nats-core.js",
      "@nats-io/kv": "/vendor/kv.js",
      marked: "/vendor/marked.js",
      dompurify: "/vendor/dompurify.js",
    },
  });
}

/** The module URL of a JSX resource on the sandbox origin, cache-busted by the content hash. */
export function sandboxModuleUrl(token: string, prefix: string, uri: string, hash: string): string {
  const name = uri.replace(/^ui:\/\/[^/]+\//, "");
  const path = name.split("/").map(encodeURIComponent).join("/");
  return `/ui/module/${encodeURIComponent(token)}/${encodeURIComponent(prefix)}/${path}?v=${hash}`;
}

/** The host document of a `text/symphony-jsx` page: the shell's styles, the import map, the boot data and the
 * frame runtime (`/vendor/symphony-frame.js`, web/src/vendor/symphony-frame.ts), which connects NATS with the
 * scoped credentials, imports the page and renders it inside `SymphonyContext`. */
export function jsxDocument(boot: JsxBoot): string {
  const styles = boot.styles.map((href) => `<link rel="stylesheet" href="${attr(href)}">`).join("");
  return `<!doctype html>
<html lang="en" data-theme="${boot.theme}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/vendor/fontawesome/css/all.min.css">
${styles}
<style>html,body,#root{height:auto;min-height:0}body{background:transparent;overflow-y:hidden}</style>
<script type="importmap">${importMap(boot.token ?? "")}</script>
<script>window.__SYMPHONY__=${scriptJson(boot)};</script>
<link rel="modulepreload" href="/vendor/symphony-frame.js">
<link rel="modulepreload" href="/vendor/react.js">
<link rel="modulepreload" href="/vendor/react-jsx-runtime.js">
<link rel="modulepreload" href="/vendor/symphony.js">
</head>
<body>
<div id="root"></div>
<script type="module" src="/vendor/symphony-frame.js"></script>
</body>
</html>`;
}
