// "Users and Roles" (administrators): local users — create, edit display name, roles and password, disable or
// enable, delete — and the roles with what they grant; custom roles can be created, edited and deleted
// (docs/protocol.md §9.1, §9.2).
import { useEffect, useState, type FormEvent } from "react";
import {
  createUser,
  deleteRole,
  deleteUser,
  listKeys,
  listRoles,
  listUsers,
  putRole,
  updateUser,
  type KeyView,
  type Role,
  type UserView,
} from "./api";
import { ErrorText, Field, lines, NotFound, TableWrap, Time, useLoad } from "./common";
import type { BuiltinPageProps } from "./index";

const BASE = "/platform/users";
const DEFAULT_ROLE = "viewer";
const MIN_PASSWORD = 12;

export default function Users({ path, user, setMeta }: BuiltinPageProps) {
  useEffect(() => {
    setMeta({ title: "Users and Roles" });
  }, [setMeta]);
  if (path !== BASE) return <NotFound path={path} what="Users and Roles is a single page." back={[BASE, "Users and Roles"]} />;
  if (!user.admin) {
    return (
      <div className="page bi-page">
        <h1>Users and Roles</h1>
        <div className="card card-muted" data-testid="admins-only">
          <p>Only administrators (role <code>symphony-admin</code>) manage users and roles.</p>
          <p className="muted">Your roles: {user.roles?.join(", ") || "none"}.</p>
        </div>
      </div>
    );
  }
  return <Admin me={user.username ?? ""} />;
}

function Admin({ me }: { me: string }) {
  const users = useLoad(listUsers);
  const roles = useLoad(listRoles);
  const keys = useLoad(listKeys);
  const roleNames = (roles.data ?? []).map((r) => r.name);
  return (
    <div className="page bi-page" data-testid="platform-users">
      <h1>Users and Roles</h1>
      <p className="muted">
        People sign in with a local user. What they see and may call is the union of their roles; the keys and
        registration tokens they create are bounded by those roles too.
      </p>
      <CreateUserForm roleNames={roleNames} onCreated={() => void users.reload()} />
      <section className="bi-section">
        <div className="bi-toolbar bi-spread">
          <h2>Users</h2>
          <button type="button" className="btn" onClick={() => void Promise.all([users.reload(), keys.reload()])} disabled={users.loading}>
            <i className="fa-solid fa-rotate" aria-hidden="true" /> Refresh
          </button>
        </div>
        <ErrorText error={users.error} testId="load-error" />
        {!users.data && users.loading && <p className="muted">Loading…</p>}
        {users.data && (
          <UserTable
            users={users.data}
            roleNames={roleNames}
            keys={keys.data ?? []}
            me={me}
            reload={async () => {
              await Promise.all([users.reload(), keys.reload()]);
            }}
          />
        )}
      </section>
      <section className="bi-section">
        <div className="bi-toolbar bi-spread">
          <h2>Roles</h2>
          <button type="button" className="btn" onClick={() => void roles.reload()} disabled={roles.loading}>
            <i className="fa-solid fa-rotate" aria-hidden="true" /> Refresh
          </button>
        </div>
        <ErrorText error={roles.error} testId="load-error" />
        {roles.data && <RolesSection roles={roles.data} users={users.data ?? []} reload={roles.reload} />}
      </section>
    </div>
  );
}

function RoleChecks({ names, value, onChange, idPrefix }: { names: string[]; value: string[]; onChange: (v: string[]) => void; idPrefix: string }) {
  if (names.length === 0) return <p className="muted bi-small">Loading roles…</p>;
  return (
    <div className="bi-checks" role="group">
      {names.map((n) => (
        <label className="bi-check" key={n}>
          <input
            type="checkbox"
            name={`${idPrefix}-role`}
            value={n}
            checked={value.includes(n)}
            onChange={(e) => onChange(e.target.checked ? [...value, n] : value.filter((r) => r !== n))}
          />
          <span>{n}</span>
        </label>
      ))}
    </div>
  );
}

