// Creating a registration token (to start a new extension, optionally bound to its prefix) or an API key with
// the capabilities, extension prefix and buckets the operator gives it (docs/protocol.md §9.3).
import { useState, type FormEvent } from "react";
import { createKey, type CreatedKey, type CreateKeyRequest, type KeyKind } from "../api";
import { ErrorText } from "../shared/ErrorText";
import { Field } from "../shared/Field";
import { FormButtons } from "../shared/FormButtons";
import { lines } from "../shared/format";
import { useFields, type Fields } from "../shared/useFields";
import { useSubmit } from "../shared/useSubmit";

const EMPTY = { name: "", expires: "", notes: "", caps: "", prefix: "", buckets: "" };
type KeyFields = typeof EMPTY;

function keyRequest(f: KeyFields, registration: boolean): CreateKeyRequest {
  const req: CreateKeyRequest = {
    name: f.name.trim(),
    registration,
    expires_in: f.expires.trim() || undefined,
    notes: f.notes.trim() || undefined,
  };
  req.prefix = f.prefix.trim() || undefined;
  if (!registration) {
    req.capabilities = lines(f.caps);
    req.buckets = lines(f.buckets);
  }
  return req;
}

export function CreateKeyForm({ onCreated }: { onCreated: (k: CreatedKey, request: CreateKeyRequest) => void }) {
  const [kind, setKind] = useState<KeyKind>("registration");
  const fields = useFields(EMPTY);
  const { busy, error, run, fail } = useSubmit();
  const registration = kind === "registration";

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!fields.values.name.trim()) return fail("Give it a name, e.g. the extension or script that will use it.");
    const req = keyRequest(fields.values, registration);
    void run(async () => {
      const created = await createKey(req);
      fields.reset();
      onCreated(created, req);
    });
  };

  return (
    <form className="card bi-form" onSubmit={submit} data-testid="create-key-form" noValidate>
      <h3>Create</h3>
      <KindChoice registration={registration} onChange={setKind} />
      <label>
        Name
        <input {...fields.bind("name")} placeholder={registration ? "e.g. inventory on host-7" : "e.g. nightly report"} />
      </label>
      <Field label="Expires in" hint="A duration such as 1h, 24h, 7d or 30d.">
        {(c) => <input {...c} {...fields.bind("expires")} list="bi-lifetimes" placeholder={registration ? "24h (default)" : "never (default)"} />}
      </Field>
      <datalist id="bi-lifetimes">
        <option value="1h" />
        <option value="24h" />
        <option value="7d" />
        <option value="30d" />
        <option value="90d" />
        <option value="365d" />
      </datalist>
      {registration ? <RegistrationFields fields={fields} /> : <ApiKeyFields fields={fields} />}
      <label>
        Notes (optional)
        <textarea rows={2} {...fields.bind("notes")} placeholder="Who uses it and why" />
      </label>
      <ErrorText error={error} />
      <FormButtons busy={busy} icon="fa-plus" label={registration ? "Create registration token" : "Create API key"} running="Creating…" testId="create-key" />
    </form>
  );
}

function KindChoice({ registration, onChange }: { registration: boolean; onChange: (kind: KeyKind) => void }) {
  return (
    <fieldset className="bi-choice">
      <legend className="muted">What do you need?</legend>
      <label className="bi-check">
        <input type="radio" name="kind" checked={registration} onChange={() => onChange("registration")} />
        <span>
          <strong>Registration token</strong> — to start a new extension. Single use: the extension exchanges it for
          its own key with the capabilities it declares.
        </span>
      </label>
      <label className="bi-check">
        <input type="radio" name="kind" checked={!registration} onChange={() => onChange("api_key")} />
        <span>
          <strong>API key</strong> — for a script, client or extension you give capabilities to yourself.
        </span>
      </label>
    </fieldset>
  );
}

/** A registration token may be bound to one extension prefix: it then provisions only that prefix. */
function RegistrationFields({ fields }: { fields: Fields<KeyFields> }) {
  return (
    <Field
      label="Bind to extension prefix (optional)"
      hint={
        <>
          The token then starts only the extension with this prefix — also a further instance of one someone else owns,
          when your roles cover it. Without it the token can start any new extension, but not add to one owned by
          another user.
        </>
      }
    >
      {(c) => <input {...c} {...fields.bind("prefix")} placeholder="e.g. inventory" spellCheck={false} autoComplete="off" />}
    </Field>
  );
}

/** What only an API key has: capabilities, the extension it is bound to, and buckets. */
function ApiKeyFields({ fields }: { fields: Fields<KeyFields> }) {
  return (
    <>
      <Field
        label="Capabilities"
        hint={
          <>
            One per line. <code>pub:</code> lets the key call a subject (an endpoint), <code>sub:</code> lets it receive
            on one. Your roles limit what you can grant.
          </>
        }
      >
        {(c) => <textarea {...c} rows={3} {...fields.bind("caps")} placeholder={"pub:extensions.catalog.list\nsub:extensions.my_ext.>"} spellCheck={false} />}
      </Field>
      <Field
        label="Extension prefix (optional)"
        hint={
          <>
            Binds the key to one extension: needed for wildcards under <code>extensions.&lt;prefix&gt;</code> and for
            buckets.
          </>
        }
      >
        {(c) => <input {...c} {...fields.bind("prefix")} placeholder="e.g. my_ext" spellCheck={false} />}
      </Field>
      <label>
        Buckets (optional)
        <textarea rows={2} {...fields.bind("buckets")} placeholder="my_ext_data" spellCheck={false} />
      </label>
    </>
  );
}
