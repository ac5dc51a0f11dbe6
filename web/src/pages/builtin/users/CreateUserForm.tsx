// Creating a local user with an initial password and roles (docs/protocol.md §9.1).
import { useState, type FormEvent } from "react";
import { createUser } from "../api";
import { ErrorText } from "../shared/ErrorText";
import { Field } from "../shared/Field";
import { FormButtons } from "../shared/FormButtons";
import { useFields } from "../shared/useFields";
import { useSubmit } from "../shared/useSubmit";
import { RoleChecks } from "./RoleChecks";
import { MIN_PASSWORD, userFormProblem } from "./rules";

const DEFAULT_ROLE = "viewer";
const EMPTY = { username: "", displayName: "", password: "", roles: [DEFAULT_ROLE] };

export function CreateUserForm({ roleNames, onCreated }: { roleNames: string[]; onCreated: () => void }) {
  const fields = useFields(EMPTY);
  const { username, displayName, password, roles } = fields.values;
  const { busy, error, run, fail } = useSubmit();
  const [done, setDone] = useState<string | null>(null);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    setDone(null);
    if (!username.trim()) return fail("Enter a username.");
    const problem = userFormProblem(password, roles, false);
    if (problem) return fail(problem);
    void run(async () => {
      const created = await createUser({ username: username.trim(), password, display_name: displayName.trim(), roles });
      setDone(created.username);
      fields.reset();
      onCreated();
    });
  };

  return (
    <form className="card bi-form" onSubmit={submit} data-testid="create-user-form" noValidate>
      <h3>Create a user</h3>
      <div className="bi-form-row">
        <label>
          Username
          <input {...fields.bind("username")} autoComplete="off" spellCheck={false} placeholder="e.g. jane.doe" />
        </label>
        <label>
          Display name (optional)
          <input {...fields.bind("displayName")} autoComplete="off" placeholder="e.g. Jane Doe" />
        </label>
      </div>
      <Field label="Initial password" hint={`At least ${MIN_PASSWORD} characters. Give it to the user through a safe channel.`}>
        {(c) => <input {...c} type="password" {...fields.bind("password")} autoComplete="new-password" />}
      </Field>
      <fieldset className="bi-choice">
        <legend className="muted">Roles</legend>
        <RoleChecks names={roleNames} value={roles} onChange={(v) => fields.set("roles", v)} idPrefix="new" />
      </fieldset>
      <ErrorText error={error} />
      {done && (
        <p className="bi-ok" role="status">
          <i className="fa-solid fa-check" aria-hidden="true" /> User {done} created.
        </p>
      )}
      <FormButtons busy={busy} icon="fa-user-plus" label="Create user" running="Creating…" testId="create-user" />
    </form>
  );
}
