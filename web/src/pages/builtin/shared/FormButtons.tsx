// The buttons under a form: submit, saying what it is doing while the request runs, and Cancel for an editor
// that can be closed.

export function FormButtons({
  busy,
  label,
  running,
  icon,
  testId,
  onCancel,
}: {
  busy: boolean;
  label: string;
  /** The submit button while the request runs, e.g. "Saving…". */
  running: string;
  /** FontAwesome solid icon before the label, e.g. "fa-plus". */
  icon?: string;
  testId?: string;
  onCancel?: () => void;
}) {
  return (
    <div className="bi-toolbar">
      <button type="submit" className="btn btn-primary" disabled={busy} data-testid={testId}>
        {icon && <i className={`fa-solid ${icon}`} aria-hidden="true" />}
        {icon && " "}
        {busy ? running : label}
      </button>
      {onCancel && (
        <button type="button" className="btn" onClick={onCancel} disabled={busy}>
          Cancel
        </button>
      )}
    </div>
  );
}
