// The runtime of a `text/symphony-jsx` page inside its frame (served as /vendor/symphony-frame.js from the UI
// sandbox origin; the document around it is `jsxDocument` in renderers/frames.ts; docs/ui.md "Trust").
//
// The page runs in an opaque origin: it cannot read the shell's cookies or storage, reach the shell's document, or
// call the platform API. What it gets is `SymphonyContext` with credentials scoped to its extension: `nc`, a NATS
// connection (over the WebSocket) whose permissions are the user's roles narrowed to the extension's subjects. The
// shell talks to this runtime by postMessage — only messages from the parent window at the shell's origin count —
// and this runtime asks the shell to retitle the page or navigate.
//
// This module is small on purpose: it starts the NATS connection and the page's module at once, while React and
// the rendering code (frame-ui.tsx, a chunk of its own) load side by side.
import type { NatsConnection } from "@nats-io/nats-core";
import type { JsxBoot } from "../renderers/frames";
import type { Theme } from "../theme";
import type { FrameEnv, FrameProps, ModuleFailure } from "./frame-ui";

declare global {
  interface Window {
    __SYMPHONY__?: JsxBoot;
  }
}

const boot = window.__SYMPHONY__ as JsxBoot;
const parentOrigin = boot.parentOrigin;
const creds: { jwt?: string; seed?: string; websocket_url?: string | null; inbox_prefix?: string; token: string | null } = {
  ...(boot.nats ?? {}),
  token: boot.token,
};

function post(message: Record<string, unknown>): void {
  window.parent.postMessage({ symphony_bridge: 1, ...message }, parentOrigin);
}

// --- what the shell changes -------------------------------------------------------------------------------------
let props: FrameProps = { theme: boot.theme, path: boot.path };
const propListeners = new Set<(p: FrameProps) => void>();

function applyTheme(theme: Theme): void {
  document.documentElement.setAttribute("data-theme", theme);
}
applyTheme(boot.theme);

window.addEventListener("message", (event: MessageEvent) => {
  if (event.source !== window.parent || event.origin !== parentOrigin) return;
  const m = event.data as { symphony_bridge?: number; type?: string; theme?: Theme; path?: string; token?: string; jwt?: string; seed?: string } | null;
  if (!m || m.symphony_bridge !== 1) return;
  if (m.type === "theme" && (m.theme === "light" || m.theme === "dark")) {
    applyTheme(m.theme);
    props = { ...props, theme: m.theme };
    propListeners.forEach((l) => l(props));
  } else if (m.type === "path" && typeof m.path === "string") {
    props = { ...props, path: m.path };
    propListeners.forEach((l) => l(props));
  } else if (m.type === "token") {
    // Renewed scoped credentials: reconnects use them.
    if (typeof m.token === "string") creds.token = m.token;
    if (typeof m.jwt === "string") creds.jwt = m.jwt;
    if (typeof m.seed === "string") creds.seed = m.seed;
  }
});

// Links to shell paths navigate the shell, not this frame.
document.addEventListener("click", (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const a = (event.target as Element | null)?.closest?.("a");
  const href = a?.getAttribute("href");
  if (!a || !href || a.target || !href.startsWith("/") || href.startsWith("//")) return;
  event.preventDefault();
  post({ type: "navigate", path: href });
});

// The frame's height follows its content.
let lastHeight = 0;
new ResizeObserver(() => {
  const height = Math.ceil(document.documentElement.scrollHeight);
  if (height !== lastHeight) {
    lastHeight = height;
    post({ type: "size", height });
  }
}).observe(document.body);

// --- NATS -------------------------------------------------------------------------------------------------------
let natsError: string | null = null;

async function connect(): Promise<NatsConnection | undefined> {
  if (!creds.websocket_url || !creds.jwt) {
    natsError = "this platform has no NATS WebSocket listener";
    return undefined;
  }
  try {
    const { wsconnect, jwtAuthenticator } = await import("@nats-io/nats-core");
    const encoder = new TextEncoder();
    return await wsconnect({
      servers: creds.websocket_url,
      name: `symphony-ui:${boot.prefix}`,
      inboxPrefix: creds.inbox_prefix,
      authenticator: jwtAuthenticator(
        () => creds.jwt ?? "",
        () => encoder.encode(creds.seed ?? ""),
      ),
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1000,
    });
  } catch (e) {
    natsError = `cannot connect to NATS: ${(e as Error).message}`;
    return undefined;
  }
}

// --- the page module --------------------------------------------------------------------------------------------
class Reported extends Error {}

function fail(error: ModuleFailure): never {
  post({ type: "module-error", error });
  throw new Reported(error.message);
}

async function loadPage(): Promise<unknown> {
  // Fetch first to get the server's typed error (an `import()` of a failing URL only says "failed to fetch").
  let response: Response;
  try {
    response = await fetch(boot.module);
  } catch (e) {
    fail({ code: "network", message: `cannot reach the server: ${(e as Error).message}` });
  }
  if (!response.ok) {
    const body = (await response.json().catch(() => ({}))) as Partial<ModuleFailure>;
    fail({ code: body.code ?? `http_${response.status}`, message: body.message ?? response.statusText, hint: body.hint, location: body.location });
  }
  const module = (await import(/* @vite-ignore */ boot.module)) as Record<string, unknown>;
  const Page = module.default;
  if (typeof Page !== "function" && (typeof Page !== "object" || Page === null)) {
    fail({ code: "no_default_export", message: `${boot.uri} has no default export (a React component)` });
  }
  return Page;
}

// The connection, the page and the rendering code load side by side; the page renders with `nc` connected (pages
// may use it in their first effect, as the seed's catalog does). The performance marks name the steps on the
// frame's own timeline (devtools, bench/ui).
const env = (): FrameEnv => ({
  boot,
  post,
  props: () => props,
  onProps: (listener) => {
    propListeners.add(listener);
    return () => void propListeners.delete(listener);
  },
  natsError: () => natsError,
});
Promise.all([
  import("./frame-ui"),
  loadPage().finally(() => performance.mark("symphony:page-imported")),
  connect().finally(() => performance.mark("symphony:nats-connected")),
]).then(
  ([ui, Page, nc]) => {
    ui.render(document.getElementById("root")!, Page as Parameters<typeof ui.render>[1], nc, env());
    performance.mark("symphony:rendered");
    post({ type: "rendered" });
  },
  (e: Error) => {
    if (!(e instanceof Reported)) post({ type: "module-error", error: { code: "import_failed", message: e.message } });
  },
);
