// The pages' tables: a header row of column names over the rows a page renders, in a wrapper that scrolls
// sideways on narrow screens; and the full-width row under a table row that holds its confirmation or editor.
import type { ReactNode } from "react";

/** A column heading: its text, or its text and a tooltip. */
export type Column = string | { label: ReactNode; title?: string };

/** The last column of tables with per-row buttons: named for screen readers only. */
export const ACTIONS: Column = { label: <span className="bi-sr">Actions</span> };

export function Table({ columns, testId, children }: { columns: Column[]; testId?: string; children: ReactNode }) {
  return (
    <div className="bi-table-wrap" data-testid={testId}>
      <table className="bi-table">
        <thead>
          <tr>
            {columns.map((c, i) =>
              typeof c === "string" ? (
                <th key={i}>{c}</th>
              ) : (
                <th key={i} title={c.title}>
                  {c.label}
                </th>
              ),
            )}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}

/** A row spanning `columns` cells under the row it belongs to (a confirmation, an editor, an error). */
export function RowPanel({ columns, testId, children }: { columns: number; testId?: string; children: ReactNode }) {
  return (
    <tr className="bi-confirm-row" data-testid={testId}>
      <td colSpan={columns}>{children}</td>
    </tr>
  );
}
