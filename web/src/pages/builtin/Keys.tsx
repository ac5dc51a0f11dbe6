// "API Keys": the signed-in user's API keys and registration tokens (administrators see everyone's), creating
// them (the token is shown once, with the command that starts an extension with it) and revoking them
// (docs/protocol.md §9.3).
import { useEffect, useRef, useState, type FormEvent } from "react";
import { createKey, listKeys, revokeKey, type CreatedKey, type CreateKeyRequest, type KeyKind, type KeyView } from "./api";
import { CopyBlock, ErrorText, Field, Link, lines, NotFound, TableWrap, Time, useLoad } from "./common";
import type { BuiltinPageProps } from "./index";

const BASE = "/platform/keys";

function keyStatus(k: KeyView, now: number): { label: string; cls: string } {
  if (k.revoked) return { label: "Revoked", cls: "badge-error" };
  if (k.kind === "registration" && k.used) return { label: "Used", cls: "badge-inactive" };
  if (k.expires_at && new Date(k.expires_at).getTime() <= now) return { label: "Expired", cls: "badge-warning" };
  return { label: "Active", cls: "badge-ok" };
}

const kindLabel = (k: KeyKind) => (k === "registration" ? "Registration token" : "API key");

/** `curl` against the gateway for the first literal `pub:extensions.<p>.<name>` capability, else the extension list. */
function curlExample(origin: string, token: string, capabilities: string[]): string {
  for (const c of capabilities) {
    const m = /^pub:extensions\.([a-z][a-z0-9_]*)\.([^.*>\s]+)$/.exec(c);
    if (m) return `curl -H "Authorization: Bearer ${token}" ${origin}/api/v1/extension/${m[1]}/${m[2]}`;
  }
  return `curl -H "Authorization: Bearer ${token}" ${origin}/api/v1/extensions/all`;
}

function NewToken({ created, request, origin, onDone }: { created: CreatedKey; request: CreateKeyRequest; origin: string; onDone: () => void }) {
  const ref = useRef<HTMLElement>(null);
  useEffect(() => {
    ref.current?.scrollIntoView({ block: "nearest" });
  }, []);
  const t = created.token;
  const registration = created.kind === "registration";
  return (
    <section className="card bi-secret" data-testid="new-token" ref={ref}>
      <h3>
        <i className="fa-solid fa-key" aria-hidden="true" /> {kindLabel(created.kind)} “{created.name}” created
      </h3>
      <p>
        <strong>Copy it now: it is shown only once.</strong> The server keeps only a hash of it.{" "}
        {created.expires_at ? (
          <>
            It expires <Time value={created.expires_at} />.
          </>
        ) : (
          "It does not expire."
        )}
      </p>
      <CopyBlock text={t} testId="token" label="Copy token" />
      {registration ? (
        <>
          <h4>Start an extension with it</h4>
          <p className="muted bi-small">In the extension's directory, Python SDK:</p>
          <CopyBlock text={`REGISTRATION_TOKEN=${t} python main.py`} testId="command-python" />
          <p className="muted bi-small">Rust SDK:</p>
          <CopyBlock text={`REGISTRATION_TOKEN=${t} cargo run`} testId="command-rust" />
          <p className="muted bi-small">
            On its first start the extension exchanges this single-use token for its own permanent key with exactly the
            capabilities it declares, stores that key (OS credential store, else{" "}
            <code>~/.config/cirata/&lt;prefix&gt;.token</code>) and reuses it on later starts without the token. It then
            appears on <Link to="/platform/extensions">Extensions</Link>. On Windows PowerShell set the variable first:{" "}
            <code>$env:REGISTRATION_TOKEN="…"</code>.
          </p>
        </>
      ) : (
        <>
          <h4>Use it</h4>
          <p className="muted bi-small">Call the REST API with it as a bearer token:</p>
          <CopyBlock text={curlExample(origin, t, request.capabilities ?? [])} testId="command-curl" />
          {request.prefix && (
            <>
              <p className="muted bi-small">
                Or run the extension <code>{request.prefix}</code> with it (Python or Rust SDK):
              </p>
              <CopyBlock text={`SYMPHONY_TOKEN=${t} python main.py`} testId="command-python" />
              <CopyBlock text={`SYMPHONY_TOKEN=${t} cargo run`} testId="command-rust" />
            </>
          )}
          <p className="muted bi-small">Keep it secret: anyone who has it can act with the key's capabilities until you revoke it.</p>
        </>
      )}
      <button type="button" className="btn" onClick={onDone} data-testid="new-token-done">
        <i className="fa-solid fa-eye-slash" aria-hidden="true" /> I have copied it — hide the token
      </button>
    </section>
  );
}

