// The inline "are you sure?" of destructive actions: what will happen, a danger button that says what it is
// doing while the request runs, and Cancel; and the state of such a confirmation under the rows of a table.
import { useState, type ReactNode } from "react";
import { ErrorText } from "./ErrorText";
import { RowPanel } from "./Table";
import { useSubmit } from "./useSubmit";

export function Confirm({
  children,
  action,
  running,
  busy,
  onConfirm,
  onCancel,
  testId,
}: {
  /** What the action does, ending in a question. */
  children: ReactNode;
  /** The confirm button, e.g. "Yes, revoke". */
  action: string;
  /** The confirm button while the request runs, e.g. "Revoking…". */
  running: string;
  busy: boolean;
  onConfirm: () => void;
  onCancel: () => void;
  testId?: string;
}) {
  return (
    <div className="bi-confirm" data-testid={testId}>
      <span>{children}</span>
      <button type="button" className="btn btn-danger" onClick={onConfirm} disabled={busy}>
        {busy ? running : action}
      </button>
      <button type="button" className="btn" onClick={onCancel} disabled={busy}>
        Cancel
      </button>
    </div>
  );
}

/** A destructive action on one of a table's rows, asked for before it runs. */
export interface Confirmation {
  /** The row whose confirmation is open, or null. */
  asking: string | null;
  busy: boolean;
  error: unknown;
  /** Opens the confirmation for `key` (and forgets the last attempt's error). */
  ask: (key: string) => void;
  cancel: () => void;
  /** Runs the action for `key`; on success closes the confirmation and reloads the table. */
  confirm: (key: string) => void;
}

export function useConfirm(act: (key: string) => Promise<unknown>, reload: () => Promise<void>): Confirmation {
  const [asking, setAsking] = useState<string | null>(null);
  const submit = useSubmit();
  return {
    asking,
    busy: submit.busy,
    error: submit.error,
    ask: (key) => {
      setAsking(key);
      submit.reset();
    },
    cancel: () => setAsking(null),
    confirm: (key) =>
      void submit.run(async () => {
        await act(key);
        setAsking(null);
        await reload();
      }),
  };
}

/** The open confirmation of `confirmation` as a row under the row `rowKey`, with the error of the last attempt. */
export function ConfirmRow({
  confirmation,
  rowKey,
  columns,
  action,
  running,
  testId,
  children,
}: {
  confirmation: Confirmation;
  rowKey: string;
  /** How many columns the table has. */
  columns: number;
  action: string;
  running: string;
  testId?: string;
  children: ReactNode;
}) {
  if (confirmation.asking !== rowKey) return null;
  return (
    <RowPanel columns={columns} testId={testId}>
      <Confirm action={action} running={running} busy={confirmation.busy} onConfirm={() => confirmation.confirm(rowKey)} onCancel={confirmation.cancel}>
        {children}
      </Confirm>
      <ErrorText error={confirmation.error} />
    </RowPanel>
  );
}
