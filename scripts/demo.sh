#!/usr/bin/env bash
# The single "run the platform" command: builds everything, starts `symphony serve` (with its embedded
# nats-server) on a persistent data dir, registers and starts the demo extensions (hello, catalog),
# prints the URL and stays in the foreground until Ctrl-C, then stops everything it started.
#
# Environment:
#   SYMPHONY_DEMO_DIR     data dir (default: ~/.local/share/symphony-demo)
#   SYMPHONY_NATS_SERVER  nats-server binary (default: the one scripts/bootstrap.sh installed)
#   SYMPHONY_DEMO_TIMEOUT seconds to wait for the server to become ready (default: 120)
set -euo pipefail
cd "$(dirname "$0")/.."

EXTENSIONS=(hello catalog)
DIR="${SYMPHONY_DEMO_DIR:-$HOME/.local/share/symphony-demo}"
TIMEOUT="${SYMPHONY_DEMO_TIMEOUT:-120}"
BIN=target/debug

step() {
    echo "==> $*"
}

die() {
    echo "demo: $*" >&2
    exit 1
}

step "bootstrap"
scripts/bootstrap.sh
if [[ -z "${SYMPHONY_NATS_SERVER:-}" ]]; then
    SYMPHONY_NATS_SERVER="$(cat .venv/nats-server-path)"
fi
export SYMPHONY_NATS_SERVER

step "package the SDKs the server serves (scripts/package-sdks.sh)"
scripts/package-sdks.sh

step "build the web UI (scripts/build-web.sh)"
scripts/build-web.sh

step "cargo build --workspace --bins"
cargo build --workspace --bins

# Everything started below is recorded here and stopped on exit (Ctrl-C, TERM, an error, or the
# server exiting on its own).
pids=()
cleaned_up=0
cleanup() {
    ((cleaned_up)) && return 0
    cleaned_up=1
    ((${#pids[@]})) || return 0
    echo
    step "stopping (${#pids[@]} processes)"
    local pid alive i
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    # Give them 10 s to shut down cleanly, then SIGKILL whatever is left.
    for ((i = 0; i < 100; i++)); do
        alive=0
        for pid in "${pids[@]}"; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        ((alive)) || break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A demo data dir made before each extension got its own NATS account keeps the demo's buckets where
# no extension reaches them, and `symphony serve` refuses it. It is only demo data: move it aside (kept,
# not deleted) and start afresh.
LAYOUT="accounts-per-extension"
if [[ -f "$DIR/identity.json" && "$(cat "$DIR/.demo-layout" 2>/dev/null)" != "$LAYOUT" ]]; then
    old="$DIR.before-accounts-$(date +%Y%m%d%H%M%S)"
    mv "$DIR" "$old"
    step "moved the demo data dir of an older Symphony to $old; starting a new one"
fi
mkdir -p "$DIR"
echo "$LAYOUT" > "$DIR/.demo-layout"
# A ports.json left behind by an earlier run would point at dead ports.
rm -f "$DIR/ports.json"

step "starting symphony serve --data-dir $DIR"
"$BIN/symphony" serve --data-dir "$DIR" &
server_pid=$!
pids+=("$server_pid")

http_port=""
deadline=$((SECONDS + TIMEOUT))
while :; do
    kill -0 "$server_pid" 2>/dev/null || die "symphony serve exited before it became ready"
    ((SECONDS < deadline)) || die "symphony serve was not ready after ${TIMEOUT}s"
    if [[ -s "$DIR/ports.json" ]]; then
        http_port="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["http"])' \
            "$DIR/ports.json" 2>/dev/null || true)"
        if [[ -n "$http_port" ]] && curl -fsS -o /dev/null "http://127.0.0.1:$http_port/api/v1/ready" 2>/dev/null; then
            break
        fi
    fi
    sleep 0.2
done

for ext in "${EXTENSIONS[@]}"; do
    # The SDK ignores REGISTRATION_TOKEN once it has a stored key, so a fresh one is always safe to pass.
    token="$("$BIN/symphony" token create --registration --name "demo-$ext" --data-dir "$DIR")" \
        || die "could not create a registration token for $ext"
    [[ -n "$token" ]] || die "symphony token create printed no token for $ext"
    step "starting extension $ext"
    REGISTRATION_TOKEN="$token" "$BIN/$ext" &
    pids+=("$!")
done

# A first look at the catalog should show items: once its routes are up, an empty catalog gets a few
# (examples/catalog/demo/items.json) through the REST gateway with a key that expires in ten minutes.
seed_catalog() {
    local key base i listed="" item
    key="$("$BIN/symphony" key create --data-dir "$DIR" --name demo-catalog-items --expires 10m \
        --capability pub:extensions.catalog.list --capability pub:extensions.catalog.add)" || return 1
    base="http://127.0.0.1:$http_port/api/v1/extension/catalog"
    for ((i = 0; i < 300; i++)); do
        listed="$(curl -fsS -H "Authorization: Bearer $key" "$base/list" 2>/dev/null)" && break
        sleep 0.2
    done
    [[ "$listed" == "[]" ]] || return 0
    python3 -c 'import json, sys; [print(json.dumps(i)) for i in json.load(open(sys.argv[1]))]' \
        examples/catalog/demo/items.json | while read -r item; do
        curl -fsS -o /dev/null -H "Authorization: Bearer $key" -H "Content-Type: application/json" \
            --data "$item" "$base/add" || return 1
    done
    step "added $(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' \
        examples/catalog/demo/items.json) demo items to the empty catalog"
}
seed_catalog || echo "demo: could not add the demo items to the catalog (the demo runs without them)" >&2

echo
echo "Symphony is running: http://127.0.0.1:$http_port/"
echo "Data dir: $DIR"
echo "Ctrl-C to stop"

# Stay in the foreground for as long as the server runs.
status=0
wait "$server_pid" || status=$?
echo "demo: symphony serve exited (status $status)" >&2
exit "$status"
