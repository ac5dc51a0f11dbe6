// Editing a user in place under their row: display name, roles, and optionally a new password.
import type { FormEvent } from "react";
import { updateUser, type UserView } from "../api";
import { ErrorText } from "../shared/ErrorText";
import { FormButtons } from "../shared/FormButtons";
import { useFields } from "../shared/useFields";
import { useSubmit } from "../shared/useSubmit";
import { RoleChecks } from "./RoleChecks";
import { userFormProblem } from "./rules";

export function UserEditor({ user, roleNames, onDone }: { user: UserView; roleNames: string[]; onDone: (saved: boolean) => void }) {
  const fields = useFields({ displayName: user.display_name, roles: user.roles, password: "" });
  const { displayName, roles, password } = fields.values;
  const { busy, error, run, fail } = useSubmit();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const problem = userFormProblem(password, roles, true);
    if (problem) return fail(problem);
    void run(async () => {
      await updateUser(user.username, { display_name: displayName, roles, password: password || undefined });
      onDone(true);
    });
  };
  return (
    <form className="bi-form bi-inline-form" onSubmit={submit} data-testid="edit-user-form" noValidate>
      <div className="bi-form-row">
        <label>
          Display name
          <input {...fields.bind("displayName")} autoComplete="off" />
        </label>
        <label>
          New password (leave empty to keep)
          <input type="password" {...fields.bind("password")} autoComplete="new-password" />
        </label>
      </div>
      <fieldset className="bi-choice">
        <legend className="muted">Roles</legend>
        <RoleChecks names={roleNames} value={roles} onChange={(v) => fields.set("roles", v)} idPrefix={`edit-${user.username}`} />
      </fieldset>
      <ErrorText error={error} />
      <FormButtons busy={busy} label="Save" running="Saving…" onCancel={() => onDone(false)} />
    </form>
  );
}
