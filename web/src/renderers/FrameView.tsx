// Extension HTML in frames on the UI sandbox origin (SandboxFrame, docs/ui.md "Trust"): `text/html` (theme by
// postMessage), `text/html+symphony` (the bridge: NATS request/publish on the extension's own subjects, navigation,
// title, theme), `text/html+htmx` (a generated shell, see frames.ts) and `text/html;profile=mcp-app` (a minimal
// MCP Apps host). The frame is loaded once per content change; theme and token changes are posted to it, so it
// never reloads for them. Bridge and htmx pages get the extension's scoped bearer, never the session's.
import { useEffect, useRef, useState } from "react";
import type { SymphonyInfo, UserInfo } from "../api";
import type { ScopedToken } from "../generated/contract";
import { navigate } from "../router";
import { useShell } from "../shellContext";
import { natsConnection, natsConnectionError } from "../symphony/connection";
import { titleMeta, type TitleSpec } from "../symphony/context";
import type { Theme } from "../theme";
import { htmxDocument, parseHtmxConfig, symphonyDocument, type FrameBoot } from "./frames";
import { contentHash, isShellPath, safePageMeta, type FrameKind, type RendererProps } from "./ResourceView";
import { SandboxFrame } from "./SandboxFrame";

interface Props extends RendererProps {
  kind: FrameKind;
}

/** Kinds whose document carries the bridge (and so the extension's scoped bearer). */
const BRIDGED: FrameKind[] = ["html+symphony", "htmx"];

export default function FrameView(props: Props) {
  // A new frame for new content (the old one may hold state of the old page).
  return <Frame key={contentHash(props.resource.content)} {...props} />;
}

function Frame({ resource, extension, kind, setMeta }: Props) {
  const { theme, user, info } = useShell();
  const frame = useRef<HTMLIFrameElement>(null);
  const themeRef = useRef<Theme>(theme);
  themeRef.current = theme;
  const tokenRef = useRef<string | null>(null);
  const bridged = BRIDGED.includes(kind);
  const [height, setHeight] = useState<number | null>(null);
  const [configError, setConfigError] = useState<string | null>(null);
  const prefix = extension.prefix;

  // An htmx config that cannot work is shown before any frame loads.
  useEffect(() => {
    if (kind !== "htmx") return setConfigError(null);
    try {
      parseHtmxConfig(resource.content);
      setConfigError(null);
    } catch (e) {
      setConfigError((e as Error).message);
    }
  }, [kind, resource.content]);

  const build = (token: ScopedToken | null): string => {
    tokenRef.current = token?.token ?? null;
    const boot: FrameBoot = { theme: themeRef.current, token: tokenRef.current, user, info, prefix, parentOrigin: window.location.origin };
    switch (kind) {
      case "htmx":
        return htmxDocument(parseHtmxConfig(resource.content), boot);
      case "html+symphony":
        return symphonyDocument(resource.content, boot);
      default:
        return resource.content;
    }
  };

  // Theme changes reach the frame by postMessage.
  useEffect(() => {
    const win = frame.current?.contentWindow;
    if (!win) return;
    if (kind === "mcp-app") {
      win.postMessage({ jsonrpc: "2.0", method: "ui/notifications/host-context-changed", params: { theme } }, "*");
    } else {
      win.postMessage({ symphony_bridge: 1, type: "theme", theme }, "*");
    }
  }, [theme, kind]);

  const onMessage = (data: unknown, win: Window) => {
    if (kind === "mcp-app") {
      handleMcp(data, win, { theme: themeRef.current, info, setHeight });
      return;
    }
    const m = data as BridgeMessage | null;
    if (!m || m.symphony_bridge !== 1 || !bridged) return;
    void handleBridge(m, win, { theme: themeRef.current, token: tokenRef.current, user, info, prefix, setMeta });
  };

  const onToken = (t: ScopedToken, win: Window) => {
    tokenRef.current = t.token;
    if (bridged) win.postMessage({ symphony_bridge: 1, type: "token", token: t.token }, "*");
  };

  if (configError) {
    return (
      <div className="card card-error" role="alert" data-testid="frame-error">
        <h3>
          <i className="fa-solid fa-triangle-exclamation" /> Cannot show <code>{resource.uri}</code>
        </h3>
        <pre className="error-text">{configError}</pre>
      </div>
    );
  }
  return (
    <SandboxFrame
      iframeRef={frame}
      prefix={prefix}
      kind={kind}
      title={`${extension.name}: ${resource.uri}`}
      className={setMeta ? "extension-frame" : "extension-frame widget-frame"}
      style={height ? { height } : undefined}
      needsToken={bridged}
      build={build}
      onMessage={onMessage}
      onToken={onToken}
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
  token: string | null;
  user: UserInfo;
  info: SymphonyInfo | null;
  prefix: string;
  setMeta?: RendererProps["setMeta"];
}

/** Whether a bridge page may request or publish `subject`: only its own extension's endpoints
 * (`cirata.extensions.<prefix>.…`); the user's roles then apply on the user's connection. */
export function withinExtension(prefix: string, subject: string): boolean {
  const own = `cirata.extensions.${prefix}.`;
  return subject.startsWith(own) && subject.length > own.length && !/[\s*>]/.test(subject);
}

async function handleBridge(m: BridgeMessage, win: Window, env: BridgeEnv): Promise<void> {
  const reply = (body: Record<string, unknown>) => win.postMessage({ symphony_bridge: 1, type: "reply", id: m.id, ...body }, "*");
  switch (m.type) {
    case "ready":
      win.postMessage({ symphony_bridge: 1, type: "init", theme: env.theme, token: env.token, user: env.user, info: env.info }, "*");
      return;
    case "navigate":
      if (isShellPath(m.path)) navigate(m.path);
      return;
    case "setTitle": {
      const meta = m.title === undefined ? null : safePageMeta(titleMeta(m.title));
      if (meta) env.setMeta?.(meta);
      return;
    }
    case "request":
    case "publish": {
      if (!withinExtension(env.prefix, String(m.subject))) {
        reply({ error: `a page of ${env.prefix} may only reach cirata.extensions.${env.prefix}.…, not ${String(m.subject)}`, code: "forbidden" });
        return;
      }
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
