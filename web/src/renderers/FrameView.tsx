// Extension HTML in sandboxed iframes: `text/html` (theme by postMessage), `text/html+symphony` (the bridge:
// NATS request/publish under the user's permissions, navigation, title, theme), `text/html+htmx` (a generated
// shell, see frames.ts) and `text/html;profile=mcp-app` (a minimal MCP Apps host). The iframe document is built
// once per content change; theme and token changes are posted to it, so it never reloads for them.
import { useEffect, useMemo, useRef, useState } from "react";
import type { SymphonyInfo, UserInfo } from "../api";
import { navigate } from "../router";
import { useShell } from "../shellContext";
import { natsConnection, natsConnectionError, onUserToken, userToken } from "../symphony/connection";
import { titleMeta, type TitleSpec } from "../symphony/context";
import type { Theme } from "../theme";
import { htmxDocument, parseHtmxConfig, sandboxFor, symphonyDocument, type FrameBoot } from "./frames";
import type { FrameKind, RendererProps } from "./ResourceView";

interface Props extends RendererProps {
  kind: FrameKind;
}

/** Kinds whose document carries the bridge (and so the bearer token). */
const BRIDGED: FrameKind[] = ["html+symphony", "htmx"];

export default function FrameView({ resource, extension, kind, setMeta }: Props) {
  const { theme, user, info } = useShell();
  const frame = useRef<HTMLIFrameElement>(null);
  const themeRef = useRef<Theme>(theme);
  themeRef.current = theme;
  const bridged = BRIDGED.includes(kind);
  const [token, setToken] = useState<string | null | undefined>(bridged ? undefined : null);
  const [tokenError, setTokenError] = useState<string | null>(null);
  const [height, setHeight] = useState<number | null>(null);

  // The bearer for htmx/bridge pages: needed before the document is built (the first htmx request carries it).
  useEffect(() => {
    if (!bridged) return;
    let cancelled = false;
    userToken().then(
      (t) => !cancelled && setToken(t.token ?? null),
      (e: Error) => {
        if (cancelled) return;
        setTokenError(e.message);
        setToken(null);
      },
    );
    return () => {
      cancelled = true;
    };
  }, [bridged]);

  const built = useMemo((): { doc: string } | { error: string } | null => {
    if (token === undefined) return null;
    const boot: FrameBoot = { theme: themeRef.current, token, user, info, prefix: extension.prefix };
    try {
      switch (kind) {
        case "htmx":
          return { doc: htmxDocument(parseHtmxConfig(resource.content), boot) };
        case "html+symphony":
          return { doc: symphonyDocument(resource.content, boot) };
        default:
          return { doc: resource.content };
      }
    } catch (e) {
      return { error: (e as Error).message };
    }
    // The document is rebuilt only when the content changes (or the first token arrives), never for the theme.
  }, [resource.content, kind, token === undefined, extension.prefix]);

  // Theme changes reach the iframe by postMessage.
  useEffect(() => {
    const win = frame.current?.contentWindow;
    if (!win) return;
    if (kind === "mcp-app") {
      win.postMessage({ jsonrpc: "2.0", method: "ui/notifications/host-context-changed", params: { theme } }, "*");
    } else {
      win.postMessage({ symphony_bridge: 1, type: "theme", theme }, window.location.origin);
    }
  }, [theme, kind]);

  // Renewed bearer tokens follow into bridged iframes.
  useEffect(() => {
    if (!bridged) return;
    return onUserToken((t) => {
      frame.current?.contentWindow?.postMessage({ symphony_bridge: 1, type: "token", token: t.token ?? null }, window.location.origin);
    });
  }, [bridged]);

  // Messages from the iframe: the bridge protocol, or MCP JSON-RPC for mcp-app.
  useEffect(() => {
    const onMessage = (event: MessageEvent) => {
      const win = frame.current?.contentWindow;
      if (!win || event.source !== win) return;
      if (kind === "mcp-app") {
        handleMcp(event.data, win, { theme: themeRef.current, info, setHeight });
        return;
      }
      const m = event.data as BridgeMessage | null;
      if (!m || m.symphony_bridge !== 1 || !bridged) return;
      void handleBridge(m, win, { theme: themeRef.current, user, info, setMeta });
    };
    window.addEventListener("message", onMessage);
    return () => window.removeEventListener("message", onMessage);
  }, [kind, bridged, user, info, setMeta]);

  if (tokenError && bridged) {
    return (
      <div className="card card-error" role="alert" data-testid="frame-error">
        <h3>Cannot show {resource.uri}</h3>
        <p>Browser credentials are unavailable: {tokenError}</p>
      </div>
    );
  }
  if (!built) return <p className="muted">Loading {resource.uri}…</p>;
  if ("error" in built) {
    return (
      <div className="card card-error" role="alert" data-testid="frame-error">
        <h3>
          <i className="fa-solid fa-triangle-exclamation" /> Cannot show <code>{resource.uri}</code>
        </h3>
        <pre className="error-text">{built.error}</pre>
      </div>
    );
  }
  return (
    <iframe
      ref={frame}
      className={setMeta ? "extension-frame" : "extension-frame widget-frame"}
      title={`${extension.name}: ${resource.uri}`}
      data-testid="extension-frame"
      data-kind={kind}
      sandbox={sandboxFor(kind)}
      srcDoc={built.doc}
      style={height ? { height } : undefined}
    />
  );
}

