// Server and validation errors shown inline: the API's JSON error (`code`, `message`, `hint`) arrives as an
// `ApiError`; a page shows its message and, when the server sent one, its hint.
import { ApiError } from "../../../api";

/** The error's message, plus the server's hint when it sent one. */
export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.hint ? `${e.message} — ${e.hint}` : e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}

/** Nothing while `error` is null or undefined. */
export function ErrorText({ error, testId = "form-error" }: { error: unknown; testId?: string }) {
  if (error === null || error === undefined) return null;
  return (
    <p className="form-error" role="alert" data-testid={testId}>
      <i className="fa-solid fa-circle-exclamation" aria-hidden="true" /> {errorText(error)}
    </p>
  );
}
