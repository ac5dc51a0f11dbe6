// An extension frame (docs/ui.md "Trust"): an iframe of `/frame` on the UI sandbox origin, sandboxed without
// `allow-same-origin`, into which the shell posts the page once the frame says it is ready. The frame starts
// loading at once, side by side with the extension's scoped credentials; the page is posted when both are there.
// Messages count only when they come from this iframe's window; everything posted to it goes to `*` (its origin
// is opaque, so no other target origin can name it).
import { useEffect, useRef, useState, type CSSProperties, type RefObject } from "react";
import type { ScopedToken } from "../generated/contract";
import { useShell } from "../shellContext";
import { onScopedToken, scopedToken } from "../symphony/connection";
import { FRAME_SANDBOX, frameSrc, sandboxOrigin } from "./frames";

export interface SandboxFrameProps {
  prefix: string;
  /** `data-kind` of the iframe (html, html+symphony, htmx, mcp-app, jsx). */
  kind: string;
  title: string;
  className: string;
  style?: CSSProperties;
  /** Whether the page needs the extension's scoped credentials (bridge, htmx and JSX pages do). */
  needsToken: boolean;
  /** The document to post, given the credentials (`null` when not needed). Called once per frame load. */
  build: (token: ScopedToken | null) => string;
  /** A message from the page (anything but the frame host's own). */
  onMessage: (data: unknown, win: Window) => void;
  /** Renewed credentials, to pass on to the page. */
  onToken?: (token: ScopedToken, win: Window) => void;
  /** The iframe element (to post theme changes and the like to its window). */
  iframeRef: RefObject<HTMLIFrameElement | null>;
}

export function SandboxFrame(props: SandboxFrameProps) {
  const { info } = useShell();
  const origin = sandboxOrigin(info);
  const frame = props.iframeRef;
  const latest = useRef(props);
  latest.current = props;
  const { prefix, needsToken } = props;
  const [token, setToken] = useState<ScopedToken | null | undefined>(needsToken ? undefined : null);
  const [error, setError] = useState<string | null>(null);
  const [hostReady, setHostReady] = useState(false);
  const posted = useRef(false);

  // Credentials, in parallel with the frame's own load: asked for while rendering (the request is shared by every
  // frame of the extension), so it starts with the iframe rather than after the first paint.
  useState(() => needsToken && void scopedToken(prefix).catch(() => {}));
  useEffect(() => {
    if (!needsToken) return;
    let cancelled = false;
    scopedToken(prefix).then(
      (t) => !cancelled && setToken(t),
      (e: Error) => !cancelled && setError(e.message),
    );
    const unsubscribe = onScopedToken(prefix, (t) => {
      const win = frame.current?.contentWindow;
      if (win && posted.current) latest.current.onToken?.(t, win);
    });
    return () => {
      cancelled = true;
      unsubscribe();
    };
  }, [prefix, needsToken, frame]);

  // The host's "ready", then the page's own messages.
  useEffect(() => {
    const onMessage = (event: MessageEvent) => {
      const win = frame.current?.contentWindow;
      if (!win || event.source !== win) return;
      const m = event.data as { symphony_host?: number; type?: string } | null;
      if (m && m.symphony_host === 1) {
        if (m.type === "ready" && !posted.current) setHostReady(true);
        return;
      }
      latest.current.onMessage(event.data, win);
    };
    window.addEventListener("message", onMessage);
    return () => window.removeEventListener("message", onMessage);
  }, [frame]);

  useEffect(() => {
    const win = frame.current?.contentWindow;
    if (!hostReady || token === undefined || posted.current || !win) return;
    posted.current = true;
    let html: string;
    try {
      html = latest.current.build(token);
    } catch (e) {
      setError((e as Error).message);
      return;
    }
    win.postMessage({ symphony_host: 1, type: "render", html }, "*");
  }, [hostReady, token, frame]);

  if (!origin) {
    return (
      <div className="card card-error" role="alert" data-testid="frame-error">
        <h3>Cannot show this page</h3>
        <p>{info ? "This server has no UI sandbox origin for extension pages." : "Loading…"}</p>
      </div>
    );
  }
  if (error) {
    return (
      <div className="card card-error" role="alert" data-testid="frame-error">
        <h3>
          <i className="fa-solid fa-triangle-exclamation" /> Cannot show {props.title}
        </h3>
        <pre className="error-text">{error}</pre>
      </div>
    );
  }
  return (
    <iframe
      ref={frame}
      className={props.className}
      title={props.title}
      data-testid="extension-frame"
      data-kind={props.kind}
      data-prefix={prefix}
      sandbox={FRAME_SANDBOX}
      src={frameSrc(origin)}
      referrerPolicy="no-referrer"
      style={props.style}
    />
  );
}
