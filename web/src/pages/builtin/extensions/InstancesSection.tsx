// The running (and recently stopped) instances of an extension, with their state and heartbeat times
// (docs/protocol.md §5.4), the key each runs with, and buttons for the handlers every instance serves for itself
// (§12.2).
import type { InstanceStatus } from "../../../api";
import { Dates } from "../shared/Time";
import { CallOutput, callInstanceHandler, useCall } from "./Calls";
import { sdkLabel } from "./manifest";
import { TableSection } from "./Section";

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

export function InstancesSection({ prefix, instances, handlers }: { prefix: string; instances: InstanceStatus[]; handlers: string[] }) {
  const { busy, result, run } = useCall();
  const columns = ["Instance", "State", "Host", "PID", "SDK", "Times"];
  return (
    <TableSection
      title="Instances"
      testId="instances"
      columns={handlers.length > 0 ? [...columns, "Handlers"] : columns}
      items={instances}
      row={(i) => (
        <tr key={i.instance_id} data-testid={`instance-${i.instance_id}`}>
          <td>
            <code>{i.instance_id}</code>
            {i.key_id && (
              <div className="muted bi-small">
                key <code>{i.key_id}</code>
              </div>
            )}
            {i.partitioning && <div className="muted bi-small">shares partitioned work</div>}
          </td>
          <td>
            <InstanceBadge state={i.state} />
            {i.message && <div className="muted bi-small" data-testid="instance-message">{i.message}</div>}
          </td>
          <td>{i.host || "—"}</td>
          <td>{i.pid || "—"}</td>
          <td className="bi-nowrap">{sdkLabel(i.sdk)}</td>
          <td>
            <Dates
              dates={[
                ["Started", i.started_at],
                ["Last heartbeat", i.updated_at],
              ]}
            />
          </td>
          {handlers.length > 0 && (
            <td className="bi-nowrap">
              {handlers.map((h) => (
                <button
                  key={h}
                  type="button"
                  className="btn btn-small"
                  disabled={busy || i.state === "disconnected"}
                  data-testid={`call-${h}`}
                  onClick={() => run(() => callInstanceHandler(prefix, i.instance_id, h))}
                >
                  {h}
                </button>
              ))}
            </td>
          )}
        </tr>
      )}
    >
      <CallOutput result={result} testId="instance-reply" />
      <p className="muted bi-small">
        An instance sends a heartbeat every 30 seconds. One whose connection closes is shown Stopped at once; one whose
        heartbeats stop while connected turns Warning, and disappears when its status expires.
      </p>
    </TableSection>
  );
}