function CreateKeyForm({ onCreated }: { onCreated: (k: CreatedKey, request: CreateKeyRequest) => void }) {
  const [kind, setKind] = useState<KeyKind>("registration");
  const [name, setName] = useState("");
  const [expires, setExpires] = useState("");
  const [notes, setNotes] = useState("");
  const [caps, setCaps] = useState("");
  const [prefix, setPrefix] = useState("");
  const [buckets, setBuckets] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const registration = kind === "registration";

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim()) {
      setError(new Error("Give it a name, e.g. the extension or script that will use it."));
      return;
    }
    const capabilities = registration ? [] : lines(caps);
    const req: CreateKeyRequest = {
      name: name.trim(),
      registration,
      expires_in: expires.trim() || undefined,
      notes: notes.trim() || undefined,
    };
    if (!registration) {
      req.capabilities = capabilities;
      req.prefix = prefix.trim() || undefined;
      req.buckets = lines(buckets);
    }
    setBusy(true);
    setError(null);
    try {
      const created = await createKey(req);
      setName("");
      setNotes("");
      setCaps("");
      setPrefix("");
      setBuckets("");
      setExpires("");
      onCreated(created, req);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card bi-form" onSubmit={submit} data-testid="create-key-form" noValidate>
      <h3>Create</h3>
      <fieldset className="bi-choice">
        <legend className="muted">What do you need?</legend>
        <label className="bi-check">
          <input type="radio" name="kind" checked={registration} onChange={() => setKind("registration")} />
          <span>
            <strong>Registration token</strong> — to start a new extension. Single use: the extension exchanges it for
            its own key with the capabilities it declares.
          </span>
        </label>
        <label className="bi-check">
          <input type="radio" name="kind" checked={!registration} onChange={() => setKind("api_key")} />
          <span>
            <strong>API key</strong> — for a script, client or extension you give capabilities to yourself.
          </span>
        </label>
      </fieldset>
      <label>
        Name
        <input value={name} onChange={(e) => setName(e.target.value)} placeholder={registration ? "e.g. inventory on host-7" : "e.g. nightly report"} />
      </label>
      <Field label="Expires in" hint="A duration such as 1h, 24h, 7d or 30d.">
        {(c) => <input {...c} value={expires} onChange={(e) => setExpires(e.target.value)} list="bi-lifetimes" placeholder={registration ? "24h (default)" : "never (default)"} />}
      </Field>
      <datalist id="bi-lifetimes">
        <option value="1h" />
        <option value="24h" />
        <option value="7d" />
        <option value="30d" />
        <option value="90d" />
        <option value="365d" />
      </datalist>
      {!registration && (
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
            {(c) => (
              <textarea
                {...c}
                rows={3}
                value={caps}
                onChange={(e) => setCaps(e.target.value)}
                placeholder={"pub:extensions.catalog.list\nsub:extensions.my_ext.>"}
                spellCheck={false}
              />
            )}
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
            {(c) => <input {...c} value={prefix} onChange={(e) => setPrefix(e.target.value)} placeholder="e.g. my_ext" spellCheck={false} />}
          </Field>
          <label>
            Buckets (optional)
            <textarea rows={2} value={buckets} onChange={(e) => setBuckets(e.target.value)} placeholder="my_ext_data" spellCheck={false} />
          </label>
        </>
      )}
      <label>
        Notes (optional)
        <textarea rows={2} value={notes} onChange={(e) => setNotes(e.target.value)} placeholder="Who uses it and why" />
      </label>
      <ErrorText error={error} />
      <div className="bi-toolbar">
        <button type="submit" className="btn btn-primary" disabled={busy} data-testid="create-key">
          <i className="fa-solid fa-plus" aria-hidden="true" /> {busy ? "Creating…" : registration ? "Create registration token" : "Create API key"}
        </button>
      </div>
    </form>
  );
}

function Capabilities({ k }: { k: KeyView }) {
  const pub = k.capabilities.pub.allow;
  const sub = k.capabilities.sub.allow;
  if (k.kind === "registration") return <span className="muted">declared by the extension</span>;
  if (pub.length + sub.length === 0) return <span className="muted">none</span>;
  return (
    <ul className="bi-list">
      {pub.map((s) => (
        <li key={`p${s}`}>
          <code>pub:{s}</code>
        </li>
      ))}
      {sub.map((s) => (
        <li key={`s${s}`}>
          <code>sub:{s}</code>
        </li>
      ))}
    </ul>
  );
}

