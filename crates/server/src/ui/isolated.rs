//! Transpiles a UI module in a child process (`symphony transpile-module`, hidden, source on stdin,
//! the outcome as JSON on stdout), so no module can take the server down.
//!
//! Why a process and not a thread: oxc recurses (parser, semantic, transformer, codegen) and a Rust
//! stack overflow aborts the whole process whichever thread overflows. The depth oxc survives per
//! MiB of stack depends on the construct and the build (measured, debug build on a 2 MiB stack:
//! 400 nested `<div>` pass and 800 abort; 1000 `(` pass and 5000 abort; a 20 000-term `1+1+…` or
//! 20 000 `!` abort), and deep trees come from constructs no cheap pre-scan sees. A child that
//! aborts costs one `422 module_too_complex`; the server keeps serving. The child runs the
//! transpile on a thread with [`CHILD_STACK`] (virtual: only what is used is committed), so real
//! pages and generated code far beyond [`complexity::MAX_NESTING`](super::complexity::MAX_NESTING)
//! still pass. Results are cached by source hash (`jsx.rs`), so each module pays the spawn once.
//!
//! Not for: the transpile itself (`jsx.rs`) or the pre-scan (`complexity.rs`).

use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::complexity::MAX_MODULE_BYTES;
use super::jsx::{Outcome, SyntaxError, transpile};

/// The hidden subcommand the child runs.
pub const SUBCOMMAND: &str = "transpile-module";

/// The transpiling thread's stack in the child.
pub const CHILD_STACK: usize = 512 * 1024 * 1024;

/// A transpile that takes longer than this is killed and refused (a real module takes milliseconds).
const CHILD_DEADLINE: Duration = Duration::from_secs(30);

/// Most bytes of child output read (the JavaScript of a module at most [`MAX_MODULE_BYTES`]
/// grows by JSX calls and indentation: measured 6.6× for `<a>x` nested 100 000 deep).
const MAX_OUTPUT_BYTES: usize = 16 * MAX_MODULE_BYTES;

/// Runs `exe transpile-module` on `source` and returns its outcome. A child that aborts (stack
/// overflow), is killed, or answers garbage is a "too complex" refusal, never an error of the server.
pub async fn transpile_in_child(exe: &Path, source: &str) -> Outcome {
    let refused = |why: String| Err(SyntaxError::too_complex(why, source, 0));
    let mut child = match tokio::process::Command::new(exe)
        .arg(SUBCOMMAND)
        // The child needs nothing of the server's environment (which may hold secrets).
        .env_clear()
        .env("RUST_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            tracing::error!(exe = %exe.display(), error = %e, "cannot start the module transpiler");
            return refused(format!("the transpiler could not start: {e}"));
        }
    };
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = source.as_bytes().to_vec();
    // Written concurrently with reading the output, so neither pipe fills up and blocks.
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&input).await;
        let _ = stdin.shutdown().await;
    });
    let finished = tokio::time::timeout(CHILD_DEADLINE, child.wait_with_output()).await;
    writer.abort();
    let output = match finished {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => return refused(format!("the transpiler failed: {e}")),
        // Dropping the future drops the child, which kills it.
        Err(_) => return refused(format!("transpiling took over {CHILD_DEADLINE:?}")),
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let overflowed = stderr.contains("overflowed its stack");
        tracing::warn!(status = %output.status, overflowed, "the module transpiler died");
        return refused(if overflowed {
            "the module nests too deeply to transpile (the transpiler ran out of stack)".into()
        } else {
            format!("the transpiler died ({})", output.status)
        });
    }
    if output.stdout.len() > MAX_OUTPUT_BYTES {
        return refused("the transpiled module is too large".into());
    }
    serde_json::from_slice::<Result<String, SyntaxError>>(&output.stdout)
        .unwrap_or_else(|e| refused(format!("the transpiler answered garbage: {e}")))
}

/// The child's side: reads the source from stdin, transpiles it on a thread with [`CHILD_STACK`],
/// writes the JSON outcome to stdout.
pub fn child_main() -> anyhow::Result<()> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .take(MAX_MODULE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    let outcome = match String::from_utf8(bytes) {
        Ok(source) => std::thread::Builder::new()
            .name("transpile".into())
            .stack_size(CHILD_STACK)
            .spawn(move || transpile(&source))?
            .join()
            .map_err(|_| anyhow::anyhow!("the transpiler panicked"))?,
        Err(e) => Err(SyntaxError {
            message: format!("the module is not UTF-8: {e}"),
            hint: None,
            line: 1,
            column: 1,
            too_complex: false,
        }),
    };
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer(&mut stdout, &outcome)?;
    stdout.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, body: &str) -> std::path::PathBuf {
        let path = dir.join("transpiler");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[tokio::test]
    async fn a_child_that_aborts_is_a_too_complex_refusal() {
        let dir = tempfile::tempdir().unwrap();
        // What a stack overflow looks like from outside: the message, then SIGABRT.
        let exe = script(
            dir.path(),
            "cat >/dev/null; echo \"thread 'transpile' has overflowed its stack\" >&2; kill -ABRT $$",
        );
        let e = transpile_in_child(&exe, "export const a = 1;")
            .await
            .unwrap_err();
        assert!(e.too_complex, "{e:?}");
        assert!(e.message.contains("ran out of stack"), "{e:?}");
    }

    #[tokio::test]
    async fn a_child_that_answers_garbage_or_cannot_start_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let exe = script(dir.path(), "cat >/dev/null; echo not-json");
        let e = transpile_in_child(&exe, "x").await.unwrap_err();
        assert!(e.too_complex && e.message.contains("garbage"), "{e:?}");
        let e = transpile_in_child(&dir.path().join("missing"), "x")
            .await
            .unwrap_err();
        assert!(
            e.too_complex && e.message.contains("could not start"),
            "{e:?}"
        );
    }
}
