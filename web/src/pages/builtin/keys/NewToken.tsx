// The token just created, shown once, with the commands that use it: starting an extension with a
// registration token, calling the REST API (or running an extension) with an API key.
import { useEffect, useRef } from "react";
import type { CapabilityInput } from "../../../generated/contract";
import type { CreatedKey, CreateKeyRequest } from "../api";
import { CopyBlock } from "../shared/Copy";
import { Link } from "../shared/Link";
import { Time } from "../shared/Time";
import { kindLabel } from "./status";

/** `curl` against the gateway for the first literal `pub:extensions.<p>.<name>` capability, else the extension list. */
function curlExample(origin: string, token: string, capabilities: CapabilityInput[]): string {
  for (const input of capabilities) {
    const c = typeof input === "string" ? input : `${input.kind}:${input.subject}`;
    const m = /^pub:extensions\.([a-z][a-z0-9_]*)\.([^.*>\s]+)$/.exec(c);
    if (m) return `curl -H "Authorization: Bearer ${token}" ${origin}/api/v1/extension/${m[1]}/${m[2]}`;
  }
  return `curl -H "Authorization: Bearer ${token}" ${origin}/api/v1/extensions/all`;
}

export function NewToken({ created, request, origin, onDone }: { created: CreatedKey; request: CreateKeyRequest; origin: string; onDone: () => void }) {
  const ref = useRef<HTMLElement>(null);
  useEffect(() => {
    ref.current?.scrollIntoView({ block: "nearest" });
  }, []);
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
      <CopyBlock text={created.token} testId="token" label="Copy token" />
      {created.kind === "registration" ? (
        <RegistrationUse token={created.token} />
      ) : (
        <ApiKeyUse token={created.token} request={request} origin={origin} />
      )}
      <button type="button" className="btn" onClick={onDone} data-testid="new-token-done">
        <i className="fa-solid fa-eye-slash" aria-hidden="true" /> I have copied it — hide the token
      </button>
    </section>
  );
}

function RegistrationUse({ token }: { token: string }) {
  return (
    <>
      <h4>Start an extension with it</h4>
      <p className="muted bi-small">In the extension's directory, Python SDK:</p>
      <CopyBlock text={`REGISTRATION_TOKEN=${token} python main.py`} testId="command-python" />
      <p className="muted bi-small">Rust SDK:</p>
      <CopyBlock text={`REGISTRATION_TOKEN=${token} cargo run`} testId="command-rust" />
      <p className="muted bi-small">
        On its first start the extension exchanges this single-use token for its own permanent key with exactly the
        capabilities it declares, stores that key (OS credential store, else{" "}
        <code>~/.config/cirata/&lt;prefix&gt;.token</code>) and reuses it on later starts without the token. It then
        appears on <Link to="/platform/extensions">Extensions</Link>. On Windows PowerShell set the variable first:{" "}
        <code>$env:REGISTRATION_TOKEN="…"</code>.
      </p>
    </>
  );
}

function ApiKeyUse({ token, request, origin }: { token: string; request: CreateKeyRequest; origin: string }) {
  return (
    <>
      <h4>Use it</h4>
      <p className="muted bi-small">Call the REST API with it as a bearer token:</p>
      <CopyBlock text={curlExample(origin, token, request.capabilities ?? [])} testId="command-curl" />
      {request.prefix && (
        <>
          <p className="muted bi-small">
            Or run the extension <code>{request.prefix}</code> with it (Python or Rust SDK):
          </p>
          <CopyBlock text={`SYMPHONY_TOKEN=${token} python main.py`} testId="command-python" />
          <CopyBlock text={`SYMPHONY_TOKEN=${token} cargo run`} testId="command-rust" />
        </>
      )}
      <p className="muted bi-small">Keep it secret: anyone who has it can act with the key's capabilities until you revoke it.</p>
    </>
  );
}
