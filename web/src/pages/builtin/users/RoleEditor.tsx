// Creating or editing a custom role: what it may call and receive, which extensions it shows, and whether it
// administers the platform (docs/protocol.md §9.2).
import type { FormEvent } from "react";
import { putRole, type Role } from "../api";
import { ErrorText } from "../shared/ErrorText";
import { lines } from "../shared/format";
import { FormButtons } from "../shared/FormButtons";
import { useFields } from "../shared/useFields";
import { useSubmit } from "../shared/useSubmit";

export const EMPTY_ROLE: Role = { name: "", description: "", pub: [], sub: [], extensions: ["*"], admin: false };

export function RoleEditor({ initial, existing, onDone }: { initial: Role; existing: boolean; onDone: (saved: boolean) => void }) {
  const fields = useFields({
    name: initial.name,
    description: initial.description,
    pub: initial.pub.join("\n"),
    sub: initial.sub.join("\n"),
    extensions: initial.extensions.join("\n"),
    admin: initial.admin,
  });
  const { name, description, pub, sub, extensions, admin } = fields.values;
  const { busy, error, run, fail } = useSubmit();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim()) return fail("Enter a role name.");
    void run(async () => {
      await putRole({ name: name.trim(), description: description.trim(), pub: lines(pub), sub: lines(sub), extensions: lines(extensions), admin });
      onDone(true);
    });
  };
  return (
    <form className="card bi-form" onSubmit={submit} data-testid="role-form" noValidate>
      <h3>{existing ? `Edit role ${initial.name}` : "New role"}</h3>
      <div className="bi-form-row">
        <label>
          Name
          <input {...fields.bind("name")} readOnly={existing} spellCheck={false} placeholder="e.g. catalog-operator" />
        </label>
        <label>
          Description
          <input {...fields.bind("description")} placeholder="What people with this role do" />
        </label>
      </div>
      <div className="bi-form-row">
        <label>
          May call (publish)
          <textarea rows={3} {...fields.bind("pub")} placeholder="extensions.catalog.list" spellCheck={false} />
        </label>
        <label>
          May receive (subscribe)
          <textarea rows={3} {...fields.bind("sub")} placeholder="extensions.catalog.>" spellCheck={false} />
        </label>
        <label>
          Shows extensions
          <textarea rows={3} {...fields.bind("extensions")} placeholder={"* (all), or prefixes"} spellCheck={false} />
        </label>
      </div>
      <span className="muted bi-small">
        One subject pattern or prefix per line, in capability space (<code>extensions.&lt;prefix&gt;.…</code>; <code>*</code>{" "}
        is one token, <code>&gt;</code> the rest).
      </span>
      <label className="bi-check">
        <input type="checkbox" checked={admin} onChange={(e) => fields.set("admin", e.target.checked)} />
        <span>Administrator: manages users, roles, every key and the audit trail</span>
      </label>
      <ErrorText error={error} />
      <FormButtons busy={busy} label={existing ? "Save role" : "Create role"} running="Saving…" testId="save-role" onCancel={() => onDone(false)} />
    </form>
  );
}
