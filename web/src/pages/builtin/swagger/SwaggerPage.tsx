// "Swagger": the server's Swagger UI (/help/access/swagger, docs/protocol.md §7.5) for the platform API and the
// REST APIs of every live extension, embedded in the page, with links to open it alone and to the raw document.
import "../builtin.css";
import { useState } from "react";
import type { BuiltinPageProps } from "../index";
import { NotFound } from "../shared/NotFound";
import { RefreshButton } from "../shared/SectionHeader";
import { usePageTitle } from "../shared/usePageTitle";

const BASE = "/platform/swagger";
const SWAGGER = "/help/access/swagger";
const OPENAPI = "/api/v1/openapi.json";

export default function SwaggerPage({ path, setMeta }: BuiltinPageProps) {
  usePageTitle(setMeta, "Swagger");
  // Reloading the frame picks up extensions that registered or stopped since it was opened.
  const [generation, setGeneration] = useState(0);
  if (path !== BASE) return <NotFound path={path} what="Swagger is a single page." back={[BASE, "Swagger"]} />;
  return (
    <div className="page bi-page bi-swagger" data-testid="platform-swagger">
      <div className="bi-toolbar bi-spread">
        <p className="muted bi-grow">
          The platform API and the REST API of every running extension. Calls you make here use your session: they may
          do what your roles allow.
        </p>
        <div className="bi-toolbar">
          <RefreshButton label="Reload" onClick={() => setGeneration((g) => g + 1)} />
          <a className="btn" href={SWAGGER} target="_blank" rel="noopener" data-testid="swagger-open">
            <i className="fa-solid fa-up-right-from-square" aria-hidden="true" /> Open in a new tab
          </a>
          <a className="btn" href={OPENAPI} target="_blank" rel="noopener" data-testid="openapi-json">
            <i className="fa-solid fa-file-code" aria-hidden="true" /> openapi.json
          </a>
        </div>
      </div>
      <iframe key={generation} className="bi-frame" src={SWAGGER} title="Swagger UI: the Symphony REST API" data-testid="swagger-frame" />
    </div>
  );
}
