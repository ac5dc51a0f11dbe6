// "Extensions": every registered extension with its state (from the shell's live, polled list), and a detail
// page per prefix at /platform/extensions/<prefix> with instances, endpoints, buckets, capabilities, routes,
// menus, widgets and resources (docs/protocol.md §5.2, §5.4, §7).
import { useEffect, useMemo, type ReactNode } from "react";
import type { ExtensionView, ManifestRoute, ServiceSpec } from "../../api";
import { iconClass } from "../../extensions";
import { joinPath, normalize } from "../../router";
import { StateBadge } from "../Dashboard";
import { formatBytes, Link, NotFound, TableWrap, Time } from "./common";
import type { BuiltinPageProps } from "./index";

const BASE = "/platform/extensions";
const GATEWAY = "/api/v1/extension";
const HTTP_METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

export default function Extensions(props: BuiltinPageProps) {
  const rest = props.path.startsWith(`${BASE}/`) ? props.path.slice(BASE.length + 1) : "";
  if (!rest) return <ExtensionList {...props} />;
  if (rest.includes("/")) {
    return <NotFound path={props.path} what="Extension pages are /platform/extensions/<prefix>." back={[BASE, "All extensions"]} />;
  }
  return <ExtensionDetail {...props} prefix={decodeURIComponent(rest)} />;
}

function runningCount(ext: ExtensionView): number {
  return ext.instances.filter((i) => i.state !== "disconnected").length;
}

function endpointCount(ext: ExtensionView): number {
  return (ext.manifest.endpoints ?? []).reduce((n, s) => n + (s.endpoints?.length ?? 0), 0);
}