function CreateUserForm({ roleNames, onCreated }: { roleNames: string[]; onCreated: () => void }) {
  const [username, setUsername] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [password, setPassword] = useState("");
  const [roles, setRoles] = useState<string[]>([DEFAULT_ROLE]);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<string | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setDone(null);
    if (!username.trim()) return setError(new Error("Enter a username."));
    if (password.length < MIN_PASSWORD) return setError(new Error(`The password needs at least ${MIN_PASSWORD} characters.`));
    if (roles.length === 0) return setError(new Error("Give the user at least one role."));
    setBusy(true);
    setError(null);
    try {
      const created = await createUser({ username: username.trim(), password, display_name: displayName.trim(), roles });
      setDone(created.username);
      setUsername("");
      setDisplayName("");
      setPassword("");
      setRoles([DEFAULT_ROLE]);
      onCreated();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card bi-form" onSubmit={submit} data-testid="create-user-form" noValidate>
      <h3>Create a user</h3>
      <div className="bi-form-row">
        <label>
          Username
          <input value={username} onChange={(e) => setUsername(e.target.value)} autoComplete="off" spellCheck={false} placeholder="e.g. jane.doe" />
        </label>
        <label>
          Display name (optional)
          <input value={displayName} onChange={(e) => setDisplayName(e.target.value)} autoComplete="off" placeholder="e.g. Jane Doe" />
        </label>
      </div>
      <Field label="Initial password" hint={`At least ${MIN_PASSWORD} characters. Give it to the user through a safe channel.`}>
        {(c) => <input {...c} type="password" value={password} onChange={(e) => setPassword(e.target.value)} autoComplete="new-password" />}
      </Field>
      <fieldset className="bi-choice">
        <legend className="muted">Roles</legend>
        <RoleChecks names={roleNames} value={roles} onChange={setRoles} idPrefix="new" />
      </fieldset>
      <ErrorText error={error} />
      {done && (
        <p className="bi-ok" role="status">
          <i className="fa-solid fa-check" aria-hidden="true" /> User {done} created.
        </p>
      )}
      <div className="bi-toolbar">
        <button type="submit" className="btn btn-primary" disabled={busy} data-testid="create-user">
          <i className="fa-solid fa-user-plus" aria-hidden="true" /> {busy ? "Creating…" : "Create user"}
        </button>
      </div>
    </form>
  );
}

function UserEditor({ user, roleNames, onDone }: { user: UserView; roleNames: string[]; onDone: (saved: boolean) => void }) {
  const [displayName, setDisplayName] = useState(user.display_name);
  const [roles, setRoles] = useState<string[]>(user.roles);
  const [password, setPassword] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (password && password.length < MIN_PASSWORD) return setError(new Error(`The new password needs at least ${MIN_PASSWORD} characters.`));
    if (roles.length === 0) return setError(new Error("Give the user at least one role."));
    setBusy(true);
    setError(null);
    try {
      await updateUser(user.username, { display_name: displayName, roles, password: password || undefined });
      onDone(true);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <form className="bi-form bi-inline-form" onSubmit={submit} data-testid="edit-user-form" noValidate>
      <div className="bi-form-row">
        <label>
          Display name
          <input value={displayName} onChange={(e) => setDisplayName(e.target.value)} autoComplete="off" />
        </label>
        <label>
          New password (leave empty to keep)
          <input type="password" value={password} onChange={(e) => setPassword(e.target.value)} autoComplete="new-password" />
        </label>
      </div>
      <fieldset className="bi-choice">
        <legend className="muted">Roles</legend>
        <RoleChecks names={roleNames} value={roles} onChange={setRoles} idPrefix={`edit-${user.username}`} />
      </fieldset>
      <ErrorText error={error} />
      <div className="bi-toolbar">
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {busy ? "Saving…" : "Save"}
        </button>
        <button type="button" className="btn" onClick={() => onDone(false)} disabled={busy}>
          Cancel
        </button>
      </div>
    </form>
  );
}

type RowAction = { kind: "edit" | "delete"; user: string } | null;

