// The sections of an extension's detail page that list what its manifest declares: buckets, capabilities,
// routes, menus, widgets and resources (docs/protocol.md §5.2).
import { useMemo } from "react";
import type { Manifest } from "../../../api";
import { iconClass } from "../../../extensions";
import { normalize } from "../../../router";
import { formatBytes, formatSeconds } from "../shared/format";
import { Link } from "../shared/Link";
import { flattenRoutes } from "./manifest";
import { TableSection } from "./Section";

/** A manifest's optional text, or a muted dash. */
const orDash = (text: string | undefined) => text || <span className="muted">—</span>;

export function BucketsSection({ manifest }: { manifest: Manifest }) {
  return (
    <TableSection
      title="Buckets"
      testId="buckets"
      columns={["Bucket", "Description", "Entries expire", "History per key", "Max size"]}
      items={manifest.buckets ?? []}
      row={(b) => (
        <tr key={b.name}>
          <td>
            <code>{b.name}</code>
          </td>
          <td>{orDash(b.description)}</td>
          <td>{formatSeconds(b.ttl, "never")}</td>
          <td>{b.max_history_per_key || 1}</td>
          <td>{b.max_bucket_size ? formatBytes(b.max_bucket_size) : "unlimited"}</td>
        </tr>
      )}
    />
  );
}

export function CapabilitiesSection({ manifest }: { manifest: Manifest }) {
  return (
    <TableSection
      title="Capabilities"
      testId="capabilities"
      columns={["Direction", "Subject", "Description"]}
      items={manifest.capabilities ?? []}
      row={(c) => (
        <tr key={`${c.kind}:${c.subject}`}>
          <td>{c.kind === "pub" ? "publish (call)" : "subscribe (serve)"}</td>
          <td>
            <code>{c.subject}</code>
          </td>
          <td>{orDash(c.description)}</td>
        </tr>
      )}
    />
  );
}

export function RoutesSection({ manifest }: { manifest: Manifest }) {
  const routes = useMemo(() => flattenRoutes(manifest.routes), [manifest.routes]);
  const resources = manifest.resources ?? [];
  const mimeOf = (uri: string) => resources.find((r) => r.uri === uri)?.mime_type;
  return (
    <TableSection
      title="Routes"
      testId="routes"
      columns={["Path", "Resource", "Type"]}
      items={routes}
      row={(r) => (
        <tr key={r.path}>
          <td>
            <Link to={r.path}>{r.path}</Link>
          </td>
          <td>
            <code>{r.uri}</code>
          </td>
          <td>{mimeOf(r.uri) ?? <span className="form-error">not in the manifest</span>}</td>
        </tr>
      )}
    />
  );
}

export function MenusSection({ manifest }: { manifest: Manifest }) {
  return (
    <TableSection
      title="Menus"
      testId="menus"
      columns={["Label", "Group", "Route"]}
      items={manifest.menus ?? []}
      row={(menu) => (
        <tr key={`${menu.group}:${menu.label}:${menu.route}`}>
          <td>
            <i className={`${iconClass(menu.icon)} fa-fw`} aria-hidden="true" /> {menu.label}
          </td>
          <td>{menu.group || "main"}</td>
          <td>
            <Link to={normalize(menu.route)}>{normalize(menu.route)}</Link>
          </td>
        </tr>
      )}
    />
  );
}

export function WidgetsSection({ manifest }: { manifest: Manifest }) {
  return (
    <TableSection
      title="Widgets"
      testId="widgets"
      columns={["Title", "Resource", "Description"]}
      items={manifest.widgets ?? []}
      row={(w) => (
        <tr key={w.uri}>
          <td>{w.title}</td>
          <td>
            <code>{w.uri}</code>
          </td>
          <td>{orDash(w.description)}</td>
        </tr>
      )}
    >
      <p className="muted bi-small">
        Widgets are shown on <Link to="/">Home</Link>.
      </p>
    </TableSection>
  );
}

export function ResourcesSection({ manifest }: { manifest: Manifest }) {
  return (
    <TableSection
      title="Resources"
      testId="resources"
      columns={["URI", "Type", "Size"]}
      items={manifest.resources ?? []}
      row={(r) => (
        <tr key={r.uri}>
          <td>
            <code>{r.uri}</code>
          </td>
          <td>{r.mime_type}</td>
          <td className="bi-nowrap">{formatBytes(new Blob([r.content]).size)}</td>
        </tr>
      )}
    />
  );
}
