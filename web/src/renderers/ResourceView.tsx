// Picks the renderer for a resource by MIME type (docs/protocol.md §11). One module per renderer, each loaded
// lazily the first time a page of its kind is shown; markdown is rendered in the shell, the others in iframes or
// as React components.
import { lazy, Suspense } from "react";
import type { ExtensionView, Resource } from "../api";
import { ErrorBoundary } from "../ErrorBoundary";
import type { PageMeta } from "../Shell";

const MarkdownView = lazy(() => import("./MarkdownView"));
const JsxView = lazy(() => import("./JsxView"));
const FrameView = lazy(() => import("./FrameView"));

export interface RendererProps {
  resource: Resource;
  extension: Pick<ExtensionView, "prefix" | "name">;
  /** The shell route shown (for SymphonyContext.path); "" for widgets. */
  path: string;
  /** Page title and breadcrumbs; absent for widgets (they cannot retitle the page). */
  setMeta?: (m: PageMeta) => void;
}

export function baseMime(mime: string): string {
  return mime.split(";")[0].trim().toLowerCase();
}

/** `text/html;profile=mcp-app` → "mcp-app"; `text/html+htmx` → "htmx"; … */
export type FrameKind = "html" | "html+symphony" | "htmx" | "mcp-app";

export function frameKind(mime: string): FrameKind | null {
  const base = baseMime(mime);
  if (base === "text/html+symphony") return "html+symphony";
  if (base === "text/html+htmx") return "htmx";
  if (base === "text/html") return /;\s*profile\s*=\s*"?mcp-app"?/i.test(mime) ? "mcp-app" : "html";
  return null;
}

/** Whether a frame's navigation target is a path of this shell (`/…`, never `//host`, `/\host` or a URL). */
export function isShellPath(path: unknown): path is string {
  return typeof path === "string" && path.startsWith("/") && !path.startsWith("//") && !path.startsWith("/\\");
}

/** A page title and breadcrumbs a frame asked for, kept only as far as they are safe to show: strings, and
 * breadcrumb targets that are shell paths (`/…`, never `//host` or `javascript:`). */
export function safePageMeta(meta: unknown): PageMeta | null {
  const m = meta as { title?: unknown; breadcrumbs?: unknown } | null;
  if (!m || typeof m.title !== "string") return null;
  const out: PageMeta = { title: m.title.slice(0, 200) };
  if (m.breadcrumbs && typeof m.breadcrumbs === "object") {
    const crumbs = Object.entries(m.breadcrumbs as Record<string, unknown>)
      .filter(([to, label]) => isShellPath(to) && typeof label === "string")
      .slice(0, 10)
      .map(([to, label]) => [to, (label as string).slice(0, 200)]);
    if (crumbs.length > 0) out.breadcrumbs = Object.fromEntries(crumbs);
  }
  return out;
}

/** A short, stable hash of a resource's content (cache-busts module URLs when the content changes). */
export function contentHash(text: string): string {
  let h1 = 0xdeadbeef ^ text.length;
  let h2 = 0x41c6ce57 ^ text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (h2 >>> 0).toString(16).padStart(8, "0") + (h1 >>> 0).toString(16).padStart(8, "0");
}

function Renderer(props: RendererProps) {
  const { resource } = props;
  const base = baseMime(resource.mime_type);
  if (base === "text/markdown") return <MarkdownView content={resource.content} />;
  if (base === "text/symphony-jsx") return <JsxView {...props} />;
  const kind = frameKind(resource.mime_type);
  if (kind) return <FrameView {...props} kind={kind} />;
  if (base === "text/symphony-module") {
    return (
      <div className="card card-muted" data-testid="not-a-page">
        <p>
          <code>{resource.uri}</code> is a module (<code>text/symphony-module</code>): pages import it as{" "}
          <code>@symphony/extension/{resource.uri.replace(/^ui:\/\//, "")}</code>; it is not shown by itself.
        </p>
      </div>
    );
  }
  return (
    <div className="card card-error" data-testid="unknown-mime">
      <h3>
        <i className="fa-solid fa-circle-question" /> cannot show {resource.mime_type}
      </h3>
      <p>
        The resource <code>{resource.uri}</code> has a MIME type this shell does not render.
      </p>
    </div>
  );
}

/** Renders a resource inside its own error boundary (reset when the content changes) and suspense fallback. */
export function ResourceView(props: RendererProps) {
  return (
    <ErrorBoundary label={props.resource.uri} resetKey={`${props.resource.uri}#${contentHash(props.resource.content)}`}>
      <Suspense fallback={<p className="muted">Loading…</p>}>
        <Renderer {...props} />
      </Suspense>
    </ErrorBoundary>
  );
}
