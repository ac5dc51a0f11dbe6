#!/usr/bin/env bash
# Builds the SDK packages the server embeds and serves ("Languages and Libraries") into dist/:
#   dist/cirata_symphony-<version>-py3-none-any.whl   the Python SDK wheel
#   dist/cirata-symphony-rust-<version>.tar.gz        the Rust SDK as a source tarball (sdk + protocol crates
#                                                     with a two-member workspace), usable as a path dependency
# Idempotent and quiet: rebuilds only when the sources changed. Needs scripts/bootstrap.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."

DIST=dist
mkdir -p "$DIST"
stamp_of() { find "$@" -type f -not -path '*/__pycache__/*' -not -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1; }

# Python wheel.
py_stamp="$(stamp_of python/cirata python/pyproject.toml)"
if [[ "$(cat "$DIST/.python.stamp" 2>/dev/null || true)" != "$py_stamp" ]]; then
    rm -f "$DIST"/cirata_symphony-*.whl
    log="$(mktemp)"
    if ! .venv/bin/pip wheel --quiet --no-deps --no-build-isolation -w "$DIST" ./python >"$log" 2>&1; then
        cat "$log" >&2; rm -f "$log"
        echo "package-sdks: building the Python wheel failed" >&2
        exit 1
    fi
    rm -f "$log"
    printf '%s\n' "$py_stamp" >"$DIST/.python.stamp"
fi

# Rust SDK source tarball.
rs_stamp="$(stamp_of crates/sdk crates/protocol Cargo.toml Cargo.lock)"
if [[ "$(cat "$DIST/.rust.stamp" 2>/dev/null || true)" != "$rs_stamp" ]]; then
    version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
    name="cirata-symphony-rust-$version"
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    mkdir -p "$work/$name/crates"
    cp -r crates/sdk crates/protocol "$work/$name/crates/"
    cp Cargo.lock "$work/$name/"
    # The workspace manifest with only the two SDK crates as members.
    python3 - "$work/$name/Cargo.toml" <<'PY'
import re, sys
src = open("Cargo.toml").read()
members = '[workspace]\nresolver = "3"\nmembers = ["crates/protocol", "crates/sdk"]\n'
rest = src[src.index("[workspace.package]"):]
open(sys.argv[1], "w").write(members + "\n" + rest)
PY
    cat >"$work/$name/README.md" <<MD
# cirata-symphony $version (Rust SDK)

Depend on it by path from your extension's Cargo.toml:

    cirata-symphony = { path = "<where you unpacked it>/$name/crates/sdk" }
MD
    rm -f "$DIST"/cirata-symphony-rust-*.tar.gz
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work" -cf - "$name" | gzip -n >"$DIST/$name.tar.gz"
    printf '%s\n' "$rs_stamp" >"$DIST/.rust.stamp"
fi