interface BridgeMessage {
  symphony_bridge: 1;
  type: "ready" | "request" | "publish" | "navigate" | "setTitle";
  id?: number;
  subject?: string;
  data?: string;
  timeout?: number;
  path?: string;
  title?: TitleSpec;
}

interface BridgeEnv {
  theme: Theme;
  user: UserInfo;
  info: SymphonyInfo | null;
  setMeta?: RendererProps["setMeta"];
}

async function handleBridge(m: BridgeMessage, win: Window, env: BridgeEnv): Promise<void> {
  const reply = (body: Record<string, unknown>) => win.postMessage({ symphony_bridge: 1, type: "reply", id: m.id, ...body }, window.location.origin);
  switch (m.type) {
    case "ready": {
      const token = await userToken().then((t) => t.token ?? null, () => null);
      win.postMessage({ symphony_bridge: 1, type: "init", theme: env.theme, token, user: env.user, info: env.info }, window.location.origin);
      return;
    }
    case "navigate":
      if (typeof m.path === "string" && m.path.startsWith("/")) navigate(m.path);
      return;
    case "setTitle":
      if (m.title !== undefined) env.setMeta?.(titleMeta(m.title));
      return;
    case "request":
    case "publish": {
      const nc = await natsConnection();
      if (!nc) {
        reply({ error: natsConnectionError() ?? "no NATS connection", code: "nats_unavailable" });
        return;
      }
      try {
        if (m.type === "publish") {
          nc.publish(String(m.subject), m.data ?? "");
          await nc.flush();
          reply({ data: "" });
        } else {
          const msg = await nc.request(String(m.subject), m.data ?? "", { timeout: Math.min(Math.max(m.timeout ?? 5000, 1), 60_000) });
          reply({ data: new TextDecoder().decode(msg.data) });
        }
      } catch (e) {
        reply({ error: (e as Error).message, code: "nats_error" });
      }
      return;
    }
  }
}

interface McpEnv {
  theme: Theme;
  info: SymphonyInfo | null;
  setHeight: (h: number) => void;
}

/** A minimal MCP Apps host: initialize, open-link, size changes; everything else is "not supported". */
function handleMcp(data: unknown, win: Window, env: McpEnv): void {
  const m = data as { jsonrpc?: string; id?: number | string; method?: string; params?: Record<string, unknown> } | null;
  if (!m || m.jsonrpc !== "2.0" || typeof m.method !== "string") return;
  const respond = (body: Record<string, unknown>) => {
    if (m.id !== undefined) win.postMessage({ jsonrpc: "2.0", id: m.id, ...body }, "*");
  };
  switch (m.method) {
    case "ui/initialize":
      respond({
        result: {
          protocolVersion: typeof m.params?.protocolVersion === "string" ? m.params.protocolVersion : "2025-06-18",
          hostCapabilities: { openLinks: {} },
          hostInfo: { name: env.info?.name ?? "Symphony", version: env.info?.version ?? "" },
          hostContext: { theme: env.theme, displayMode: "inline", platform: "web" },
        },
      });
      return;
    case "ui/notifications/initialized":
      return;
    case "ui/notifications/size-changed": {
      const h = Number(m.params?.height);
      if (Number.isFinite(h) && h > 0) env.setHeight(Math.min(h, 4000));
      return;
    }
    case "ui/open-link": {
      const url = String(m.params?.url ?? "");
      if (/^https?:\/\//i.test(url)) {
        window.open(url, "_blank", "noopener,noreferrer");
        respond({ result: {} });
      } else {
        respond({ error: { code: -32602, message: "only http(s) links can be opened" } });
      }
      return;
    }
    default:
      respond({ error: { code: -32601, message: `${m.method} is not supported by this host` } });
  }
}