export default function Keys({ path, info, user, setMeta }: BuiltinPageProps) {
  useEffect(() => {
    setMeta({ title: "API Keys" });
  }, [setMeta]);
  const keys = useLoad(listKeys);
  const [created, setCreated] = useState<{ key: CreatedKey; request: CreateKeyRequest } | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [revoking, setRevoking] = useState(false);
  const [revokeError, setRevokeError] = useState<unknown>(null);

  if (path !== BASE) return <NotFound path={path} what="API keys are all on one page." back={[BASE, "API Keys"]} />;

  const origin = info?.origin ?? window.location.origin;
  const now = Date.now();
  const list = [...(keys.data ?? [])].sort((a, b) => b.created_at.localeCompare(a.created_at));

  const revoke = async (id: string) => {
    setRevoking(true);
    setRevokeError(null);
    try {
      await revokeKey(id);
      setConfirming(null);
      await keys.reload();
    } catch (e) {
      setRevokeError(e);
    } finally {
      setRevoking(false);
    }
  };

  return (
    <div className="page bi-page" data-testid="platform-keys">
      <h1>API Keys</h1>
      <p className="muted">
        Registration tokens start new extensions; API keys let scripts and clients call the platform and extension
        endpoints. A key can do only what its capabilities allow, within your roles.
        {user.admin && " As an administrator you see every user's keys."}
      </p>
      {created && (
        <NewToken key={created.key.id} created={created.key} request={created.request} origin={origin} onDone={() => setCreated(null)} />
      )}
      <CreateKeyForm
        onCreated={(key, request) => {
          setCreated({ key, request });
          void keys.reload();
        }}
      />
      <section className="bi-section">
        <div className="bi-toolbar bi-spread">
          <h2>{user.admin ? "All keys" : "Your keys"}</h2>
          <button type="button" className="btn" onClick={() => void keys.reload()} disabled={keys.loading}>
            <i className="fa-solid fa-rotate" aria-hidden="true" /> Refresh
          </button>
        </div>
        <ErrorText error={keys.error} testId="load-error" />
        {keys.data && list.length === 0 && <p className="muted">No keys yet.</p>}
        {!keys.data && keys.loading && <p className="muted">Loading…</p>}
        {list.length > 0 && (
          <TableWrap testId="key-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Status</th>
                <th>Prefix</th>
                <th>Capabilities</th>
                <th>Owner</th>
                <th>Dates</th>
                <th title="Instances running with this key now">Running</th>
                <th>
                  <span className="bi-sr">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.map((k) => {
                const status = keyStatus(k, now);
                // A used registration token can do nothing more; the key it provisioned is listed on its own.
                const canRevoke = !k.revoked && !(k.kind === "registration" && k.used);
                return [
                  <tr key={k.id} data-testid={`key-${k.id}`} data-name={k.name}>
                    <td className="bi-col-main">
                      <span className="bi-strong">{k.name}</span>
                      <div className="muted bi-small">
                        {kindLabel(k.kind)} · <code title="Key id (also the instance id of what runs with it)">{k.id}</code>
                      </div>
                      {k.notes && <div className="muted bi-small bi-break">{k.notes}</div>}
                    </td>
                    <td>
                      <span className={`badge ${status.cls}`} data-testid="key-status">
                        {status.label}
                      </span>
                    </td>
                    <td>{k.prefix ? <code>{k.prefix}</code> : <span className="muted">—</span>}</td>
                    <td>
                      <Capabilities k={k} />
                    </td>
                    <td>{k.owner}</td>
                    <td>
                      <dl className="bi-dates">
                        <dt>Created</dt>
                        <dd>
                          <Time value={k.created_at} />
                        </dd>
                        <dt>Expires</dt>
                        <dd>
                          <Time value={k.expires_at} empty="never" />
                        </dd>
                        <dt>Last used</dt>
                        <dd>
                          <Time value={k.last_used} empty="never" />
                        </dd>
                      </dl>
                    </td>
                    <td>{k.connected_instances}</td>
                    <td>
                      {canRevoke && (
                        <button
                          type="button"
                          className="btn bi-danger-outline"
                          onClick={() => {
                            setConfirming(k.id);
                            setRevokeError(null);
                          }}
                          disabled={confirming === k.id}
                        >
                          Revoke
                        </button>
                      )}
                    </td>
                  </tr>,
                  confirming === k.id && (
                    <tr key={`${k.id}-confirm`} className="bi-confirm-row" data-testid="revoke-confirm">
                      <td colSpan={8}>
                        <div className="bi-confirm">
                          <span>
                            Revoke {kindLabel(k.kind).toLowerCase()} <strong>{k.name}</strong>?{" "}
                            {k.kind === "api_key"
                              ? k.connected_instances > 0
                                ? `Its ${k.connected_instances} running instance(s) are disconnected at once and cannot reconnect.`
                                : "Anything using it is refused from now on."
                              : "It can no longer start an extension."}{" "}
                            This cannot be undone.
                          </span>
                          <button type="button" className="btn btn-danger" onClick={() => void revoke(k.id)} disabled={revoking}>
                            {revoking ? "Revoking…" : "Yes, revoke"}
                          </button>
                          <button type="button" className="btn" onClick={() => setConfirming(null)} disabled={revoking}>
                            Cancel
                          </button>
                        </div>
                        <ErrorText error={revokeError} />
                      </td>
                    </tr>
                  ),
                ];
              })}
            </tbody>
          </TableWrap>
        )}
      </section>
    </div>
  );
}
