// The documents the shell puts into sandboxed iframes (docs/protocol.md §11.3): `text/html` as-is,
// `text/html+symphony` with the bridge injected, `text/html+htmx` as a generated shell around the extension's
// JSON config, `text/html;profile=mcp-app` as-is (it speaks MCP's JSON-RPC over postMessage).
import type { SymphonyInfo, UserInfo } from "../api";
import type { Theme } from "../theme";
import type { FrameKind } from "./ResourceView";

export interface FrameBoot {
  theme: Theme;
  token: string | null;
  user: UserInfo;
  info: SymphonyInfo | null;
  prefix: string;
}

/** Sandbox flags per kind: extension HTML shares the origin (cookies, /vendor); MCP apps are opaque. */
export function sandboxFor(kind: FrameKind): string {
  return kind === "mcp-app" ? "allow-scripts allow-forms" : "allow-scripts allow-same-origin allow-forms";
}

/** JSON safe inside a `<script>` element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

function attr(value: string): string {
  return value.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function bootScripts(boot: FrameBoot): string {
  return `<script>window.__SYMPHONY__=${scriptJson({ theme: boot.theme, token: boot.token, user: boot.user, info: boot.info, prefix: boot.prefix })};</script><script src="/vendor/symphony-bridge.js"></script>`;
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
