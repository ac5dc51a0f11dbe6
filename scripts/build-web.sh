#!/usr/bin/env bash
# Build the web UI shell (web/, React + TypeScript) with Vite into web/dist, which the server embeds
# (crates/server/src/ui/mod.rs). Idempotent: rebuilds only when web/'s sources, config or lockfile changed
# since the last build (stamp in web/node_modules/.symphony-dist.sha256) or web/dist is missing.
# Needs web/node_modules, which scripts/bootstrap.sh installs with `npm ci`.
set -euo pipefail
cd "$(dirname "$0")/.."

REPO_ROOT="$(pwd -P)"
WEB="$REPO_ROOT/web"
STAMP="$WEB/node_modules/.symphony-dist.sha256"

die() {
    echo "build-web: $*" >&2
    exit 1
}

command -v npm >/dev/null 2>&1 || die "npm not found; install Node.js >= 20.19"
[[ -x "$WEB/node_modules/.bin/vite" ]] || die "web/node_modules is missing; run scripts/bootstrap.sh first"

# Serialize concurrent runs (test.sh and demo.sh started together) when flock is available.
if command -v flock >/dev/null 2>&1; then
    lock_file="${TMPDIR:-/tmp}/symphony-build-web-$(printf '%s' "$REPO_ROOT" | sha256sum | cut -c1-16).lock"
    exec 9>"$lock_file"
    flock 9
fi

inputs=()
for path in src public index.html vite.config.ts tsconfig.json package.json package-lock.json; do
    [[ -e "$WEB/$path" ]] && inputs+=("$path")
done
want="$(
    cd "$WEB"
    find "${inputs[@]}" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
)"
have="$(cat "$STAMP" 2>/dev/null || true)"
if [[ "$want" == "$have" && -f "$WEB/dist/index.html" ]]; then
    echo "web/dist is up to date"
    exit 0
fi

log="$(mktemp)"
if ! (cd "$WEB" && npm run --silent build) >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    die "npm run build in web/ failed"
fi
rm -f "$log"
printf '%s\n' "$want" >"$STAMP"
# rust-embed tracks only the files that existed when the server crate was last compiled; make cargo
# re-expand the embed so new or renamed assets are picked up.
touch "$REPO_ROOT/crates/server/src/ui/mod.rs"
echo "web/dist built ($(find "$WEB/dist" -type f | wc -l) files)"
