import { useDeferredValue, useEffect } from "react";
import type { ExtensionView } from "../api";
import { findResource, iconClass } from "../extensions";
import { ResourceView } from "../renderers/ResourceView";
import { navigate, normalize } from "../router";
import type { PageMeta } from "../Shell";

interface Props {
  extensions: ExtensionView[];
  loaded: boolean;
  setMeta: (m: PageMeta) => void;
}

export function StateBadge({ state }: { state: string }) {
  const cls = state.toLowerCase().replace(/[^a-z]/g, "");
  return (
    <span className={`badge badge-${cls}`} data-testid="state">
      {state}
    </span>
  );
}

export function Dashboard({ extensions, loaded, setMeta }: Props) {
  useEffect(() => setMeta({ title: "Home" }), [setMeta]);
  // Widgets (each a module to fetch and import) render after the sidebar and the extension cards have painted.
  const widgetSource = useDeferredValue(extensions, []);
  const widgets = widgetSource.flatMap((ext) => (ext.manifest.widgets ?? []).map((w) => ({ ext, w })));

  return (
    <div className="page">
      <h1>Extensions</h1>
      {!loaded && <p className="muted">Loading…</p>}
      {loaded && extensions.length === 0 && (
        <div className="card card-muted">
          <p>No extensions are registered yet.</p>
          <p className="muted">
            Create a registration token with <code>symphony token create --registration</code> and start an
            extension with it in <code>REGISTRATION_TOKEN</code>.
          </p>
        </div>
      )}
      <div className="grid" data-testid="extension-list">
        {extensions.map((ext) => {
          const menu = ext.manifest.menus?.[0];
          return (
            <div className="card ext-card" key={ext.prefix} data-testid={`extension-${ext.prefix}`}>
              <div className="ext-card-head">
                <i className={`${iconClass(menu?.icon)} fa-fw`} aria-hidden="true" />
                <h3>{ext.name}</h3>
                <StateBadge state={ext.state} />
              </div>
              <p className="muted">{ext.description || "No description"}</p>
              {ext.message && <p className="form-error" data-testid="extension-message">{ext.message}</p>}
              <dl className="facts">
                <dt>Prefix</dt>
                <dd>
                  <code>{ext.prefix}</code>
                </dd>
                <dt>Instances</dt>
                <dd>{ext.instances.length}</dd>
              </dl>
              {menu && (
                <a
                  href={normalize(menu.route)}
                  className="btn"
                  onClick={(e) => {
                    e.preventDefault();
                    navigate(normalize(menu.route));
                  }}
                >
                  Open {menu.label}
                </a>
              )}
            </div>
          );
        })}
      </div>
      {widgets.length > 0 && (
        <>
          <h2>Widgets</h2>
          <div className="grid">
            {widgets.map(({ ext, w }) => {
              const resource = findResource(ext, w.uri);
              return (
                <section className="card widget" key={`${ext.prefix}:${w.uri}`}>
                  <h3>{w.title}</h3>
                  {w.description && <p className="muted">{w.description}</p>}
                  {resource ? (
                    <ResourceView resource={resource} extension={ext} path="" />
                  ) : (
                    <p className="form-error">resource {w.uri} is not in the manifest</p>
                  )}
                </section>
              );
            })}
          </div>
        </>
      )}
    </div>
  );
}
