// The roles with what they grant and how many users have them; custom roles can be created, edited and
// deleted after an inline confirmation (docs/protocol.md §9.2).
import { useState } from "react";
import { deleteRole, type Role, type UserView } from "../api";
import { ConfirmRow, useConfirm, type Confirmation } from "../shared/Confirm";
import { ACTIONS, Table } from "../shared/Table";
import { EMPTY_ROLE, RoleEditor } from "./RoleEditor";

const COLUMNS = ["Role", "May call (publish)", "May receive (subscribe)", "Shows extensions", "Users", ACTIONS];

export function RolesSection({ roles, users, reload }: { roles: Role[]; users: UserView[]; reload: () => Promise<void> }) {
  const [editing, setEditing] = useState<{ role: Role; existing: boolean } | null>(null);
  const removing = useConfirm(deleteRole, reload);
  const holders = (name: string) => users.filter((u) => u.roles.includes(name)).length;

  return (
    <div className="bi-stack">
      {editing ? (
        <RoleEditor
          key={editing.role.name || "new"}
          initial={editing.role}
          existing={editing.existing}
          onDone={(saved) => {
            setEditing(null);
            if (saved) void reload();
          }}
        />
      ) : (
        <div className="bi-toolbar">
          <button type="button" className="btn" onClick={() => setEditing({ role: EMPTY_ROLE, existing: false })} data-testid="new-role">
            <i className="fa-solid fa-plus" aria-hidden="true" /> New role
          </button>
        </div>
      )}
      <Table columns={COLUMNS} testId="role-table">
        {roles.map((r) => (
          <RoleRows key={r.name} role={r} holders={holders(r.name)} removing={removing} onEdit={() => setEditing({ role: r, existing: true })} />
        ))}
      </Table>
      <p className="muted bi-small bi-flush">Built-in roles cannot be changed. Narrowing a role limits keys created from then on.</p>
    </div>
  );
}

interface RoleRowsProps {
  role: Role;
  /** How many users have the role. */
  holders: number;
  removing: Confirmation;
  onEdit: () => void;
}

/** The role's row, and under it the delete confirmation while it is open. */
function RoleRows({ role: r, holders, removing, onEdit }: RoleRowsProps) {
  return (
    <>
      <tr data-testid={`role-${r.name}`}>
        <td>
          <span className="bi-strong">{r.name}</span> {r.admin && <span className="badge badge-warning">admin</span>}{" "}
          {r.builtin && <span className="badge">built-in</span>}
          {r.description && <div className="muted bi-small">{r.description}</div>}
        </td>
        <td>
          <Patterns list={r.pub} none="nothing" />
        </td>
        <td>
          <Patterns list={r.sub} none="nothing" />
        </td>
        <td>{r.extensions.includes("*") ? "all" : <Patterns list={r.extensions} none="none" />}</td>
        <td>{holders}</td>
        <td>
          {!r.builtin && (
            <div className="bi-toolbar bi-nowrap">
              <button type="button" className="btn" onClick={onEdit}>
                <i className="fa-solid fa-pen" aria-hidden="true" /> Edit
              </button>
              <button type="button" className="btn bi-danger-outline" onClick={() => removing.ask(r.name)}>
                <i className="fa-solid fa-trash" aria-hidden="true" /> Delete
              </button>
            </div>
          )}
        </td>
      </tr>
      <ConfirmRow confirmation={removing} rowKey={r.name} columns={COLUMNS.length} action="Yes, delete" running="Deleting…">
        Delete role <strong>{r.name}</strong>? {holders > 0 ? `${holders} user(s) have it and lose what it grants.` : "No user has it."}
      </ConfirmRow>
    </>
  );
}

function Patterns({ list, none }: { list: string[]; none: string }) {
  if (list.length === 0) return <span className="muted">{none}</span>;
  return (
    <ul className="bi-list">
      {list.map((p) => (
        <li key={p}>
          <code>{p}</code>
        </li>
      ))}
    </ul>
  );
}
