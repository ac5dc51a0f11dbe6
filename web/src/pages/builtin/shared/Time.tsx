// Timestamps as local date and time, the RFC 3339 value on hover; alone or as a small labelled list.
import { Fragment } from "react";

export function Time({ value, empty = "—" }: { value: string | null | undefined; empty?: string }) {
  if (!value) return <span className="muted">{empty}</span>;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return <span>{value}</span>;
  return (
    <time dateTime={value} title={value}>
      {d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" })}
    </time>
  );
}

/** Labelled times in a table cell: `[label, value, what an unset value reads as]`. */
export function Dates({ dates }: { dates: [label: string, value: string | null | undefined, empty?: string][] }) {
  return (
    <dl className="bi-dates">
      {dates.map(([label, value, empty]) => (
        <Fragment key={label}>
          <dt>{label}</dt>
          <dd>
            <Time value={value} empty={empty} />
          </dd>
        </Fragment>
      ))}
    </dl>
  );
}
