// `text/symphony-jsx`: the server transpiles the page (TSX → ES module, docs/protocol.md §11); the page runs in a
// frame on the UI sandbox origin (SandboxFrame, docs/ui.md "Trust"), never in the shell's document. The frame's
// runtime (web/src/vendor/symphony-frame.ts) imports the module through the import map of `jsxDocument`
// (frames.ts), resolving `react`, `@symphony` and `@symphony/extension/<prefix>/<name>`, connects NATS with the
// extension's scoped credentials and renders the default export inside SymphonyContext. Title, navigation and
// the frame's height come back by postMessage; a syntax error shows file, line and column here, in the shell.
import { useEffect, useRef, useState } from "react";
import type { ScopedToken } from "../generated/contract";
import { navigate } from "../router";
import { useShell } from "../shellContext";
import { jsxDocument, sandboxModuleUrl } from "./frames";
import { contentHash, isShellPath, safePageMeta, type RendererProps } from "./ResourceView";
import { SandboxFrame } from "./SandboxFrame";

interface Location {
  file: string;
  line: number;
  column: number;
}

/** The server refused to transpile a module (`jsx_syntax_error`, `resource_not_found`, …). */
export class ModuleError extends Error {
  readonly code: string;
  readonly location?: Location;
  readonly hint?: string;

  constructor(code: string, message: string, location?: Location, hint?: string) {
    super(message);
    this.name = "ModuleError";
    this.code = code;
    this.location = location;
    this.hint = hint;
  }
}

/** The stylesheets of the shell's own build, for the page inside the frame to look like the shell. */
function shellStyles(): string[] {
  return Array.from(document.querySelectorAll<HTMLLinkElement>('link[rel="stylesheet"]'))
    .map((l) => l.getAttribute("href") ?? "")
    .filter((href) => href.startsWith("/assets/"));
}

interface JsxMessage {
  symphony_bridge?: number;
  type?: string;
  path?: string;
  title?: unknown;
  height?: number;
  error?: { code?: string; message?: string; hint?: string; location?: Location };
}

export default function JsxView(props: RendererProps) {
  // A new frame for new content: `update_resource()` replaces the page without reloading the shell.
  return <JsxFrame key={contentHash(props.resource.content)} {...props} />;
}

function JsxFrame({ resource, extension, path, setMeta }: RendererProps) {
  const { info, user, theme } = useShell();
  const frame = useRef<HTMLIFrameElement>(null);
  const themeRef = useRef(theme);
  themeRef.current = theme;
  const pathRef = useRef(path);
  pathRef.current = path;
  const [height, setHeight] = useState<number | null>(null);
  const [failure, setFailure] = useState<ModuleError | null>(null);
  const widget = !setMeta;

  const build = (token: ScopedToken | null): string => {
    const t = token?.token ?? "";
    return jsxDocument({
      theme: themeRef.current,
      token: t,
      user,
      info,
      prefix: extension.prefix,
      parentOrigin: window.location.origin,
      module: sandboxModuleUrl(t, extension.prefix, resource.uri, contentHash(resource.content)),
      uri: resource.uri,
      extension: { prefix: extension.prefix, name: extension.name },
      path: pathRef.current,
      nats: token ? { jwt: token.jwt, seed: token.seed, websocket_url: token.websocket_url, inbox_prefix: token.inbox_prefix } : null,
      styles: shellStyles(),
      widget,
    });
  };

  // Theme and route changes are posted; the page re-renders without a reload.
  useEffect(() => {
    frame.current?.contentWindow?.postMessage({ symphony_bridge: 1, type: "theme", theme }, "*");
  }, [theme]);
  useEffect(() => {
    frame.current?.contentWindow?.postMessage({ symphony_bridge: 1, type: "path", path }, "*");
  }, [path]);

  const onMessage = (data: unknown) => {
    const m = data as JsxMessage | null;
    if (!m || m.symphony_bridge !== 1) return;
    switch (m.type) {
      case "size":
        if (typeof m.height === "number" && Number.isFinite(m.height) && m.height >= 0) setHeight(Math.min(Math.ceil(m.height), 100_000));
        return;
      case "setTitle": {
        const meta = safePageMeta(m.title);
        if (meta) setMeta?.(meta);
        return;
      }
      case "navigate":
        if (isShellPath(m.path)) navigate(m.path);
        return;
      case "module-error": {
        const e = m.error ?? {};
        setFailure(new ModuleError(String(e.code ?? "error"), String(e.message ?? "the page failed to load"), e.location, e.hint));
        return;
      }
    }
  };

  const onToken = (t: ScopedToken, win: Window) => {
    win.postMessage({ symphony_bridge: 1, type: "token", token: t.token, jwt: t.jwt, seed: t.seed }, "*");
  };

  return (
    <>
      {failure && <ModuleErrorCard uri={resource.uri} error={failure} />}
      {height === null && !failure && <p className="muted">Loading {resource.uri}…</p>}
      <SandboxFrame
        iframeRef={frame}
        prefix={extension.prefix}
        kind="jsx"
        title={`${extension.name}: ${resource.uri}`}
        className="jsx-frame"
        style={failure ? { display: "none" } : { height: height ?? 0 }}
        needsToken
        build={build}
        onMessage={onMessage}
        onToken={onToken}
      />
    </>
  );
}

function ModuleErrorCard({ uri, error }: { uri: string; error: Error }) {
  const me = error instanceof ModuleError ? error : null;
  const where = me?.location ? `${me.location.file}:${me.location.line}:${me.location.column}` : uri;
  return (
    <div className="card card-error" role="alert" data-testid="module-error">
      <h3>
        <i className="fa-solid fa-triangle-exclamation" /> {me?.code === "jsx_syntax_error" ? "Syntax error in" : "Cannot load"}{" "}
        <code data-testid="module-error-location">{where}</code>
      </h3>
      <pre className="error-text">{error.message}</pre>
      {me?.location && (
        <p className="muted">
          line {me.location.line}, column {me.location.column}
        </p>
      )}
      {me?.hint && <p className="muted">{me.hint}</p>}
    </div>
  );
}
