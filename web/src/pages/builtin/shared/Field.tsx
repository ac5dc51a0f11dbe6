// A labelled form control with a hint under it that is its description, not part of its name.
import { useId, type ReactNode } from "react";

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
