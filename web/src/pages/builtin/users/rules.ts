// What the user forms check before asking the server, which checks the same again (docs/protocol.md §9.1).

export const MIN_PASSWORD = 12;

/** The first thing wrong with a user form's password and roles, or null. Editing may leave the password empty
 *  to keep the current one. */
export function userFormProblem(password: string, roles: string[], editing: boolean): string | null {
  if ((!editing || password) && password.length < MIN_PASSWORD) {
    return `The ${editing ? "new " : ""}password needs at least ${MIN_PASSWORD} characters.`;
  }
  if (roles.length === 0) return "Give the user at least one role.";
  return null;
}