function UserTable({ users, roleNames, keys, me, reload }: { users: UserView[]; roleNames: string[]; keys: KeyView[]; me: string; reload: () => Promise<void> }) {
  const [action, setAction] = useState<RowAction>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [rowError, setRowError] = useState<{ user: string; error: unknown } | null>(null);
  const sorted = [...users].sort((a, b) => a.username.localeCompare(b.username));

  const run = async (username: string, f: () => Promise<unknown>) => {
    setBusy(username);
    setRowError(null);
    try {
      await f();
      setAction(null);
      await reload();
    } catch (e) {
      setRowError({ user: username, error: e });
    } finally {
      setBusy(null);
    }
  };

  if (sorted.length === 0) return <p className="muted">No users.</p>;
  return (
    <TableWrap testId="user-table">
      <thead>
        <tr>
          <th>User</th>
          <th>Roles</th>
          <th>Status</th>
          <th>Source</th>
          <th>Created</th>
          <th>
            <span className="bi-sr">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {sorted.map((u) => {
          const self = u.username === me;
          const liveKeys = keys.filter((k) => k.owner === u.username && !k.revoked).length;
          const open = action?.user === u.username ? action.kind : null;
          const error = rowError?.user === u.username ? rowError.error : null;
          return [
            <tr key={u.username} data-testid={`user-${u.username}`}>
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
                <div className="bi-toolbar bi-nowrap">
                  <button type="button" className="btn" onClick={() => setAction({ kind: "edit", user: u.username })} disabled={open === "edit"}>
                    <i className="fa-solid fa-pen" aria-hidden="true" /> Edit
                  </button>
                  {!self && (
                    <button
                      type="button"
                      className="btn"
                      disabled={busy === u.username}
                      title={u.disabled ? "Let the user sign in again" : "End the user's sign-ins at once; their keys keep working"}
                      onClick={() => void run(u.username, () => updateUser(u.username, { disabled: !u.disabled }))}
                    >
                      <i className={`fa-solid ${u.disabled ? "fa-user-check" : "fa-user-slash"}`} aria-hidden="true" /> {u.disabled ? "Enable" : "Disable"}
                    </button>
                  )}
                  {!self && (
                    <button type="button" className="btn bi-danger-outline" onClick={() => setAction({ kind: "delete", user: u.username })} disabled={open === "delete"}>
                      <i className="fa-solid fa-trash" aria-hidden="true" /> Delete
                    </button>
                  )}
                </div>
              </td>
            </tr>,
            (open !== null || error != null) && (
              <tr key={`${u.username}-more`} className="bi-confirm-row">
                <td colSpan={6}>
                  {open === "edit" && (
                    <UserEditor
                      user={u}
                      roleNames={roleNames}
                      onDone={(saved) => {
                        setAction(null);
                        if (saved) void reload();
                      }}
                    />
                  )}
                  {open === "delete" && (
                    <div className="bi-confirm" data-testid="delete-confirm">
                      <span>
                        Delete user <strong>{u.username}</strong>?{" "}
                        {liveKeys > 0
                          ? `Their ${liveKeys} key(s) and registration token(s) are revoked at once, and extensions running with them are disconnected.`
                          : "They own no active keys."}{" "}
                        This cannot be undone.
                      </span>
                      <button type="button" className="btn btn-danger" disabled={busy === u.username} onClick={() => void run(u.username, () => deleteUser(u.username))}>
                        {busy === u.username ? "Deleting…" : "Yes, delete"}
                      </button>
                      <button type="button" className="btn" onClick={() => setAction(null)} disabled={busy === u.username}>
                        Cancel
                      </button>
                    </div>
                  )}
                  {open !== "edit" && <ErrorText error={error} />}
                </td>
              </tr>
            ),
          ];
        })}
      </tbody>
    </TableWrap>
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

const EMPTY_ROLE: Role = { name: "", description: "", pub: [], sub: [], extensions: ["*"], admin: false };

function RoleEditor({ initial, existing, onDone }: { initial: Role; existing: boolean; onDone: (saved: boolean) => void }) {
  const [name, setName] = useState(initial.name);
  const [description, setDescription] = useState(initial.description);
  const [pub, setPub] = useState(initial.pub.join("\n"));
  const [sub, setSub] = useState(initial.sub.join("\n"));
  const [extensions, setExtensions] = useState(initial.extensions.join("\n"));
  const [admin, setAdmin] = useState(initial.admin);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim()) return setError(new Error("Enter a role name."));
    setBusy(true);
    setError(null);
    try {
      await putRole({ name: name.trim(), description: description.trim(), pub: lines(pub), sub: lines(sub), extensions: lines(extensions), admin });
      onDone(true);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <form className="card bi-form" onSubmit={submit} data-testid="role-form" noValidate>
      <h3>{existing ? `Edit role ${initial.name}` : "New role"}</h3>
      <div className="bi-form-row">
        <label>
          Name
          <input value={name} onChange={(e) => setName(e.target.value)} readOnly={existing} spellCheck={false} placeholder="e.g. catalog-operator" />
        </label>
        <label>
          Description
          <input value={description} onChange={(e) => setDescription(e.target.value)} placeholder="What people with this role do" />
        </label>
      </div>
      <div className="bi-form-row">
        <label>
          May call (publish)
          <textarea rows={3} value={pub} onChange={(e) => setPub(e.target.value)} placeholder="extensions.catalog.list" spellCheck={false} />
        </label>
        <label>
          May receive (subscribe)
          <textarea rows={3} value={sub} onChange={(e) => setSub(e.target.value)} placeholder="extensions.catalog.>" spellCheck={false} />
        </label>
        <label>
          Shows extensions
          <textarea rows={3} value={extensions} onChange={(e) => setExtensions(e.target.value)} placeholder={"* (all), or prefixes"} spellCheck={false} />
        </label>
      </div>
      <span className="muted bi-small">
        One subject pattern or prefix per line, in capability space (<code>extensions.&lt;prefix&gt;.…</code>; <code>*</code>{" "}
        is one token, <code>&gt;</code> the rest).
      </span>
      <label className="bi-check">
        <input type="checkbox" checked={admin} onChange={(e) => setAdmin(e.target.checked)} />
        <span>Administrator: manages users, roles, every key and the audit trail</span>
      </label>
      <ErrorText error={error} />
      <div className="bi-toolbar">
        <button type="submit" className="btn btn-primary" disabled={busy} data-testid="save-role">
          {busy ? "Saving…" : existing ? "Save role" : "Create role"}
        </button>
        <button type="button" className="btn" onClick={() => onDone(false)} disabled={busy}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function RolesSection({ roles, users, reload }: { roles: Role[]; users: UserView[]; reload: () => Promise<void> }) {
  const [editing, setEditing] = useState<{ role: Role; existing: boolean } | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const holders = (name: string) => users.filter((u) => u.roles.includes(name)).length;

  const remove = async (name: string) => {
    setBusy(true);
    setError(null);
    try {
      await deleteRole(name);
      setConfirming(null);
      await reload();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

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
      <TableWrap testId="role-table">
        <thead>
          <tr>
            <th>Role</th>
            <th>May call (publish)</th>
            <th>May receive (subscribe)</th>
            <th>Shows extensions</th>
            <th>Users</th>
            <th>
              <span className="bi-sr">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {roles.map((r) => [
            <tr key={r.name} data-testid={`role-${r.name}`}>
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
              <td>{holders(r.name)}</td>
              <td>
                {!r.builtin && (
                  <div className="bi-toolbar bi-nowrap">
                    <button type="button" className="btn" onClick={() => setEditing({ role: r, existing: true })}>
                      <i className="fa-solid fa-pen" aria-hidden="true" /> Edit
                    </button>
                    <button
                      type="button"
                      className="btn bi-danger-outline"
                      onClick={() => {
                        setConfirming(r.name);
                        setError(null);
                      }}
                    >
                      <i className="fa-solid fa-trash" aria-hidden="true" /> Delete
                    </button>
                  </div>
                )}
              </td>
            </tr>,
            confirming === r.name && (
              <tr key={`${r.name}-confirm`} className="bi-confirm-row">
                <td colSpan={6}>
                  <div className="bi-confirm">
                    <span>
                      Delete role <strong>{r.name}</strong>?{" "}
                      {holders(r.name) > 0 ? `${holders(r.name)} user(s) have it and lose what it grants.` : "No user has it."}
                    </span>
                    <button type="button" className="btn btn-danger" disabled={busy} onClick={() => void remove(r.name)}>
                      {busy ? "Deleting…" : "Yes, delete"}
                    </button>
                    <button type="button" className="btn" disabled={busy} onClick={() => setConfirming(null)}>
                      Cancel
                    </button>
                  </div>
                  <ErrorText error={error} />
                </td>
              </tr>
            ),
          ])}
        </tbody>
      </TableWrap>
      <p className="muted bi-small bi-flush">Built-in roles cannot be changed. Narrowing a role limits keys created from then on.</p>
    </div>
  );
}
