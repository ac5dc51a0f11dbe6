// The keys and registration tokens listed with their status, capabilities and dates, each revocable after an
// inline confirmation that says what revoking it disconnects (docs/protocol.md §9.3).
import { revokeKey, type KeyView } from "../api";
import { ConfirmRow, useConfirm, type Confirmation } from "../shared/Confirm";
import { ACTIONS, Table, type Column } from "../shared/Table";
import { Dates } from "../shared/Time";
import { canRevoke, keyStatus, kindLabel } from "./status";

const COLUMNS: Column[] = [
  "Name",
  "Status",
  "Prefix",
  "Capabilities",
  "Owner",
  "Dates",
  { label: "Running", title: "Instances running with this key now" },
  ACTIONS,
];

export function KeyTable({ keys, reload }: { keys: KeyView[]; reload: () => Promise<void> }) {
  const revoking = useConfirm(revokeKey, reload);
  const now = Date.now();
  return (
    <Table columns={COLUMNS} testId="key-table">
      {keys.map((k) => (
        <KeyRows key={k.id} k={k} now={now} revoking={revoking} />
      ))}
    </Table>
  );
}

/** The key's row, and under it the revoke confirmation while it is open. */
function KeyRows({ k, now, revoking }: { k: KeyView; now: number; revoking: Confirmation }) {
  const status = keyStatus(k, now);
  return (
    <>
      <tr data-testid={`key-${k.id}`} data-name={k.name}>
        <td className="bi-col-main">
          <span className="bi-strong">{k.name}</span>
          <div className="muted bi-small">
            {kindLabel(k.kind)} · <code title="Key id (also the instance id of what runs with it)">{k.id}</code>
          </div>
          {k.notes && <div className="muted bi-small bi-break">{k.notes}</div>}
        </td>
        <td>
          <span className={`badge ${status.cls}`} data-testid="key-status">
            {status.label}
          </span>
        </td>
        <td>{k.prefix ? <code>{k.prefix}</code> : <span className="muted">—</span>}</td>
        <td>
          <Capabilities k={k} />
        </td>
        <td>{k.owner}</td>
        <td>
          <Dates
            dates={[
              ["Created", k.created_at],
              ["Expires", k.expires_at, "never"],
              ["Last used", k.last_used, "never"],
            ]}
          />
        </td>
        <td>{k.connected_instances}</td>
        <td>
          {canRevoke(k) && (
            <button type="button" className="btn bi-danger-outline" onClick={() => revoking.ask(k.id)} disabled={revoking.asking === k.id}>
              Revoke
            </button>
          )}
        </td>
      </tr>
      <ConfirmRow confirmation={revoking} rowKey={k.id} columns={COLUMNS.length} action="Yes, revoke" running="Revoking…" testId="revoke-confirm">
        Revoke {kindLabel(k.kind).toLowerCase()} <strong>{k.name}</strong>? {revokeConsequence(k)} This cannot be undone.
      </ConfirmRow>
    </>
  );
}

function revokeConsequence(k: KeyView): string {
  if (k.kind !== "api_key") return "It can no longer start an extension.";
  return k.connected_instances > 0
    ? `Its ${k.connected_instances} running instance(s) are disconnected at once and cannot reconnect.`
    : "Anything using it is refused from now on.";
}

function Capabilities({ k }: { k: KeyView }) {
  const pub = k.capabilities.pub.allow;
  const sub = k.capabilities.sub.allow;
  if (k.kind === "registration") return <span className="muted">declared by the extension</span>;
  if (pub.length + sub.length === 0) return <span className="muted">none</span>;
  return (
    <ul className="bi-list">
      {pub.map((s) => (
        <li key={`p${s}`}>
          <code>pub:{s}</code>
        </li>
      ))}
      {sub.map((s) => (
        <li key={`s${s}`}>
          <code>sub:{s}</code>
        </li>
      ))}
    </ul>
  );
}
