// "API Keys": the signed-in user's API keys and registration tokens (administrators see everyone's), creating
// them (the token is shown once, with the command that starts an extension with it) and revoking them
// (docs/protocol.md §9.3).
import "../builtin.css";
import { useState } from "react";
import { listKeys, type CreatedKey, type CreateKeyRequest } from "../api";
import type { BuiltinPageProps } from "../index";
import { ErrorText } from "../shared/ErrorText";
import { NotFound } from "../shared/NotFound";
import { SectionHeader } from "../shared/SectionHeader";
import { useLoad } from "../shared/useLoad";
import { usePageTitle } from "../shared/usePageTitle";
import { CreateKeyForm } from "./CreateKeyForm";
import { KeyTable } from "./KeyTable";
import { NewToken } from "./NewToken";

const BASE = "/platform/keys";

export default function KeysPage({ path, info, user, setMeta }: BuiltinPageProps) {
  usePageTitle(setMeta, "API Keys");
  const keys = useLoad(listKeys);
  const [created, setCreated] = useState<{ key: CreatedKey; request: CreateKeyRequest } | null>(null);

  if (path !== BASE) return <NotFound path={path} what="API keys are all on one page." back={[BASE, "API Keys"]} />;

  const origin = info?.origin ?? window.location.origin;
  const list = [...(keys.data ?? [])].sort((a, b) => b.created_at.localeCompare(a.created_at));

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
        <SectionHeader title={user.admin ? "All keys" : "Your keys"} onRefresh={() => void keys.reload()} refreshing={keys.loading} />
        <ErrorText error={keys.error} testId="load-error" />
        {keys.data && list.length === 0 && <p className="muted">No keys yet.</p>}
        {!keys.data && keys.loading && <p className="muted">Loading…</p>}
        {list.length > 0 && <KeyTable keys={list} reload={keys.reload} />}
      </section>
    </div>
  );
}
