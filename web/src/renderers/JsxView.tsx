// `text/symphony-jsx`: the server transpiles the page (TSX → ES module, GET /api/v1/ui/module/<prefix>/<name>,
// docs/protocol.md §11); the browser imports it, resolving `react`, `@symphony` and
// `@symphony/extension/<prefix>/<name>` through the import map in index.html. The default export is rendered
// inside SymphonyContext with the user's NATS connection. A syntax error shows file, line and column.
import { useEffect, useMemo, useState, type ComponentType } from "react";
import type { NatsConnection } from "@nats-io/nats-core";
import { navigate } from "../router";
import { useShell } from "../shellContext";
import { natsConnection, natsConnectionError } from "../symphony/connection";
import { SymphonyContext, titleMeta, type SymphonyContextValue } from "../symphony/context";
import { contentHash, type RendererProps } from "./ResourceView";

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

/** The module URL of a resource: its name under the extension, cache-busted by the content hash. */
export function moduleUrl(prefix: string, uri: string, content: string): string {
  const name = uri.replace(/^ui:\/\/[^/]+\//, "");
  const path = name.split("/").map(encodeURIComponent).join("/");
  return `/api/v1/ui/module/${encodeURIComponent(prefix)}/${path}?v=${contentHash(content)}`;
}

async function loadModule(url: string): Promise<Record<string, unknown>> {
  // Fetch first to get the server's typed error (an `import()` of a failing URL only says "failed to fetch");
  // the import then revalidates the same URL (ETag → 304).
  let response: Response;
  try {
    response = await fetch(url, { credentials: "same-origin" });
  } catch (e) {
    throw new ModuleError("network", `cannot reach the server: ${(e as Error).message}`);
  }
  if (!response.ok) {
    const body = (await response.json().catch(() => ({}))) as { code?: string; message?: string; hint?: string; location?: Location };
    throw new ModuleError(body.code ?? `http_${response.status}`, body.message ?? response.statusText, body.location, body.hint);
  }
  return (await import(/* @vite-ignore */ url)) as Record<string, unknown>;
}

type State =
  | { status: "loading" }
  | { status: "failed"; error: Error }
  | { status: "ready"; Component: ComponentType; nc: NatsConnection | undefined };

export default function JsxView({ resource, extension, path, setMeta }: RendererProps) {
  const { info, user, theme } = useShell();
  const [state, setState] = useState<State>({ status: "loading" });
  const url = moduleUrl(extension.prefix, resource.uri, resource.content);

  useEffect(() => {
    let cancelled = false;
    setState({ status: "loading" });
    Promise.all([loadModule(url), natsConnection()]).then(
      ([module, nc]) => {
        if (cancelled) return;
        const Component = module.default;
        if (typeof Component !== "function" && (typeof Component !== "object" || Component === null)) {
          setState({
            status: "failed",
            error: new ModuleError("no_default_export", `${resource.uri} has no default export (a React component)`),
          });
          return;
        }
        setState({ status: "ready", Component: Component as ComponentType, nc });
      },
      (error: Error) => {
        if (!cancelled) setState({ status: "failed", error });
      },
    );
    return () => {
      cancelled = true;
    };
  }, [url, resource.uri]);

  const nc = state.status === "ready" ? state.nc : undefined;
  const value = useMemo<SymphonyContextValue>(
    () => ({
      nc,
      kv: async (bucket: string) => {
        const conn = await natsConnection();
        if (!conn) throw new Error(natsConnectionError() ?? "no NATS connection");
        const { Kvm } = await import("@nats-io/kv");
        return new Kvm(conn).open(bucket);
      },
      setTitle: (spec) => setMeta?.(titleMeta(spec)),
      navigate: (to: string) => navigate(to),
      theme,
      user,
      info,
      extension: { prefix: extension.prefix, name: extension.name },
      path,
    }),
    [nc, setMeta, theme, user, info, extension.prefix, extension.name, path],
  );

  if (state.status === "loading") return <p className="muted">Loading {resource.uri}…</p>;
  if (state.status === "failed") return <ModuleErrorCard uri={resource.uri} error={state.error} />;
  const { Component } = state;
  return (
    <SymphonyContext.Provider value={value}>
      {!nc && (
        <p className="notice" data-testid="nats-unavailable">
          Live data is unavailable: {natsConnectionError() ?? "no NATS connection"}.
        </p>
      )}
      <Component />
    </SymphonyContext.Provider>
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
