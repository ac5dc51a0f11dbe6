// One section of an extension's detail page: a heading with how many items it lists, "None." when it lists
// none; most list their items as a table.
import type { ReactNode } from "react";
import { Table, type Column } from "../shared/Table";

export function Section({ title, count, children, testId }: { title: string; count: number; children: ReactNode; testId: string }) {
  return (
    <section className="bi-section" data-testid={testId}>
      <h2>
        {title} <span className="bi-count">{count}</span>
      </h2>
      {count === 0 ? <p className="muted">None.</p> : children}
    </section>
  );
}

/** A section listing `items` as a table, one `row` each; `children` go under the table. */
export function TableSection<T>({
  title,
  testId,
  columns,
  items,
  row,
  children,
}: {
  title: string;
  testId: string;
  columns: Column[];
  items: T[];
  /** The item's <tr>, with its key. */
  row: (item: T) => ReactNode;
  children?: ReactNode;
}) {
  return (
    <Section title={title} count={items.length} testId={testId}>
      <Table columns={columns}>{items.map(row)}</Table>
      {children}
    </Section>
  );
}
