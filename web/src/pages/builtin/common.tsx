// Small pieces the built-in pages share: in-shell links, copyable command lines, scrolling tables, times,
// server errors shown inline, and a loader hook.
import { useCallback, useEffect, useId, useRef, useState, type MouseEvent, type ReactNode } from "react";
import { ApiError } from "../../api";
import { navigate } from "../../router";
import "./builtin.css";

export function Link({ to, children, className, testId }: { to: string; children: ReactNode; className?: string; testId?: string }) {
  const onClick = (e: MouseEvent<HTMLAnchorElement>) => {
    if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    navigate(to);
  };
  return (
    <a href={to} className={className} onClick={onClick} data-testid={testId}>
      {children}
    </a>
  );
}

/** The error's message, plus the server's hint when it sent one. */
export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.hint ? `${e.message} — ${e.hint}` : e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}

export function ErrorText({ error, testId = "form-error" }: { error: unknown; testId?: string }) {
  if (error === null || error === undefined) return null;
  return (
    <p className="form-error" role="alert" data-testid={testId}>
      <i className="fa-solid fa-circle-exclamation" aria-hidden="true" /> {errorText(error)}
    </p>
  );
}

/** Copies `text`; where the Clipboard API is unavailable (plain http on another host) or refused, selects
 *  the text in `fallback` so the operator can press Ctrl+C. */
export async function copyText(text: string, fallback: HTMLElement | null): Promise<"copied" | "selected"> {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return "copied";
    }
  } catch {
    // fall through to selecting the text
  }
  if (fallback) {
    const selection = window.getSelection();
    const range = document.createRange();
    range.selectNodeContents(fallback);
    selection?.removeAllRanges();
    selection?.addRange(range);
    try {
      if (document.execCommand("copy")) return "copied";
    } catch {
      // selected; the operator copies by hand
    }
  }
  return "selected";
}

export function CopyButton({ text, target, label = "Copy", testId }: { text: string; target: () => HTMLElement | null; label?: string; testId?: string }) {
  const [state, setState] = useState<"idle" | "copied" | "selected">("idle");
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  const onClick = async () => {
    setState(await copyText(text, target()));
    clearTimeout(timer.current);
    timer.current = setTimeout(() => setState("idle"), 2500);
  };
  return (
    <button type="button" className="btn bi-copy-btn" onClick={onClick} data-testid={testId} aria-live="polite">
      <i className={state === "copied" ? "fa-solid fa-check" : "fa-regular fa-copy"} aria-hidden="true" />
      {state === "copied" ? "Copied" : state === "selected" ? "Selected — press Ctrl+C" : label}
    </button>
  );
}

/** A command line or secret in a code block with a copy button next to it. */
export function CopyBlock({ text, testId, label }: { text: string; testId?: string; label?: string }) {
  const ref = useRef<HTMLElement>(null);
  return (
    <div className="bi-copy">
      <pre>
        <code ref={ref} data-testid={testId}>
          {text}
        </code>
      </pre>
      <CopyButton text={text} target={() => ref.current} label={label} testId={testId ? `${testId}-copy` : undefined} />
    </div>
  );
}

/** A labelled form control with a hint under it that is its description, not part of its name. */
export function Field({ label, hint, children }: { label: ReactNode; hint?: ReactNode; children: (control: { id: string; "aria-describedby"?: string }) => ReactNode }) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : undefined;
  return (
    <div className="bi-field">
      <label htmlFor={id}>{label}</label>
      {children({ id, "aria-describedby": hintId })}
      {hint && (
        <span id={hintId} className="muted bi-small">
          {hint}
        </span>
      )}
    </div>
  );
}

/** Tables scroll sideways inside this wrapper on narrow screens. */
export function TableWrap({ children, testId }: { children: ReactNode; testId?: string }) {
  return (
    <div className="bi-table-wrap" data-testid={testId}>
      <table className="bi-table">{children}</table>
    </div>
  );
}

/** Local date and time, the RFC 3339 value on hover. */
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

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function NotFound({ path, what, back }: { path: string; what: string; back: [string, string] }) {
  return (
    <div className="card card-muted" data-testid="not-found">
      <h3>No page at {path}</h3>
      <p className="muted">{what}</p>
      <Link to={back[0]} className="btn">
        <i className="fa-solid fa-arrow-left" aria-hidden="true" /> {back[1]}
      </Link>
    </div>
  );
}

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => Promise<void>;
}

/** Loads `fetcher()` on mount and on `reload()`; keeps the last data while reloading. */
export function useLoad<T>(fetcher: () => Promise<T>): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const fetchRef = useRef(fetcher);
  fetchRef.current = fetcher;
  const alive = useRef(true);
  const reload = useCallback(async () => {
    setLoading(true);
    try {
      const value = await fetchRef.current();
      if (alive.current) {
        setData(value);
        setError(null);
      }
    } catch (e) {
      if (alive.current) setError(e);
    } finally {
      if (alive.current) setLoading(false);
    }
  }, []);
  useEffect(() => {
    alive.current = true;
    void reload();
    return () => {
      alive.current = false;
    };
  }, [reload]);
  return { data, error, loading, reload };
}

/** Splits a textarea into its non-empty trimmed lines (commas also separate). */
export function lines(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);
}
