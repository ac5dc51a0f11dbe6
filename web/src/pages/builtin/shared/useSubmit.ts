// Sending a change to the server from a form or a button: a busy flag while the request runs, and the error
// to show (the API's JSON error as an `ApiError`, or a validation message) — cleared when the next attempt
// starts.
import { useCallback, useEffect, useRef, useState } from "react";

export interface Submit {
  /** A request is running: disable the button that started it. */
  busy: boolean;
  /** The last attempt's error, or a validation message from `fail`; null when there is none. */
  error: unknown;
  /** Runs `task` (the request and what follows its success); on a throw keeps the error instead. Resolves to
   *  whether it succeeded. */
  run: (task: () => Promise<void>) => Promise<boolean>;
  /** Shows `message` as the error without asking the server (a form's own validation). */
  fail: (message: string) => void;
  /** Clears the error, e.g. when the confirmation it belonged to is opened again. */
  reset: () => void;
}

export function useSubmit(): Submit {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const alive = useRef(true);
  useEffect(() => {
    alive.current = true;
    return () => {
      alive.current = false;
    };
  }, []);
  const run = useCallback(async (task: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await task();
      return true;
    } catch (e) {
      if (alive.current) setError(e);
      return false;
    } finally {
      // A success callback may have closed the form that owns this hook.
      if (alive.current) setBusy(false);
    }
  }, []);
  const fail = useCallback((message: string) => setError(new Error(message)), []);
  const reset = useCallback(() => setError(null), []);
  return { busy, error, run, fail, reset };
}
