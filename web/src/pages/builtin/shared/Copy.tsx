// Copyable command lines and secrets: a code block with a copy button that falls back to selecting the text
// where the Clipboard API is unavailable.
import { useEffect, useRef, useState } from "react";

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
