// A form's field values in one state object: set one, bind a text input or textarea to one, or reset them all
// to where the form started (after a successful create).
import { useCallback, useRef, useState, type ChangeEvent } from "react";

type StringKeys<T> = { [K in keyof T]: T[K] extends string ? K : never }[keyof T];

export interface Fields<T> {
  values: T;
  set: <K extends keyof T>(key: K, value: T[K]) => void;
  /** `value` and `onChange` for an <input> or <textarea> holding the text field `key`. */
  bind: (key: StringKeys<T>) => { value: string; onChange: (e: ChangeEvent<HTMLInputElement | HTMLTextAreaElement>) => void };
  /** Back to the values the form was first rendered with. */
  reset: () => void;
}

export function useFields<T extends object>(initial: T): Fields<T> {
  const first = useRef(initial);
  const [values, setValues] = useState(initial);
  const set = useCallback(<K extends keyof T>(key: K, value: T[K]) => setValues((v) => ({ ...v, [key]: value })), []);
  const bind = (key: StringKeys<T>) => ({
    value: values[key] as string,
    onChange: (e: ChangeEvent<HTMLInputElement | HTMLTextAreaElement>) => set(key, e.target.value as T[typeof key]),
  });
  const reset = useCallback(() => setValues(first.current), []);
  return { values, set, bind, reset };
}
