#!/usr/bin/env bash
# The UI benchmark, one command (bench/ui/README.md): builds the web shell and the release server, then
# bench/ui/bench.mjs measures, in one run on this machine,
#   - the shell's first paint and an extension's JSX page load with 0 and with 50 extra extensions
#     (two instances side by side, alternating sample by sample; Debian's Chromium via playwright-core),
#   - the transpile of a 500-line TSX page, cold (cache miss) and cached,
# keeps the raw samples in bench/ui/results/ and writes bench/UI-REPORT.md (bench/ui/report.py).
#
# Environment: BENCH_UI_SAMPLES (rounds, default 20), BENCH_UI_WARMUP (default 2), BENCH_UI_EXTRAS (default 50),
# BENCH_UI_JSX_SAMPLES (cold variants, default 30), BENCH_UI_JSX_REPEAT (cached GETs per variant, default 5),
# BENCH_NO_BUILD=1 (use target/release and web/dist as they are), SYMPHONY_CHROMIUM (default /usr/bin/chromium;
# never downloaded). Every process it starts is stopped on exit, also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/../.."

ROOT="$(pwd -P)"
log() { echo "bench-ui: $*" >&2; }
die() {
    log "$*"
    exit 1
}

CHROMIUM="${SYMPHONY_CHROMIUM:-/usr/bin/chromium}"
[[ -x "$CHROMIUM" ]] || die "no Chromium at $CHROMIUM (Debian: apt-get install chromium); this benchmark never downloads one"
command -v node >/dev/null 2>&1 || die "node is needed (playwright-core from web/node_modules)"
command -v python3 >/dev/null 2>&1 || die "python3 is needed (report)"

scripts/bootstrap.sh >&2
[[ -d web/node_modules/playwright-core ]] || die "web/node_modules/playwright-core is missing (scripts/bootstrap.sh installs web/)"
if [[ "${BENCH_NO_BUILD:-0}" == 1 ]]; then
    log "BENCH_NO_BUILD=1: using web/dist and target/release as they are"
else
    scripts/build-web.sh >&2
    log "cargo build --release -p symphony-server"
    cargo build --release -p symphony-server
fi
[[ -x target/release/symphony ]] || die "target/release/symphony is missing"
SYMPHONY_NATS_SERVER="$(cat .venv/nats-server-path)"
export SYMPHONY_NATS_SERVER

T="$(mktemp -d "${TMPDIR:-/tmp}/symphony-ui-bench-run.XXXXXX")"
DRIVER_PID=""
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ -n "$DRIVER_PID" ]] && kill -0 "$DRIVER_PID" 2>/dev/null; then
        # The driver stops its own children on SIGTERM; its process group catches anything left behind.
        kill -TERM "$DRIVER_PID" 2>/dev/null || true
        for _ in $(seq 300); do
            kill -0 "$DRIVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$DRIVER_PID" 2>/dev/null || true
    fi
    rm -rf "$T"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Machine and versions, before the run: the tree the binary was just built from (others may edit it meanwhile).
{
    echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "nproc=$(nproc)"
    echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "kernel=$(uname -sr)"
    echo "memory=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
    echo "nats_server=nats-server $("$SYMPHONY_NATS_SERVER" --version 2>&1 | head -n1 | awk '{print $NF}')"
    echo "rustc=$(rustc --version)"
    echo "symphony=$(target/release/symphony version 2>&1 | head -n1)"
    echo "python=$(.venv/bin/python --version 2>&1)"
    echo "playwright=$(node -p 'require("./web/node_modules/playwright-core/package.json").version')"
    echo "git=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo '+dirty')"
    echo "dirty_files=$(git status --short -- crates web python tests 2>/dev/null | wc -l)"
} >"$T/env.txt"

# A private copy of the binary: target/release is shared, and another build may replace it during the run.
mkdir -p "$T/bin"
cp target/release/symphony "$T/bin/symphony"

# setsid: the driver leads its own process group (the fallback above kills that group, nothing else).
BENCH_UI_BIN="${BENCH_UI_BIN:-$T/bin}" setsid node bench/ui/bench.mjs "$T/results" &
DRIVER_PID=$!
wait "$DRIVER_PID"
DRIVER_PID=""

mv "$T/env.txt" "$T/results/env.txt"
rm -rf "$ROOT/bench/ui/results"
mv "$T/results" "$ROOT/bench/ui/results"
python3 bench/ui/report.py bench/ui/results >bench/UI-REPORT.md
log "wrote bench/UI-REPORT.md and bench/ui/results/"
