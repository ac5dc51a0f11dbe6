// An extension's NATS account (docs/protocol.md §3.1): who owns the prefix, the account key, and the JetStream
// limits its data must fit in; administrators change the limits here (`PUT …/limits`, like
// `symphony extension limits`).
import { useState, type FormEvent } from "react";
import { ApiError } from "../../../api";
import { getExtensionAccount, setExtensionLimits, type ExtensionAccount, type JetStreamLimits } from "../api";
import { ErrorText } from "../shared/ErrorText";
import { Field } from "../shared/Field";
import { FormButtons } from "../shared/FormButtons";
import { countInput, formatCountLimit, formatSizeLimit, parseCount, parseSize, sizeInput } from "../shared/format";
import { useFields } from "../shared/useFields";
import { useLoad } from "../shared/useLoad";
import { useSubmit } from "../shared/useSubmit";
import { Time } from "../shared/Time";

/** The section; mount it with `key={prefix}` so another extension loads its own account. */
export function AccountSection({ prefix, admin }: { prefix: string; admin: boolean }) {
  const account = useLoad(() => getExtensionAccount(prefix));
  const [editing, setEditing] = useState(false);
  const missing = account.error instanceof ApiError && account.error.status === 404;
  const a = account.data;

  return (
    <section className="bi-section" data-testid="account">
      <div className="bi-toolbar bi-spread">
        <h2>Account and limits</h2>
        {admin && a && !editing && (
          <button type="button" className="btn" onClick={() => setEditing(true)} data-testid="edit-limits">
            <i className="fa-solid fa-pen" aria-hidden="true" /> Edit limits
          </button>
        )}
      </div>
      {missing ? (
        <p className="muted">No NATS account is recorded for this prefix yet: it gets one with its first key.</p>
      ) : (
        <ErrorText error={account.error} testId="account-error" />
      )}
      {!a && account.loading && <p className="muted">Loading…</p>}
      {a && (
        <>
          <p className="muted bi-small">
            The extension keeps its buckets and streams in its own NATS account. A write over the storage limits fails
            with the JetStream error “resource limits exceeded for account”; a new bucket past them, with “insufficient
            storage resources available” or “maximum number of streams reached”.
          </p>
          <dl className="facts" data-testid="limits">
            <dt>Owner</dt>
            <dd data-testid="account-owner">{a.owner || <span className="muted">administrators (made with the data dir)</span>}</dd>
            <dt>NATS account</dt>
            <dd>
              <code className="bi-break">{a.account || "—"}</code>
            </dd>
            <dt>Created</dt>
            <dd>
              <Time value={a.created_at} />
              {a.created_by && <span className="muted"> by {a.created_by}</span>}
            </dd>
            <LimitFacts limits={a.limits} />
          </dl>
          {editing && (
            <LimitsForm
              account={a}
              onDone={(saved) => {
                setEditing(false);
                if (saved) void account.reload();
              }}
            />
          )}
        </>
      )}
    </section>
  );
}

/** The limits as the rows of the account's fact list. */
function LimitFacts({ limits }: { limits: JetStreamLimits }) {
  return (
    <>
      <dt>Disk storage</dt>
      <dd data-testid="limit-disk">{formatSizeLimit(limits.disk_storage)}</dd>
      <dt>Memory storage</dt>
      <dd data-testid="limit-memory">{formatSizeLimit(limits.mem_storage)}</dd>
      <dt>Streams</dt>
      <dd data-testid="limit-streams">{formatCountLimit(limits.streams)}</dd>
      <dt>Consumers</dt>
      <dd data-testid="limit-consumers">{formatCountLimit(limits.consumer)}</dd>
    </>
  );
}

/** The four limits as text (`2 GiB`, `unlimited`); read back the CLI's way, then checked by the server. */
function LimitsForm({ account, onDone }: { account: ExtensionAccount; onDone: (saved: boolean) => void }) {
  const l = account.limits;
  const fields = useFields({
    disk: sizeInput(l.disk_storage),
    memory: sizeInput(l.mem_storage),
    streams: countInput(l.streams),
    consumers: countInput(l.consumer),
  });
  const { busy, error, run, fail } = useSubmit();

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const v = fields.values;
    let limits: JetStreamLimits;
    try {
      limits = {
        disk_storage: parseSize(v.disk, "Disk storage"),
        mem_storage: parseSize(v.memory, "Memory storage"),
        streams: parseCount(v.streams, "Streams"),
        consumer: parseCount(v.consumers, "Consumers"),
      };
    } catch (problem) {
      return fail((problem as Error).message);
    }
    void run(async () => {
      await setExtensionLimits(account.prefix, limits);
      onDone(true);
    });
  };

  const sizeHint = "KiB, MiB, GiB or TiB (1 KiB = 1024 bytes), plain bytes, or “unlimited”.";
  return (
    <form className="bi-form bi-inline-form" onSubmit={submit} data-testid="limits-form" noValidate>
      <div className="bi-form-row">
        <Field label="Disk storage" hint={sizeHint}>
          {(c) => <input {...c} {...fields.bind("disk")} spellCheck={false} autoComplete="off" />}
        </Field>
        <Field label="Memory storage" hint={sizeHint}>
          {(c) => <input {...c} {...fields.bind("memory")} spellCheck={false} autoComplete="off" />}
        </Field>
        <Field label="Streams" hint="Each bucket is one; a number or “unlimited”.">
          {(c) => <input {...c} {...fields.bind("streams")} inputMode="numeric" autoComplete="off" />}
        </Field>
        <Field label="Consumers" hint="A number or “unlimited”.">
          {(c) => <input {...c} {...fields.bind("consumers")} inputMode="numeric" autoComplete="off" />}
        </Field>
      </div>
      <ErrorText error={error} />
      <FormButtons busy={busy} label="Save limits" running="Saving…" testId="save-limits" onCancel={() => onDone(false)} />
    </form>
  );
}
