// The users listed with their roles and status; each can be edited, disabled or enabled, and deleted after an
// inline confirmation that says which keys go with them (docs/protocol.md §9.1).
import { useState } from "react";
import { deleteUser, updateUser, type KeyView, type UserView } from "../api";
import { Confirm } from "../shared/Confirm";
import { ErrorText } from "../shared/ErrorText";
import { ACTIONS, RowPanel, Table } from "../shared/Table";
import { Time } from "../shared/Time";
import { useSubmit } from "../shared/useSubmit";
import { UserEditor } from "./UserEditor";

const COLUMNS = ["User", "Roles", "Status", "Source", "Created", ACTIONS];

type RowAction = { kind: "edit" | "delete"; user: string } | null;

interface UserTableProps {
  users: UserView[];
  roleNames: string[];
  keys: KeyView[];
  me: string;
  reload: () => Promise<void>;
}

export function UserTable({ users, roleNames, keys, me, reload }: UserTableProps) {
  const [action, setAction] = useState<RowAction>(null);
  // One request at a time; `target` is the user it is for, whose row shows its busy state and error.
  const request = useSubmit();
  const [target, setTarget] = useState<string | null>(null);
  const sorted = [...users].sort((a, b) => a.username.localeCompare(b.username));

  const run = (username: string, f: () => Promise<unknown>) => {
    setTarget(username);
    void request.run(async () => {
      await f();
      setAction(null);
      await reload();
    });
  };

  if (sorted.length === 0) return <p className="muted">No users.</p>;
  return (
    <Table columns={COLUMNS} testId="user-table">
      {sorted.map((u) => (
        <UserRows
          key={u.username}
          u={u}
          self={u.username === me}
          liveKeys={keys.filter((k) => k.owner === u.username && !k.revoked).length}
          open={action?.user === u.username ? action.kind : null}
          busy={request.busy && target === u.username}
          error={target === u.username ? request.error : null}
          roleNames={roleNames}
          setOpen={(kind) => setAction(kind && { kind, user: u.username })}
          onToggleDisabled={() => run(u.username, () => updateUser(u.username, { disabled: !u.disabled }))}
          onDelete={() => run(u.username, () => deleteUser(u.username))}
          onEdited={(saved) => {
            setAction(null);
            if (saved) void reload();
          }}
        />
      ))}
    </Table>
  );
}

interface UserRowsProps {
  u: UserView;
  self: boolean;
  /** Keys and registration tokens the user owns that are not revoked. */
  liveKeys: number;
  open: "edit" | "delete" | null;
  busy: boolean;
  error: unknown;
  roleNames: string[];
  setOpen: (kind: "edit" | "delete" | null) => void;
  onToggleDisabled: () => void;
  onDelete: () => void;
  onEdited: (saved: boolean) => void;
}

/** The user's row, and under it their editor, the delete confirmation or the last request's error. */
function UserRows({ u, self, liveKeys, open, busy, error, roleNames, setOpen, onToggleDisabled, onDelete, onEdited }: UserRowsProps) {
  return (
    <>
      <tr data-testid={`user-${u.username}`}>
        <td className="bi-col-main">
          <span className="bi-strong">{u.username}</span>
          {self && <span className="muted bi-nowrap"> (you)</span>}
          {u.display_name && <div className="muted bi-small">{u.display_name}</div>}
        </td>
        <td>
          <span className="bi-chips">
            {u.roles.map((r) => (
              <span className="bi-chip" key={r}>
                {r}
              </span>
            ))}
          </span>
        </td>
        <td>
          <span className={`badge ${u.disabled ? "badge-inactive" : "badge-ok"}`} data-testid="user-status">
            {u.disabled ? "Disabled" : "Active"}
          </span>
        </td>
        <td>{u.source}</td>
        <td className="bi-nowrap">
          <Time value={u.created_at} />
        </td>
        <td>
          <UserActions u={u} self={self} open={open} busy={busy} setOpen={setOpen} onToggleDisabled={onToggleDisabled} />
        </td>
      </tr>
      {(open !== null || error != null) && (
        <RowPanel columns={COLUMNS.length}>
          {open === "edit" && <UserEditor user={u} roleNames={roleNames} onDone={onEdited} />}
          {open === "delete" && (
            <Confirm action="Yes, delete" running="Deleting…" busy={busy} onConfirm={onDelete} onCancel={() => setOpen(null)} testId="delete-confirm">
              Delete user <strong>{u.username}</strong>?{" "}
              {liveKeys > 0
                ? `Their ${liveKeys} key(s) and registration token(s) are revoked at once, and extensions running with them are disconnected.`
                : "They own no active keys."}{" "}
              This cannot be undone.
            </Confirm>
          )}
          {open !== "edit" && <ErrorText error={error} />}
        </RowPanel>
      )}
    </>
  );
}

/** Edit; and for anyone but yourself, disable or enable, and delete. */
function UserActions({ u, self, open, busy, setOpen, onToggleDisabled }: Pick<UserRowsProps, "u" | "self" | "open" | "busy" | "setOpen" | "onToggleDisabled">) {
  return (
    <div className="bi-toolbar bi-nowrap">
      <button type="button" className="btn" onClick={() => setOpen("edit")} disabled={open === "edit"}>
        <i className="fa-solid fa-pen" aria-hidden="true" /> Edit
      </button>
      {!self && (
        <button
          type="button"
          className="btn"
          disabled={busy}
          title={u.disabled ? "Let the user sign in again" : "End the user's sign-ins at once; their keys keep working"}
          onClick={onToggleDisabled}
        >
          <i className={`fa-solid ${u.disabled ? "fa-user-check" : "fa-user-slash"}`} aria-hidden="true" /> {u.disabled ? "Enable" : "Disable"}
        </button>
      )}
      {!self && (
        <button type="button" className="btn bi-danger-outline" onClick={() => setOpen("delete")} disabled={open === "delete"}>
          <i className="fa-solid fa-trash" aria-hidden="true" /> Delete
        </button>
      )}
    </div>
  );
}
