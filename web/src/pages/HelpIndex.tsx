import { useEffect } from "react";
import type { RouteTarget } from "../extensions";
import { navigate } from "../router";
import type { PageMeta } from "../Shell";

/** `/help`: every extension's help page (routes under /help/extensions/), plus the platform's own. */
export function HelpIndex({ routes, setMeta }: { routes: Map<string, RouteTarget>; setMeta: (m: PageMeta) => void }) {
  useEffect(() => setMeta({ title: "Help" }), [setMeta]);
  const pages = [...routes.values()]
    .filter((r) => r.path.startsWith("/help/extensions/"))
    .sort((a, b) => a.path.localeCompare(b.path));
  return (
    <div className="page">
      <h1>Help</h1>
      <ul className="link-list">
        <li>
          <a href="/help/access/swagger">
            <i className="fa-solid fa-code" /> REST API (Swagger)
          </a>
        </li>
        {pages.map((r) => (
          <li key={r.path}>
            <a
              href={r.path}
              onClick={(e) => {
                e.preventDefault();
                navigate(r.path);
              }}
            >
              <i className="fa-solid fa-book-open" /> {r.extension.name}
            </a>
          </li>
        ))}
      </ul>
      {pages.length === 0 && <p className="muted">No extension has a help page yet.</p>}
    </div>
  );
}