function ExtensionList({ extensions, loaded, setMeta }: BuiltinPageProps) {
  useEffect(() => {
    setMeta({ title: "Extensions" });
  }, [setMeta]);
  return (
    <div className="page bi-page" data-testid="platform-extensions">
      <h1>Extensions</h1>
      <p className="muted">
        Every extension registered with this instance. <strong>OK</strong>: at least one instance is running and
        sending heartbeats. <strong>Inactive</strong>: no instance is running (stopped, crashed, or its last heartbeat
        expired). The list updates by itself.
      </p>
      {!loaded && <p className="muted">Loading…</p>}
      {loaded && extensions.length === 0 && (
        <div className="card card-muted">
          <p>No extensions are registered yet.</p>
          <p className="muted">
            Create a registration token on <Link to="/platform/keys">API Keys</Link> and start an extension with it in{" "}
            <code>REGISTRATION_TOKEN</code>.
          </p>
        </div>
      )}
      {extensions.length > 0 && (
        <TableWrap testId="extension-table">
          <thead>
            <tr>
              <th>Extension</th>
              <th>Prefix</th>
              <th>State</th>
              <th>Instances</th>
              <th>Endpoints</th>
              <th>Buckets</th>
              <th>SDK</th>
              <th>Registered</th>
            </tr>
          </thead>
          <tbody>
            {extensions.map((ext) => {
              const m = ext.manifest;
              return (
                <tr key={ext.prefix} data-testid={`platform-extension-${ext.prefix}`}>
                  <td className="bi-col-main">
                    <Link to={`${BASE}/${encodeURIComponent(ext.prefix)}`} className="bi-strong">
                      <i className={`${iconClass(m.menus?.[0]?.icon)} fa-fw`} aria-hidden="true" /> {ext.name}
                    </Link>
                    {ext.description && <div className="muted bi-small">{ext.description}</div>}
                  </td>
                  <td>
                    <code>{ext.prefix}</code>
                  </td>
                  <td>
                    <StateBadge state={ext.state} />
                  </td>
                  <td title="running / known">
                    {runningCount(ext)} / {ext.instances.length}
                  </td>
                  <td>{endpointCount(ext)}</td>
                  <td>{m.buckets?.length ?? 0}</td>
                  <td className="bi-nowrap">{m.sdk?.name ? `${m.sdk.name} ${m.sdk.version}` : "—"}</td>
                  <td className="bi-nowrap">
                    <Time value={ext.registered_at} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </TableWrap>
      )}
    </div>
  );
}

function Section({ title, count, children, testId }: { title: string; count: number; children: ReactNode; testId: string }) {
  return (
    <section className="bi-section" data-testid={testId}>
      <h2>
        {title} <span className="bi-count">{count}</span>
      </h2>
      {count === 0 ? <p className="muted">None.</p> : children}
    </section>
  );
}

const INSTANCE_STATES: Record<string, [string, string]> = {
  ok: ["badge-ok", "Running"],
  warning: ["badge-warning", "Warning"],
  error: ["badge-error", "Error"],
  disconnected: ["badge-inactive", "Stopped"],
};

function InstanceBadge({ state }: { state: string }) {
  const [cls, label] = INSTANCE_STATES[state] ?? ["badge-inactive", state];
  return (
    <span className={`badge ${cls}`} data-testid="instance-state">
      {label}
    </span>
  );
}

function seconds(n: number | undefined, zero: string): string {
  if (!n) return zero;
  const units: [number, string][] = [
    [86400, "d"],
    [3600, "h"],
    [60, "min"],
  ];
  for (const [size, unit] of units) if (n % size === 0) return `${n / size} ${unit}`;
  return `${n} s`;
}

interface FlatRoute {
  path: string;
  uri: string;
}

function flattenRoutes(routes: ManifestRoute[] | undefined, parent = ""): FlatRoute[] {
  return (routes ?? []).flatMap((r) => {
    const path = parent ? joinPath(parent, r.path) : normalize(r.path);
    return [{ path, uri: r.uri }, ...flattenRoutes(r.routes, path)];
  });
}

interface OpenApiOperation {
  method: string;
  path: string;
  endpoint: string;
  summary: string;
}

/** The REST operations a service's `metadata.openapi` document declares (§7.1), or the parse error. */
function openApiOperations(prefix: string, service: ServiceSpec): { ops: OpenApiOperation[]; error?: string } | null {
  const text = service.metadata?.openapi;
  if (!text) return null;
  try {
    const doc = JSON.parse(text) as { paths?: Record<string, Record<string, unknown>> };
    const ops: OpenApiOperation[] = [];
    for (const [template, item] of Object.entries(doc.paths ?? {})) {
      for (const [method, raw] of Object.entries(item ?? {})) {
        if (!HTTP_METHODS.includes(method) || !raw || typeof raw !== "object") continue;
        const op = raw as Record<string, unknown>;
        const endpoint = String(op["x-symphony-endpoint"] ?? op.operationId ?? "");
        const summary = String(op.summary ?? op.description ?? "");
        ops.push({ method: method.toUpperCase(), path: `${GATEWAY}/${prefix}${template}`, endpoint, summary });
      }
    }
    return { ops };
  } catch (e) {
    return { ops: [], error: (e as Error).message };
  }
}

/** `GET|POST /api/v1/extension/<prefix>/<name>` for an endpoint in the extension's own group (§7.1). */
function proxyPath(prefix: string, subject: string): string | null {
  const group = `cirata.extensions.${prefix}.`;
  if (!subject.startsWith(group)) return null;
  const name = subject.slice(group.length);
  return name && !name.includes(".") ? `${GATEWAY}/${prefix}/${name}` : null;
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
        <TableWrap>
          <thead>
            <tr>
              <th>Endpoint</th>
              <th>NATS subject</th>
              <th>REST (GET or POST)</th>
            </tr>
          </thead>
          <tbody>
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
          </tbody>
        </TableWrap>
      )}
      {openapi && (
        <>
          <h4>REST API (OpenAPI)</h4>
          {openapi.error && <p className="form-error">The OpenAPI document cannot be read: {openapi.error}</p>}
          {openapi.ops.length > 0 && (
            <TableWrap>
              <thead>
                <tr>
                  <th>Method</th>
                  <th>Path</th>
                  <th>Endpoint</th>
                  <th>Summary</th>
                </tr>
              </thead>
              <tbody>
                {openapi.ops.map((op) => (
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
              </tbody>
            </TableWrap>
          )}
          <p className="muted bi-small">
            Try it in <Link to="/platform/swagger">Swagger</Link>.
          </p>
        </>
      )}
    </div>
  );
}

function ExtensionDetail({ extensions, loaded, setMeta, prefix, path }: BuiltinPageProps & { prefix: string }) {
  const ext = extensions.find((e) => e.prefix === prefix);
  const title = ext?.name ?? prefix;
  useEffect(() => {
    setMeta({ title, breadcrumbs: { [BASE]: "Extensions" } });
  }, [setMeta, title]);
  const routes = useMemo(() => flattenRoutes(ext?.manifest.routes), [ext]);

  if (!ext) {
    if (!loaded) return <p className="muted">Loading…</p>;
    return (
      <NotFound
        path={path}
        what={`No extension with prefix "${prefix}" is registered, or your roles do not show it.`}
        back={[BASE, "All extensions"]}
      />
    );
  }
  const m = ext.manifest;
  const instances = ext.instances;
  const resources = m.resources ?? [];
  const mimeOf = (uri: string) => resources.find((r) => r.uri === uri)?.mime_type;
  const services = m.endpoints ?? [];

  return (
    <div className="page bi-page" data-testid={`extension-detail-${ext.prefix}`}>
      <div className="bi-title">
        <i className={`${iconClass(m.menus?.[0]?.icon)} fa-fw`} aria-hidden="true" />
        <h1>{ext.name}</h1>
        <StateBadge state={ext.state} />
      </div>
      <p className={ext.description ? "" : "muted"}>{ext.description || "No description."}</p>
      {ext.state === "Inactive" && (
        <p className="notice">
          No instance of {ext.name} is running: its pages, widgets and endpoints are unavailable until one starts.
        </p>
      )}
      {ext.message && (
        <p className={ext.state === "Error" ? "notice form-error" : "notice"} data-testid="extension-message">
          {ext.message}
        </p>
      )}
      <dl className="facts">
        <dt>Prefix</dt>
        <dd>
          <code>{ext.prefix}</code>
        </dd>
        <dt>SDK</dt>
        <dd>{m.sdk?.name ? `${m.sdk.name} ${m.sdk.version}` : "—"}</dd>
        <dt>First registered</dt>
        <dd>
          <Time value={ext.registered_at} />
        </dd>
        <dt>Last registered</dt>
        <dd>
          <Time value={ext.updated_at} />
        </dd>
        {services.length > 0 && (
          <>
            <dt>REST base</dt>
            <dd>
              <code>
                {GATEWAY}/{ext.prefix}
              </code>
            </dd>
          </>
        )}
      </dl>

      <Section title="Instances" count={instances.length} testId="instances">
        <TableWrap>
          <thead>
            <tr>
              <th>Instance</th>
              <th>State</th>
              <th>Host</th>
              <th>PID</th>
              <th>SDK</th>
              <th>Times</th>
            </tr>
          </thead>
          <tbody>
            {instances.map((i) => (
              <tr key={i.instance_id} data-testid={`instance-${i.instance_id}`}>
                <td>
                  <code>{i.instance_id}</code>
                </td>
                <td>
                  <InstanceBadge state={i.state} />
                  {i.message && <div className="muted bi-small" data-testid="instance-message">{i.message}</div>}
                </td>
                <td>{i.host || "—"}</td>
                <td>{i.pid || "—"}</td>
                <td className="bi-nowrap">{i.sdk?.name ? `${i.sdk.name} ${i.sdk.version}` : "—"}</td>
                <td>
                  <dl className="bi-dates">
                    <dt>Started</dt>
                    <dd>
                      <Time value={i.started_at} />
                    </dd>
                    <dt>Last heartbeat</dt>
                    <dd>
                      <Time value={i.updated_at} />
                    </dd>
                  </dl>
                </td>
              </tr>
            ))}
          </tbody>
        </TableWrap>
        <p className="muted bi-small">
          An instance sends a heartbeat every 30 seconds. One whose connection closes is shown Stopped at once; one whose
          heartbeats stop while connected turns Warning, and disappears when its status expires.
        </p>
      </Section>

      <Section title="Endpoints" count={services.reduce((n, s) => n + (s.endpoints?.length ?? 0), 0)} testId="endpoints">
        <div className="bi-stack">
          {services.map((s) => (
            <ServiceCard key={`${s.service}@${s.version}`} prefix={ext.prefix} service={s} />
          ))}
        </div>
      </Section>

      <Section title="Buckets" count={m.buckets?.length ?? 0} testId="buckets">
        <TableWrap>
          <thead>
            <tr>
              <th>Bucket</th>
              <th>Description</th>
              <th>Entries expire</th>
              <th>History per key</th>
              <th>Max size</th>
            </tr>
          </thead>
          <tbody>
            {(m.buckets ?? []).map((b) => (
              <tr key={b.name}>
                <td>
                  <code>{b.name}</code>
                </td>
                <td>{b.description || <span className="muted">—</span>}</td>
                <td>{seconds(b.ttl, "never")}</td>
                <td>{b.max_history_per_key || 1}</td>
                <td>{b.max_bucket_size ? formatBytes(b.max_bucket_size) : "unlimited"}</td>
              </tr>
            ))}
          </tbody>
        </TableWrap>
      </Section>

      <Section title="Capabilities" count={m.capabilities?.length ?? 0} testId="capabilities">
        <TableWrap>
          <thead>
            <tr>
              <th>Direction</th>
              <th>Subject</th>
              <th>Description</th>
            </tr>
          </thead>
          <tbody>
            {(m.capabilities ?? []).map((c) => (
              <tr key={`${c.kind}:${c.subject}`}>
                <td>{c.kind === "pub" ? "publish (call)" : "subscribe (serve)"}</td>
                <td>
                  <code>{c.subject}</code>
                </td>
                <td>{c.description || <span className="muted">—</span>}</td>
              </tr>
            ))}
          </tbody>
        </TableWrap>
      </Section>

      <Section title="Routes" count={routes.length} testId="routes">
        <TableWrap>
          <thead>
            <tr>
              <th>Path</th>
              <th>Resource</th>
              <th>Type</th>
            </tr>
          </thead>
          <tbody>
            {routes.map((r) => (
              <tr key={r.path}>
                <td>
                  <Link to={r.path}>{r.path}</Link>
                </td>
                <td>
                  <code>{r.uri}</code>
                </td>
                <td>{mimeOf(r.uri) ?? <span className="form-error">not in the manifest</span>}</td>
              </tr>
            ))}
          </tbody>
        </TableWrap>
      </Section>

      <Section title="Menus" count={m.menus?.length ?? 0} testId="menus">
        <TableWrap>
          <thead>
            <tr>
              <th>Label</th>
              <th>Group</th>
              <th>Route</th>
            </tr>
          </thead>
          <tbody>
            {(m.menus ?? []).map((menu) => (
              <tr key={`${menu.group}:${menu.label}:${menu.route}`}>
                <td>
                  <i className={`${iconClass(menu.icon)} fa-fw`} aria-hidden="true" /> {menu.label}
                </td>
                <td>{menu.group || "main"}</td>
                <td>
                  <Link to={normalize(menu.route)}>{normalize(menu.route)}</Link>
                </td>
              </tr>
            ))}
          </tbody>
        </TableWrap>
      </Section>

      <Section title="Widgets" count={m.widgets?.length ?? 0} testId="widgets">
        <TableWrap>
          <thead>
            <tr>
              <th>Title</th>
              <th>Resource</th>
              <th>Description</th>
            </tr>
          </thead>
          <tbody>
            {(m.widgets ?? []).map((w) => (
              <tr key={w.uri}>
                <td>{w.title}</td>
                <td>
                  <code>{w.uri}</code>
                </td>
                <td>{w.description || <span className="muted">—</span>}</td>
              </tr>
            ))}
          </tbody>
        </TableWrap>
        <p className="muted bi-small">
          Widgets are shown on <Link to="/">Home</Link>.
        </p>
      </Section>

      <Section title="Resources" count={resources.length} testId="resources">
        <TableWrap>
          <thead>
            <tr>
              <th>URI</th>
              <th>Type</th>
              <th>Size</th>
            </tr>
          </thead>
          <tbody>
            {resources.map((r) => (
              <tr key={r.uri}>
                <td>
                  <code>{r.uri}</code>
                </td>
                <td>{r.mime_type}</td>
                <td className="bi-nowrap">{formatBytes(new Blob([r.content]).size)}</td>
              </tr>
            ))}
          </tbody>
        </TableWrap>
      </Section>
    </div>
  );
}
