// An extension's services: each with its metadata, its endpoints (NATS subject and REST path) and the REST
// operations its OpenAPI document declares (docs/protocol.md §7.1).
import type { ExtensionView, ServiceSpec } from "../../../api";
import { Link } from "../shared/Link";
import { Table } from "../shared/Table";
import { endpointCount, openApiOperations, type OpenApiOperation } from "./manifest";
import { proxyPath } from "./paths";
import { Section } from "./Section";

export function EndpointsSection({ ext }: { ext: ExtensionView }) {
  return (
    <Section title="Endpoints" count={endpointCount(ext)} testId="endpoints">
      <div className="bi-stack">
        {(ext.manifest.endpoints ?? []).map((s) => (
          <ServiceCard key={`${s.service}@${s.version}`} prefix={ext.prefix} service={s} />
        ))}
      </div>
    </Section>
  );
}

function ServiceCard({ prefix, service }: { prefix: string; service: ServiceSpec }) {
  const openapi = openApiOperations(prefix, service);
  const metadata = Object.entries(service.metadata ?? {}).filter(([k]) => k !== "openapi");
  const endpoints = service.endpoints ?? [];
  return (
    <div className="card bi-card" data-testid={`service-${service.service}`}>
      <h3>
        {service.service} <span className="muted bi-small">v{service.version}</span>
      </h3>
      {service.description && <p className="muted">{service.description}</p>}
      {metadata.length > 0 && (
        <dl className="facts">
          {metadata.map(([k, v]) => (
            <div className="bi-contents" key={k}>
              <dt>{k}</dt>
              <dd className="bi-break">{v}</dd>
            </div>
          ))}
        </dl>
      )}
      {endpoints.length === 0 ? (
        <p className="muted">No endpoints added.</p>
      ) : (
        <Table columns={["Endpoint", "NATS subject", "REST (GET or POST)"]}>
          {endpoints.map((e) => {
            const rest = proxyPath(prefix, e.subject);
            return (
              <tr key={e.subject} data-testid={`endpoint-${e.name}`}>
                <td>{e.name}</td>
                <td>
                  <code>{e.subject}</code>
                </td>
                <td>{rest ? <code>{rest}</code> : <span className="muted">NATS only</span>}</td>
              </tr>
            );
          })}
        </Table>
      )}
      {openapi && <OpenApiOperations ops={openapi.ops} error={openapi.error} />}
    </div>
  );
}

function OpenApiOperations({ ops, error }: { ops: OpenApiOperation[]; error?: string }) {
  return (
    <>
      <h4>REST API (OpenAPI)</h4>
      {error && <p className="form-error">The OpenAPI document cannot be read: {error}</p>}
      {ops.length > 0 && (
        <Table columns={["Method", "Path", "Endpoint", "Summary"]}>
          {ops.map((op) => (
            <tr key={`${op.method} ${op.path}`}>
              <td>
                <span className="bi-method">{op.method}</span>
              </td>
              <td>
                <code>{op.path}</code>
              </td>
              <td>{op.endpoint}</td>
              <td className="muted">{op.summary}</td>
            </tr>
          ))}
        </Table>
      )}
      <p className="muted bi-small">
        Try it in <Link to="/platform/swagger">Swagger</Link>.
      </p>
    </>
  );
}
