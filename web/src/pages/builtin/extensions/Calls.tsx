// Calling an extension from its detail page: an instance handler of one instance (`?instance=`, docs/protocol.md
// §12.2) or a declared command (§12.3). The reply, or the typed error, shows under the buttons.
import { useState } from "react";
import { ApiError, apiText } from "../../../api";
import { GATEWAY } from "./paths";

/** What the last call answered. */
export interface CallResult {
  label: string;
  ok: boolean;
  text: string;
}

/** Pretty-prints JSON replies; anything else as sent. */
function display(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

async function call(label: string, path: string, init: RequestInit): Promise<CallResult> {
  try {
    return { label, ok: true, text: display(await apiText(path, init)) };
  } catch (e) {
    const err = e as ApiError;
    return { label, ok: false, text: `${err.code ?? "error"}: ${err.message}${err.hint ? ` (${err.hint})` : ""}` };
  }
}

export const callInstanceHandler = (prefix: string, instance: string, name: string) =>
  call(
    `${name} on ${instance}`,
    `${GATEWAY}/${encodeURIComponent(prefix)}/${encodeURIComponent(name)}?instance=${encodeURIComponent(instance)}`,
    { method: "GET" },
  );

export const runCommand = (prefix: string, name: string) =>
  call(name, `/api/v1/extensions/${encodeURIComponent(prefix)}/commands/${encodeURIComponent(name)}`, {
    method: "POST",
    body: "{}",
  });

/** Runs `start` on click, one call at a time, and remembers what it answered. */
export function useCall() {
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<CallResult | undefined>();
  const run = async (start: () => Promise<CallResult>) => {
    setBusy(true);
    try {
      setResult(await start());
    } finally {
      setBusy(false);
    }
  };
  return { busy, result, run };
}

export function CallOutput({ result, testId }: { result?: CallResult; testId: string }) {
  if (!result) return null;
  return (
    <div className="bi-call" data-testid={testId} data-ok={result.ok}>
      <p className={result.ok ? "muted bi-small" : "form-error bi-small"}>{result.label}</p>
      <pre>{result.text}</pre>
    </div>
  );
}
