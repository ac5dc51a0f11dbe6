import { useEffect, useMemo } from "react";
import type { SymphonyInfo } from "../api";
import { findResource, type RouteTarget } from "../extensions";
import { splitFrontMatter, substitute } from "../renderers/frontmatter";
import { baseMime, ResourceView } from "../renderers/ResourceView";
import type { PageMeta } from "../Shell";
import { StateBadge } from "./Dashboard";

interface Props {
  path: string;
  target: RouteTarget | undefined;
  loaded: boolean;
  info: SymphonyInfo | null;
  setMeta: (m: PageMeta) => void;
}

/** An extension route: finds the manifest route's resource and renders it by MIME type. */
export function ExtensionPage({ path, target, loaded, info, setMeta }: Props) {
  const resource = target ? findResource(target.extension, target.uri) : undefined;
  const fallbackTitle = target ? target.extension.name : "Not found";

  // Markdown pages name themselves (front matter `title`, `breadcrumbs`); others take the extension's name.
  const meta = useMemo(() => {
    if (resource && baseMime(resource.mime_type) === "text/markdown") {
      const { data } = splitFrontMatter(resource.content);
      const title = typeof data.title === "string" ? substitute(data.title, info) : "";
      const breadcrumbs =
        data.breadcrumbs && typeof data.breadcrumbs === "object" ? (data.breadcrumbs as Record<string, string>) : undefined;
      return { title: title || fallbackTitle, breadcrumbs };
    }
    return { title: fallbackTitle };
  }, [resource, info, fallbackTitle]);
  const metaKey = JSON.stringify(meta);

  useEffect(() => {
    setMeta(JSON.parse(metaKey) as PageMeta);
  }, [setMeta, metaKey, path]);

  if (!target) {
    if (!loaded) return <p className="muted">Loading…</p>;
    return (
      <div className="card card-muted" data-testid="not-found">
        <h3>No page at {path}</h3>
        <p className="muted">No registered extension has a route for this path.</p>
      </div>
    );
  }
  if (!resource) {
    return (
      <div className="card card-error" role="alert">
        <h3>
          {target.extension.name}: resource <code>{target.uri}</code> not found
        </h3>
        <p className="muted">The route {path} points at a resource the extension's manifest does not contain.</p>
      </div>
    );
  }
  return (
    <div className="page" data-testid="extension-page">
      {target.extension.state !== "OK" && (
        <p className="notice">
          {target.extension.name} is <StateBadge state={target.extension.state} />: its live data may be unavailable.
        </p>
      )}
      <ResourceView resource={resource} extension={target.extension} path={path} setMeta={setMeta} />
    </div>
  );
}
