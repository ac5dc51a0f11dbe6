// "Languages and Libraries": the SDKs this instance serves (GET /api/v1/libraries, docs/protocol.md §8) — the
// Python wheel through the instance's own package index (`pip install --index-url <origin>/pypi/simple …`) and
// the Rust SDK as a source tarball used as a path dependency.
import "../builtin.css";
import type { ReactNode } from "react";
import { listLibraries, type Library } from "../api";
import type { BuiltinPageProps } from "../index";
import { CopyBlock } from "../shared/Copy";
import { ErrorText } from "../shared/ErrorText";
import { formatBytes } from "../shared/format";
import { Link } from "../shared/Link";
import { NotFound } from "../shared/NotFound";
import { useLoad } from "../shared/useLoad";
import { usePageTitle } from "../shared/usePageTitle";
import { PYTHON_EXAMPLE, RUST_EXAMPLE } from "./examples";

const BASE = "/platform/libraries";
const PYTHON_PROJECT = "cirata-symphony";

export default function LibrariesPage({ path, info, setMeta }: BuiltinPageProps) {
  usePageTitle(setMeta, "Languages and Libraries");
  const libs = useLoad(listLibraries);
  if (path !== BASE) return <NotFound path={path} what="Languages and Libraries is a single page." back={[BASE, "Languages and Libraries"]} />;

  const origin = (info?.origin ?? window.location.origin).replace(/\/+$/, "");
  return (
    <div className="page bi-page" data-testid="platform-libraries">
      <h1>Languages and Libraries</h1>
      <p className="muted">
        Write extensions and clients in Python or Rust with the SDKs this instance serves. Start one with a registration
        token from <Link to="/platform/keys">API Keys</Link>; it then appears on{" "}
        <Link to="/platform/extensions">Extensions</Link>.
      </p>
      <ErrorText error={libs.error} testId="load-error" />
      {libs.data && libs.data.length === 0 && (
        <p className="notice" data-testid="no-packages">
          This server was built without the SDK packages, so there is nothing to download and the package index is
          empty. Build them with <code>scripts/package-sdks.sh</code> and rebuild the server.
        </p>
      )}
      <div className="bi-stack">
        <PythonCard libs={libs.data?.filter((l) => l.language === "python") ?? []} origin={origin} />
        <RustCard libs={libs.data?.filter((l) => l.language === "rust") ?? []} />
        <LanguageCard icon="fa-solid fa-plug" title="Any language: REST" muted>
          <p>
            Extension endpoints and the platform API are plain HTTP with an API key as a bearer token; see{" "}
            <Link to="/platform/swagger">Swagger</Link> for every operation this instance serves. NATS clients in other
            languages can connect with the credentials from <code>GET {origin}/api/v1/apikey</code>.
          </p>
        </LanguageCard>
      </div>
    </div>
  );
}

function LanguageCard({ icon, title, testId, muted, children }: { icon: string; title: string; testId?: string; muted?: boolean; children: ReactNode }) {
  return (
    <section className={muted ? "card bi-card card-muted" : "card bi-card"} data-testid={testId}>
      <h2>
        <i className={`${icon} fa-fw`} aria-hidden="true" /> {title}
      </h2>
      {children}
    </section>
  );
}

function PythonCard({ libs, origin }: { libs: Library[]; origin: string }) {
  const pip = libs[0]?.install || `pip install --index-url ${origin}/pypi/simple ${PYTHON_PROJECT}`;
  return (
    <LanguageCard icon="fa-brands fa-python" title="Python" testId="python">
      <p>
        Python 3.10 or newer. Install the SDK from this instance's package index (its dependencies come from PyPI
        through the same index):
      </p>
      <CopyBlock text={pip} testId="pip-install" />
      <p className="muted bi-small">
        Inside a virtual environment (<code>python3 -m venv .venv &amp;&amp; . .venv/bin/activate</code>) or with{" "}
        <code>pip install --user</code>.
      </p>
      <h3>A minimal extension</h3>
      <pre>
        <code>{PYTHON_EXAMPLE}</code>
      </pre>
      <p className="muted bi-small">
        Save it as <code>main.py</code>, then run <code>REGISTRATION_TOKEN=&lt;token&gt; python main.py</code> once;
        later runs need no token.
      </p>
      <Downloads libs={libs} />
    </LanguageCard>
  );
}

function RustCard({ libs }: { libs: Library[] }) {
  const tarball = libs[0];
  const unpacked = tarball ? tarball.file.replace(/\.tar\.gz$/, "") : "cirata-symphony-rust-<version>";
  const cargo = `[dependencies]
cirata-symphony = { path = "../${unpacked}/crates/sdk" }
tokio = { version = "1", features = ["full"] }`;
  return (
    <LanguageCard icon="fa-brands fa-rust" title="Rust" testId="rust">
      <p>
        The Rust SDK (crate <code>cirata-symphony</code>) is a source tarball you depend on by path. Download and
        unpack it in the directory that holds your project:
      </p>
      {tarball ? <CopyBlock text={tarball.install.replace(/\s+#.*$/, "")} testId="rust-install" /> : <p className="muted">Not available in this build.</p>}
      <p>Then in your extension's <code>Cargo.toml</code>:</p>
      <CopyBlock text={cargo} testId="cargo-toml" />
      <h3>A minimal extension</h3>
      <pre>
        <code>{RUST_EXAMPLE}</code>
      </pre>
      <p className="muted bi-small">
        Run <code>REGISTRATION_TOKEN=&lt;token&gt; cargo run</code> once; later runs need no token. Needs Rust 1.95 or newer
        (edition 2024).
      </p>
      <Downloads libs={libs} />
    </LanguageCard>
  );
}

/** The packages of one language to download, with version, size and checksum; nothing when there are none. */
function Downloads({ libs }: { libs: Library[] }) {
  if (libs.length === 0) return null;
  return (
    <>
      <h3>Download</h3>
      {libs.map((lib) => (
        <div className="bi-download" data-testid={`download-${lib.language}`} key={lib.file}>
          <a href={lib.url} className="btn" download={lib.file}>
            <i className="fa-solid fa-download" aria-hidden="true" /> {lib.file}
          </a>
          <span className="muted bi-small">
            version {lib.version} · {formatBytes(lib.size)}
          </span>
          <div className="muted bi-small bi-break">
            SHA-256 <code>{lib.sha256}</code>
          </div>
        </div>
      ))}
    </>
  );
}
