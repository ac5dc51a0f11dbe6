#!/usr/bin/env bash
# A/B test of symphony binaries on the gateway scenario of bench/run.sh (wrk -t2 -c16, 1 KiB JSON echo):
#
#   bench/compare.sh [-n ROUNDS] [-d DURATION] LABEL=PATH/TO/symphony [LABEL=PATH …]
#
# Each round measures every binary once, interleaved (background load drifts; interleaving spreads it
# evenly), each against its own fresh instance (temp data dir, embedded nats-server, target/release/echo-ext,
# an API key with pub:extensions.echo.echo). Prints req/s, p50, p99 and CPU µs per request of symphony,
# nats-server and echo-ext. Used for the experiments in bench/experiments/ (see bench/analysis.md).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=3
DURATION=8s
while getopts "n:d:" opt; do
    case "$opt" in
    n) ROUNDS="$OPTARG" ;;
    d) DURATION="$OPTARG" ;;
    *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
(($# > 0)) || {
    echo "usage: bench/compare.sh [-n ROUNDS] [-d DURATION] LABEL=PATH/TO/symphony …" >&2
    exit 2
}
for spec in "$@"; do
    [[ "$spec" == *=* && -x "${spec#*=}" ]] || {
        echo "compare: $spec is not LABEL=<executable symphony>" >&2
        exit 2
    }
done

[[ -x "${CARGO_TARGET_DIR:-target}/release/echo-ext" ]] || cargo build --release -p symphony-bench
scripts/bootstrap.sh >&2
SYMPHONY_NATS_SERVER="$(cat .venv/nats-server-path)"
export SYMPHONY_NATS_SERVER
ECHO_EXT="${CARGO_TARGET_DIR:-$(pwd -P)/target}/release/echo-ext"

T=""
PIDS=()
stop_all() {
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill -TERM "${PIDS[i]}" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
    [[ -n "$T" ]] && rm -rf "$T"
    T=""
}
trap stop_all EXIT
trap 'exit 130' INT TERM

ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

# measure LABEL SYMPHONY: one fresh instance, warm-up, one measured wrk run; prints one line.
measure() {
    local label="$1" symphony="$2"
    T="$(mktemp -d "${TMPDIR:-/tmp}/symphony-compare.XXXXXX")"
    "$symphony" serve --data-dir "$T/data" --http 0 --nats-port 0 --ws-port 0 >"$T/symphony.log" 2>&1 &
    local sp=$!
    PIDS+=("$sp")
    local n=0
    until [[ -s "$T/data/ports.json" ]]; do
        ((n++ < 300)) || {
            cat "$T/symphony.log" >&2
            return 1
        }
        sleep 0.1
    done
    local http
    http="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["http_url"])' "$T/data/ports.json")"
    until curl -fsS "$http/api/v1/ready" >/dev/null 2>&1; do sleep 0.2; done
    local registration key
    registration="$("$symphony" token create --registration --data-dir "$T/data")"
    REGISTRATION_TOKEN="$registration" SYMPHONY_CREDENTIAL_STORE=file CIRATA_CONFIG_DIR="$T/cirata" \
        "$ECHO_EXT" >"$T/echo-ext.log" 2>&1 &
    local ep=$!
    PIDS+=("$ep")
    key="$("$symphony" key create --data-dir "$T/data" --capability pub:extensions.echo.echo)"
    local url="$http/api/v1/extension/echo/echo"
    n=0
    until [[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $key" \
        --data '{}' "$url")" == 200 ]]; do
        ((n++ < 200)) || {
            echo "compare: $label: the gateway never answered 200" >&2
            return 1
        }
        sleep 0.3
    done
    local np
    np="$(ps -o pid= --ppid "$sp" -o comm= | awk '$2 == "nats-server" {print $1; exit}')"
    BENCH_TOKEN="$key" wrk -t2 -c16 -d3s -s bench/post.lua "$url" >/dev/null
    local s0 n0 e0 s1 n1 e1
    s0="$(ticks "$sp")" n0="$(ticks "$np")" e0="$(ticks "$ep")"
    BENCH_TOKEN="$key" wrk -t2 -c16 -d"$DURATION" --latency -s bench/post.lua "$url" >"$T/wrk.txt"
    s1="$(ticks "$sp")" n1="$(ticks "$np")" e1="$(ticks "$ep")"
    python3 - "$label" "$(grep '^JSON ' "$T/wrk.txt" | cut -c6-)" $((s1 - s0)) $((n1 - n0)) $((e1 - e0)) <<'PY'
import json, os, sys
label, run = sys.argv[1], json.loads(sys.argv[2])
n, seconds = run["requests"], run["duration_us"] / 1e6
per = [int(t) / os.sysconf("SC_CLK_TCK") / n * 1e6 for t in sys.argv[3:6]]
lat = run["latency_us"]
print(f"{label:16s} {n / seconds:8.0f} {lat['p50'] / 1e3:8.3f} {lat['p99'] / 1e3:8.3f} "
      f"{per[0]:9.1f} {per[1]:9.1f} {per[2]:9.1f} {sum(run['errors'].values()):6d}")
PY
    stop_all
}

printf '%-16s %8s %8s %8s %9s %9s %9s %6s\n' label 'req/s' 'p50 ms' 'p99 ms' 'sym µs' 'nats µs' 'echo µs' errors
for ((round = 1; round <= ROUNDS; round++)); do
    for spec in "$@"; do
        measure "${spec%%=*}" "${spec#*=}"
    done
done
