// The detail page of one extension: its summary, then a section for each thing its status and manifest list,
// and its NATS account with the JetStream limits (which administrators change here).
import type { ExtensionView } from "../../../api";
import { iconClass } from "../../../extensions";
import { StateBadge } from "../../Dashboard";
import type { BuiltinPageProps } from "../index";
import { NotFound } from "../shared/NotFound";
import { Time } from "../shared/Time";
import { usePageTitle } from "../shared/usePageTitle";
import { AccountSection } from "./AccountSection";
import { EndpointsSection } from "./EndpointsSection";
import { CommandsSection } from "./CommandsSection";
import { InstancesSection } from "./InstancesSection";
import { BucketsSection, CapabilitiesSection, MenusSection, ResourcesSection, RoutesSection, WidgetsSection } from "./ManifestSections";
import { sdkLabel } from "./manifest";
import { BASE, GATEWAY } from "./paths";

export function ExtensionDetail({ extensions, loaded, setMeta, user, prefix, path }: BuiltinPageProps & { prefix: string }) {
  const ext = extensions.find((e) => e.prefix === prefix);
  usePageTitle(setMeta, ext?.name ?? prefix, [BASE, "Extensions"]);

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
  return (
    <div className="page bi-page" data-testid={`extension-detail-${ext.prefix}`}>
      <ExtensionSummary ext={ext} />
      <InstancesSection prefix={ext.prefix} instances={ext.instances} handlers={ext.manifest.instance_handlers ?? []} />
      <CommandsSection prefix={ext.prefix} manifest={ext.manifest} />
      <EndpointsSection ext={ext} />
      <AccountSection key={ext.prefix} prefix={ext.prefix} admin={user.admin === true} />
      <BucketsSection manifest={ext.manifest} />
      <CapabilitiesSection manifest={ext.manifest} />
      <RoutesSection manifest={ext.manifest} />
      <MenusSection manifest={ext.manifest} />
      <WidgetsSection manifest={ext.manifest} />
      <ResourcesSection manifest={ext.manifest} />
    </div>
  );
}

/** Name, state, description, why it is not running, and the facts of its registration. */
function ExtensionSummary({ ext }: { ext: ExtensionView }) {
  const m = ext.manifest;
  return (
    <>
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
      {ext.warnings && ext.warnings.length > 0 && (
        <div className="notice" data-testid="extension-warnings">
          <p>Registered with {ext.warnings.length === 1 ? "a warning" : `${ext.warnings.length} warnings`}:</p>
          <ul>
            {ext.warnings.map((w) => (
              <li key={w}>{w}</li>
            ))}
          </ul>
        </div>
      )}
      <dl className="facts">
        <dt>Prefix</dt>
        <dd>
          <code>{ext.prefix}</code>
        </dd>
        <dt>SDK</dt>
        <dd>{sdkLabel(m.sdk)}</dd>
        <dt>First registered</dt>
        <dd>
          <Time value={ext.registered_at} />
        </dd>
        <dt>Last registered</dt>
        <dd>
          <Time value={ext.updated_at} />
        </dd>
        {(m.endpoints ?? []).length > 0 && (
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
    </>
  );
}
