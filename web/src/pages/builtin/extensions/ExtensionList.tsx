// The list of every registered extension: name, prefix, state, running instances, what it declares, and a
// link to its detail page.
import type { ExtensionView } from "../../../api";
import { iconClass } from "../../../extensions";
import { StateBadge } from "../../Dashboard";
import type { BuiltinPageProps } from "../index";
import { Link } from "../shared/Link";
import { Table } from "../shared/Table";
import { Time } from "../shared/Time";
import { usePageTitle } from "../shared/usePageTitle";
import { endpointCount, runningCount, sdkLabel } from "./manifest";
import { detailPath } from "./paths";

const COLUMNS = ["Extension", "Prefix", "State", "Instances", "Endpoints", "Buckets", "SDK", "Registered"];

export function ExtensionList({ extensions, loaded, setMeta }: BuiltinPageProps) {
  usePageTitle(setMeta, "Extensions");
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
        <Table columns={COLUMNS} testId="extension-table">
          {extensions.map((ext) => (
            <ExtensionRow key={ext.prefix} ext={ext} />
          ))}
        </Table>
      )}
    </div>
  );
}

function ExtensionRow({ ext }: { ext: ExtensionView }) {
  const m = ext.manifest;
  return (
    <tr data-testid={`platform-extension-${ext.prefix}`}>
      <td className="bi-col-main">
        <Link to={detailPath(ext.prefix)} className="bi-strong">
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
      <td className="bi-nowrap">{sdkLabel(m.sdk)}</td>
      <td className="bi-nowrap">
        <Time value={ext.registered_at} />
      </td>
    </tr>
  );
}
