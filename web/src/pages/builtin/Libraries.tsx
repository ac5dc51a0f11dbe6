// "Languages and Libraries": the SDKs this instance serves (GET /api/v1/libraries, docs/protocol.md §8) — the
// Python wheel through the instance's own package index (`pip install --index-url <origin>/pypi/simple …`) and
// the Rust SDK as a source tarball used as a path dependency.
import { useEffect } from "react";
import { listLibraries, type Library } from "./api";
import { CopyBlock, ErrorText, formatBytes, Link, NotFound, useLoad } from "./common";
import type { BuiltinPageProps } from "./index";

const BASE = "/platform/libraries";
const PYTHON_PROJECT = "cirata-symphony";

const PYTHON_EXAMPLE = `import asyncio

from cirata import symphony


async def main():
    ext = symphony.Extension("Hello World", "hello")
    async with ext:
        await ext.operate()


if __name__ == "__main__":
    asyncio.run(main())`;

const RUST_EXAMPLE = `use cirata_symphony::Extension;

#[tokio::main]
async fn main() -> Result<(), cirata_symphony::Error> {
    let mut ext = Extension::new("Hello World", "hello").with_description("My first extension");
    ext.run().await // registers, sends heartbeats, stops cleanly on Ctrl-C
}`;

function Download({ lib }: { lib: Library }) {
  return (
    <div className="bi-download" data-testid={`download-${lib.language}`}>
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
  );
}

export default function Libraries({ path, info, setMeta }: BuiltinPageProps) {
  useEffect(() => {
    setMeta({ title: "Languages and Libraries" });
  }, [setMeta]);
  const libs = useLoad(listLibraries);
  if (path !== BASE) return <NotFound path={path} what="Languages and Libraries is a single page." back={[BASE, "Languages and Libraries"]} />;

  const origin = (info?.origin ?? window.location.origin).replace(/\/+$/, "");
  const python = libs.data?.filter((l) => l.language === "python") ?? [];
  const rust = libs.data?.filter((l) => l.language === "rust") ?? [];
  const pip = python[0]?.install || `pip install --index-url ${origin}/pypi/simple ${PYTHON_PROJECT}`;
  const tarball = rust[0];
  const unpacked = tarball ? tarball.file.replace(/\.tar\.gz$/, "") : "cirata-symphony-rust-<version>";
  const cargo = `[dependencies]
cirata-symphony = { path = "../${unpacked}/crates/sdk" }
tokio = { version = "1", features = ["full"] }`;

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
        <section className="card bi-card" data-testid="python">
          <h2>
            <i className="fa-brands fa-python fa-fw" aria-hidden="true" /> Python
          </h2>
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
          {python.length > 0 && (
            <>
              <h3>Download</h3>
              {python.map((l) => (
                <Download key={l.file} lib={l} />
              ))}
            </>
          )}
        </section>

        <section className="card bi-card" data-testid="rust">
          <h2>
            <i className="fa-brands fa-rust fa-fw" aria-hidden="true" /> Rust
          </h2>
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
          {rust.length > 0 && (
            <>
              <h3>Download</h3>
              {rust.map((l) => (
                <Download key={l.file} lib={l} />
              ))}
            </>
          )}
        </section>

        <section className="card bi-card card-muted">
          <h2>
            <i className="fa-solid fa-plug fa-fw" aria-hidden="true" /> Any language: REST
          </h2>
          <p>
            Extension endpoints and the platform API are plain HTTP with an API key as a bearer token; see{" "}
            <Link to="/platform/swagger">Swagger</Link> for every operation this instance serves. NATS clients in other
            languages can connect with the credentials from <code>GET {origin}/api/v1/apikey</code>.
          </p>
        </section>
      </div>
    </div>
  );
}
