#!/usr/bin/env bash
# Issue 3's benchmark, one command: builds release binaries, starts a throw-away Symphony instance (embedded
# nats-server), the Rust SDK echo extension, an HTTP echo upstream behind nginx, then measures in one run,
# one scenario after the other (1 KiB JSON body, 16 connections):
#   raw_nats         nats-load → NATS → echo-ext                         (the floor)
#   gateway          wrk → symphony REST gateway → NATS → echo-ext       (API key as bearer)
#   gateway_session  the same as a signed-in user                        (session token of admin's login)
#   nginx            wrk → nginx → http-echo                             (what a user would deploy instead)
# and two breakdown scenarios that isolate the gateway's fixed costs:
#   symphony_ping    wrk GET /api/v1/ping                                (HTTP stack only)
#   gateway_auth     wrk GET /api/v1/extension/nope/echo                 (HTTP + bearer-token check, 404)
# and one open-loop scenario (issue 11), the gateway's added latency at a rate that does not saturate the
# machine:
#   open_loop        open-loop → NATS → echo-ext and open-loop → gateway → NATS → echo-ext, each at
#                    BENCH_OPEN_RATE req/s (default 1000), taking turns in 1 s slices, latency measured
#                    from each request's scheduled send time (no coordinated omission)
# then gateway and gateway_session again in alternating rounds (BENCH_PAIRS, default 4, of
# BENCH_PAIR_DURATION, default 5s, each; 0 skips them): a signed-in user vs API key ratio that background
# load moves less than one back-to-back pair.
# With BENCH_BASELINE_BIN=/path/to/old/symphony it also starts a second instance of that binary (its own
# data dir, nats-server and echo-ext) and runs the gateway scenario against both in alternating rounds
# (BENCH_BASELINE_ROUNDS, default BENCH_PAIRS or 4, of BENCH_PAIR_DURATION each): issue 11's "req/s and
# p50 must not get worse than before", measured side by side in one run.
# It samples RSS of every server process while each scenario runs, keeps the raw outputs in
# bench/results/ and writes bench/REPORT.md (bench/report.py).
#
# Environment: BENCH_DURATION (default 15s), BENCH_WARMUP (default 3s), BENCH_PROFILE=1 (also record a
# `perf` profile of symphony and nats-server under gateway load into bench/results/perf-*.txt, and under
# gateway_session load into bench/results/perf-session-*.txt), BENCH_NO_BUILD=1 (skip
# `cargo build --release`, use what the release directory holds), BENCH_OPEN_RATE (default 1000: requests
# per second of each open_loop leg; it runs BENCH_WARMUP + BENCH_DURATION per leg), BENCH_PAIRS and
# BENCH_PAIR_DURATION (above), BENCH_BASELINE_BIN (default none: the symphony binary "before" the change,
# e.g. a release build of the merge base copied out of the target directory) and BENCH_BASELINE_ROUNDS.
# Binaries are taken from $CARGO_TARGET_DIR/release when CARGO_TARGET_DIR is set, else target/release.
# Every process it starts is stopped on exit, also on failure or Ctrl-C.
#
# The web UI benchmark (shell and extension page with 0 vs 50 extensions, JSX transpile) is separate:
# bench/ui/run.sh writes bench/UI-REPORT.md (bench/ui/README.md).
set -euo pipefail
# A relative BENCH_BASELINE_BIN is relative to where the script was started, not to the repository root.
if [[ -n "${BENCH_BASELINE_BIN:-}" && "$BENCH_BASELINE_BIN" != /* ]]; then
    BENCH_BASELINE_BIN="$PWD/$BENCH_BASELINE_BIN"
fi
cd "$(dirname "$0")/.."

ROOT="$(pwd -P)"
DURATION="${BENCH_DURATION:-15s}"
WARMUP="${BENCH_WARMUP:-3s}"
PROFILE="${BENCH_PROFILE:-0}"
OPEN_RATE="${BENCH_OPEN_RATE:-1000}"
PAIRS="${BENCH_PAIRS:-4}"
PAIR_DURATION="${BENCH_PAIR_DURATION:-5s}"
BASELINE_BIN="${BENCH_BASELINE_BIN:-}"
BASELINE_ROUNDS="${BENCH_BASELINE_ROUNDS:-$((PAIRS > 0 ? PAIRS : 4))}"
CONNECTIONS=16
WRK_THREADS=2
SIZE=1024

log() { echo "bench: $*" >&2; }
die() {
    log "$*"
    exit 1
}
if [[ -n "$BASELINE_BIN" ]]; then
    [[ -x "$BASELINE_BIN" ]] || die "BENCH_BASELINE_BIN=$BASELINE_BIN is not an executable"
    ((BASELINE_ROUNDS > 0)) || die "BENCH_BASELINE_ROUNDS must be at least 1 with BENCH_BASELINE_BIN"
fi

apt_install() {
    local sudo=()
    [[ "$(id -u)" -ne 0 ]] && sudo=(sudo)
    log "installing $* with apt-get"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "$@"
}

# --- tools --------------------------------------------------------------------------------------------
command -v wrk >/dev/null 2>&1 || apt_install wrk
NGINX="$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)"
[[ -x "$NGINX" ]] || {
    apt_install nginx-light
    NGINX=/usr/sbin/nginx
}
command -v python3 >/dev/null 2>&1 || die "python3 is needed (report and helpers)"
command -v curl >/dev/null 2>&1 || apt_install curl
if [[ "$PROFILE" == 1 ]] && ! command -v perf >/dev/null 2>&1; then
    apt_install linux-perf
fi

if [[ "${BENCH_NO_BUILD:-0}" == 1 ]]; then
    log "BENCH_NO_BUILD=1: using the binaries already in ${CARGO_TARGET_DIR:-target}/release"
else
    log "cargo build --release -p symphony-server -p symphony-bench"
    cargo build --release -p symphony-server -p symphony-bench
fi
scripts/bootstrap.sh >&2
SYMPHONY_NATS_SERVER="$(cat .venv/nats-server-path)"
export SYMPHONY_NATS_SERVER
# Where cargo put them: CARGO_TARGET_DIR (relative to the workspace root, as cargo reads it) or target/.
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
[[ "$TARGET_DIR" == /* ]] || TARGET_DIR="$ROOT/$TARGET_DIR"
BIN="$TARGET_DIR/release"
SYMPHONY="$BIN/symphony"

# CPU busy % of the whole machine over 3 s before anything starts: other work on the cores skews results.
BACKGROUND_BUSY="$(python3 - <<'PY'
import time
def snap():
    v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(v), v[3] + v[4]
t0, i0 = snap(); time.sleep(3); t1, i1 = snap()
print(f"{100 * (1 - (i1 - i0) / max(t1 - t0, 1)):.0f}")
PY
)"
log "machine busy ${BACKGROUND_BUSY}% before the run (load average $(cut -d' ' -f1-3 /proc/loadavg))"

# --- processes and cleanup ---------------------------------------------------------------------------
T="$(mktemp -d "${TMPDIR:-/tmp}/symphony-bench.XXXXXX")"
chmod 755 "$T" # nginx workers (user nobody when run as root) traverse it
OUT="$T/results"
mkdir -p "$OUT"
PIDS=()

stop_pid() {
    local pid="$1"
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        stop_pid "${PIDS[i]}"
    done
    if ((status != 0)); then
        for f in "$T"/*.log; do
            [[ -f "$f" ]] || continue
            echo "----- $(basename "$f") (last 20 lines)" >&2
            tail -n 20 "$f" >&2
        done
    fi
    rm -rf "$T"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CMD...: runs CMD in the background with its output in $T/NAME.log; sets STARTED to its pid.
start() {
    local name="$1"
    shift
    "$@" >"$T/$name.log" 2>&1 &
    STARTED=$!
    PIDS+=("$STARTED")
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_until SECONDS DESCRIPTION CMD...: retries CMD every 0.2 s.
wait_until() {
    local seconds="$1" what="$2"
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die "timed out after ${seconds}s waiting for $what"
        sleep 0.2
    done
}

# --- Symphony, the echo extension, a client key ------------------------------------------------------
DATA="$T/data"
# The password of user `admin` (created on this first start), for the gateway_session scenario's login.
ADMIN_PASSWORD="${SYMPHONY_ADMIN_PASSWORD:-bench-$(python3 -c 'import secrets; print(secrets.token_hex(12))')}"
start symphony env SYMPHONY_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
    "$SYMPHONY" serve --data-dir "$DATA" --http 0 --nats-port 0 --ws-port 0
SYMPHONY_PID=$STARTED
wait_until 60 "symphony to write ports.json" test -s "$DATA/ports.json"
HTTP_URL="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["http_url"])' "$DATA/ports.json")"
wait_until 60 "symphony to be ready" curl -fsS "$HTTP_URL/api/v1/ready"
NATS_PID="$(ps -o pid= --ppid "$SYMPHONY_PID" -o comm= | awk '$2 == "nats-server" {print $1; exit}')"
[[ -n "$NATS_PID" ]] || die "no nats-server child of symphony ($SYMPHONY_PID)"
log "symphony $HTTP_URL (pid $SYMPHONY_PID, nats-server pid $NATS_PID)"

REGISTRATION_TOKEN="$("$SYMPHONY" token create --registration --data-dir "$DATA")"
start echo-ext env REGISTRATION_TOKEN="$REGISTRATION_TOKEN" SYMPHONY_CREDENTIAL_STORE=file \
    CIRATA_CONFIG_DIR="$T/cirata" "$BIN/echo-ext"
ECHO_PID=$STARTED
CLIENT_TOKEN="$("$SYMPHONY" key create --data-dir "$DATA" --name bench-client \
    --capability pub:extensions.echo.echo)"
GATEWAY_URL="$HTTP_URL/api/v1/extension/echo/echo"
# gateway_answers [TOKEN]: whether the gateway answers the echo call 200 (default: the API key).
gateway_answers() {
    [[ "$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer ${1:-$CLIENT_TOKEN}" \
        -H 'Content-Type: application/json' --data '{"ping":true}' "$GATEWAY_URL")" == 200 ]]
}
wait_until 60 "POST $GATEWAY_URL to answer 200" gateway_answers
log "gateway answers at $GATEWAY_URL"

# A signed-in user: the session token of `POST /api/v1/login` (reply `{"token": …, "roles": …}`), sent
# as `Authorization: Bearer` like the API key. Its idle timeout (default 30 min) restarts on every use.
SESSION_TOKEN="$(python3 - "$HTTP_URL/api/v1/login" "$ADMIN_PASSWORD" <<'PY'
import json, sys, urllib.request
url, password = sys.argv[1], sys.argv[2]
body = json.dumps({"username": "admin", "password": password}).encode()
req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=30) as reply:
    print(json.load(reply)["token"])
PY
)" || die "POST /api/v1/login as admin failed (SYMPHONY_ADMIN_PASSWORD must be admin's password)"
# session_is_user: the token still authenticates a signed-in user (not expired, not an API key).
session_is_user() {
    curl -fsS -H "Authorization: Bearer $SESSION_TOKEN" "$HTTP_URL/api/v1/userinfo" |
        python3 -c 'import json, sys; sys.exit(json.load(sys.stdin).get("kind") != "user")'
}
session_is_user || die "the login's token does not authenticate a signed-in user"
gateway_answers "$SESSION_TOKEN" || die "the gateway does not answer 200 to the signed-in admin"
log "signed in as admin: the gateway answers the session token too"

# --- the baseline: a second instance of BENCH_BASELINE_BIN, with its own echo-ext and client key -----
# Started now, not before its rounds, so that a baseline binary that cannot start fails the run early; it
# idles until then. The echo extension is this build's for both: only symphony differs.
if [[ -n "$BASELINE_BIN" ]]; then
    BASE_DATA="$T/data-baseline"
    start symphony-baseline "$BASELINE_BIN" serve --data-dir "$BASE_DATA" --http 0 --nats-port 0 --ws-port 0
    BASE_SYMPHONY_PID=$STARTED
    wait_until 60 "the baseline symphony to write ports.json" test -s "$BASE_DATA/ports.json"
    BASE_HTTP_URL="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["http_url"])' \
        "$BASE_DATA/ports.json")"
    wait_until 60 "the baseline symphony to be ready" curl -fsS "$BASE_HTTP_URL/api/v1/ready"
    BASE_NATS_PID="$(ps -o pid= --ppid "$BASE_SYMPHONY_PID" -o comm= | awk '$2 == "nats-server" {print $1; exit}')"
    [[ -n "$BASE_NATS_PID" ]] || die "no nats-server child of the baseline symphony ($BASE_SYMPHONY_PID)"
    BASE_REGISTRATION="$("$BASELINE_BIN" token create --registration --data-dir "$BASE_DATA")"
    start echo-ext-baseline env REGISTRATION_TOKEN="$BASE_REGISTRATION" SYMPHONY_CREDENTIAL_STORE=file \
        CIRATA_CONFIG_DIR="$T/cirata-baseline" "$BIN/echo-ext"
    BASE_ECHO_PID=$STARTED
    BASE_TOKEN="$("$BASELINE_BIN" key create --data-dir "$BASE_DATA" --capability pub:extensions.echo.echo)"
    BASE_GATEWAY_URL="$BASE_HTTP_URL/api/v1/extension/echo/echo"
    base_answers() {
        [[ "$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $BASE_TOKEN" \
            -H 'Content-Type: application/json' --data '{"ping":true}' "$BASE_GATEWAY_URL")" == 200 ]]
    }
    wait_until 60 "POST $BASE_GATEWAY_URL (baseline) to answer 200" base_answers
    log "baseline $BASELINE_BIN: $BASE_HTTP_URL (pid $BASE_SYMPHONY_PID, nats-server pid $BASE_NATS_PID)"
fi

# --- http-echo behind nginx --------------------------------------------------------------------------
UPSTREAM_PORT="$(free_port)"
start http-echo "$BIN/http-echo" --port "$UPSTREAM_PORT"
HTTP_ECHO_PID=$STARTED
NGINX_PORT="$(free_port)"
mkdir -p "$T/nginx"
# worker_processes auto: what Debian's packaged nginx.conf ships and what a user would deploy (here 2
# workers, one per core). Upstream keepalive so nginx does not open a connection per request.
cat >"$T/nginx/nginx.conf" <<EOF
daemon off;
worker_processes auto;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $T/nginx/client_body;
    proxy_temp_path $T/nginx/proxy;
    fastcgi_temp_path $T/nginx/fastcgi;
    uwsgi_temp_path $T/nginx/uwsgi;
    scgi_temp_path $T/nginx/scgi;
    upstream echo_upstream {
        server 127.0.0.1:$UPSTREAM_PORT;
        keepalive 32;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://echo_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
start nginx "$NGINX" -p "$T/nginx/" -c "$T/nginx/nginx.conf" -e "$T/nginx/error.log"
NGINX_PID=$STARTED
NGINX_URL="http://127.0.0.1:$NGINX_PORT/echo"
wait_until 30 "nginx → http-echo to answer" curl -fsS -X POST --data x "$NGINX_URL"
NGINX_WORKERS="$(ps -o pid= --ppid "$NGINX_PID" | xargs)"
log "nginx $NGINX_URL (master $NGINX_PID, workers $NGINX_WORKERS) → http-echo :$UPSTREAM_PORT"

# --- RSS sampling ------------------------------------------------------------------------------------
ROLES=("symphony $SYMPHONY_PID" "nats-server $NATS_PID" "echo-ext $ECHO_PID" "http-echo $HTTP_ECHO_PID"
    "nginx-master $NGINX_PID")
for w in $NGINX_WORKERS; do ROLES+=("nginx-worker $w"); done
if [[ -n "$BASELINE_BIN" ]]; then
    ROLES+=("symphony-baseline $BASE_SYMPHONY_PID" "nats-server-baseline $BASE_NATS_PID"
        "echo-ext-baseline $BASE_ECHO_PID")
fi

# sample_rss FILE: one line per process and sample, `<unix time> <role> <pid> <rss KiB>`.
sample_rss_once() {
    local now role pid rss
    now="$(date +%s.%N)"
    for entry in "${ROLES[@]}"; do
        read -r role pid <<<"$entry"
        rss="$(ps -o rss= -p "$pid" 2>/dev/null | tr -d ' ')" || continue
        [[ -n "$rss" ]] && echo "$now $role $pid $rss"
    done
}
sample_rss() {
    while true; do
        sample_rss_once >>"$1"
        sleep 0.5
    done
}
# cpu_snapshot: `<role> <pid> <utime ticks> <stime ticks>` of every process (/proc/<pid>/stat).
cpu_snapshot() {
    local role pid
    for entry in "${ROLES[@]}"; do
        read -r role pid <<<"$entry"
        [[ -r "/proc/$pid/stat" ]] || continue
        echo "$role $pid $(sed 's/^.*) //' "/proc/$pid/stat" | awk '{print $12, $13}')"
    done
}
SAMPLER_PID=""
begin_sampling() {
    cpu_snapshot >"$OUT/cpu-$1-begin.tsv"
    sample_rss "$OUT/rss-$1.tsv" &
    SAMPLER_PID=$!
    PIDS+=("$SAMPLER_PID")
}
end_sampling() {
    cpu_snapshot >"$OUT/cpu-$1-end.tsv"
    sample_rss_once >>"$OUT/rss-$1.tsv"
    kill "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
}
# timed FILE CMD…: runs CMD, writing the load generator's own CPU seconds (`<user> <sys>`) to FILE.
timed() {
    local file="$1"
    shift
    local TIMEFORMAT='%U %S'
    { time "$@" 2>&3; } 3>&2 2>"$file"
}

# --- scenarios ---------------------------------------------------------------------------------------
# run_wrk NAME URL [VAR=VALUE…]: warm-up, then the measured run; keeps wrk's text and its JSON line.
run_wrk() {
    local name="$1" url="$2"
    shift 2
    log "$name: warm-up $WARMUP, then wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION --latency $url"
    env BENCH_SIZE="$SIZE" "$@" wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$WARMUP" -s bench/post.lua \
        "$url" >/dev/null
    begin_sampling "$name"
    timed "$OUT/loadgen-cpu-$name.txt" env BENCH_SIZE="$SIZE" "$@" wrk -t"$WRK_THREADS" \
        -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/post.lua "$url" >"$OUT/wrk-$name.txt"
    end_sampling "$name"
    grep '^JSON ' "$OUT/wrk-$name.txt" | sed 's/^JSON //' >"$OUT/$name.json"
}

sample_rss_once >"$OUT/rss-idle.tsv"

log "raw_nats: warm-up $WARMUP, then nats-load --connections $CONNECTIONS --duration $DURATION --size $SIZE"
SYMPHONY_TOKEN="$CLIENT_TOKEN" "$BIN/nats-load" --connections "$CONNECTIONS" --duration "$WARMUP" \
    --size "$SIZE" --scenario warmup >/dev/null
begin_sampling raw_nats
SYMPHONY_TOKEN="$CLIENT_TOKEN" timed "$OUT/loadgen-cpu-raw_nats.txt" "$BIN/nats-load" \
    --connections "$CONNECTIONS" --duration "$DURATION" --size "$SIZE" --scenario raw_nats \
    >"$OUT/raw_nats.json"
end_sampling raw_nats

run_wrk gateway "$GATEWAY_URL" BENCH_TOKEN="$CLIENT_TOKEN"
# Right after gateway, so both see the same background load as far as possible.
run_wrk gateway_session "$GATEWAY_URL" BENCH_TOKEN="$SESSION_TOKEN"
session_is_user || die "the session ended during gateway_session: its numbers are not a signed-in user's"
run_wrk nginx "$NGINX_URL"
run_wrk symphony_ping "$HTTP_URL/api/v1/ping" BENCH_METHOD=GET
# GET without a body: a 404 to a request whose body was never read would close the connection
# (`Connection: close`), and wrk would measure reconnects instead of the token check.
run_wrk gateway_auth "$HTTP_URL/api/v1/extension/nope/echo" BENCH_TOKEN="$CLIENT_TOKEN" BENCH_METHOD=GET

# open_loop: both legs in one open-loop process, taking turns in 1 s slices (connections stay open, and
# background load that comes and goes falls on both legs alike), each BENCH_WARMUP warm-up + BENCH_DURATION
# measured at OPEN_RATE. CPU and RSS are sampled over both legs together.
log "open_loop: raw NATS and gateway at $OPEN_RATE req/s each, $SIZE B, $CONNECTIONS connections each," \
    "taking turns in 1 s slices: $WARMUP warm-up, then $DURATION measured per leg"
begin_sampling open_loop
SYMPHONY_TOKEN="$CLIENT_TOKEN" timed "$OUT/loadgen-cpu-open_loop.txt" "$BIN/open-loop" --mode nats,http \
    --url "$GATEWAY_URL" --rate "$OPEN_RATE" --connections "$CONNECTIONS" --size "$SIZE" \
    --warmup "$WARMUP" --duration "$DURATION" --slice 1s >"$OUT/open_loop.json"
end_sampling open_loop

# gateway vs gateway_session again, in BENCH_PAIRS rounds of BENCH_PAIR_DURATION each, alternating which
# goes first (key, session; session, key; …): other work on the shared cores comes and goes within
# seconds and can move one 10 s scenario by ±30 %, so one back-to-back pair cannot settle a 5 % goal.
# Raw outputs in results/pairs/ (`<round>-<scenario>.json`, `cpu-…`, `loadgen-cpu-…` as above).
# pair_slice DIR NAME TOKEN [URL]: one wrk run of PAIR_DURATION against URL (default: the gateway) into
# $OUT/DIR.
pair_slice() {
    local dir="$OUT/$1" name="$2" token="$3" url="${4:-$GATEWAY_URL}"
    cpu_snapshot >"$dir/cpu-$name-begin.tsv"
    timed "$dir/loadgen-cpu-$name.txt" env BENCH_SIZE="$SIZE" BENCH_TOKEN="$token" wrk \
        -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$PAIR_DURATION" --latency -s bench/post.lua "$url" \
        >"$dir/wrk-$name.txt"
    cpu_snapshot >"$dir/cpu-$name-end.tsv"
    grep '^JSON ' "$dir/wrk-$name.txt" | sed 's/^JSON //' >"$dir/$name.json"
}
if ((PAIRS > 0)); then
    log "pairs: $PAIRS rounds of gateway and gateway_session, $PAIR_DURATION each, alternating order"
    mkdir -p "$OUT/pairs"
    for ((round = 1; round <= PAIRS; round++)); do
        if ((round % 2)); then
            pair_slice pairs "$round-gateway" "$CLIENT_TOKEN"
            pair_slice pairs "$round-gateway_session" "$SESSION_TOKEN"
        else
            pair_slice pairs "$round-gateway_session" "$SESSION_TOKEN"
            pair_slice pairs "$round-gateway" "$CLIENT_TOKEN"
        fi
    done
    session_is_user || die "the session ended during the pairs: their numbers are not a signed-in user's"
fi

# Before / after: the gateway scenario against this build (`<round>-gateway`) and BENCH_BASELINE_BIN
# (`<round>-gateway_baseline`) in alternating rounds, like the pairs above; raw outputs in results/baseline/.
if [[ -n "$BASELINE_BIN" ]]; then
    log "baseline: warm-up $WARMUP, then $BASELINE_ROUNDS rounds of gateway against this build and the" \
        "baseline, $PAIR_DURATION each, alternating order"
    env BENCH_SIZE="$SIZE" BENCH_TOKEN="$BASE_TOKEN" wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$WARMUP" \
        -s bench/post.lua "$BASE_GATEWAY_URL" >/dev/null
    mkdir -p "$OUT/baseline"
    for ((round = 1; round <= BASELINE_ROUNDS; round++)); do
        if ((round % 2)); then
            pair_slice baseline "$round-gateway" "$CLIENT_TOKEN"
            pair_slice baseline "$round-gateway_baseline" "$BASE_TOKEN" "$BASE_GATEWAY_URL"
        else
            pair_slice baseline "$round-gateway_baseline" "$BASE_TOKEN" "$BASE_GATEWAY_URL"
            pair_slice baseline "$round-gateway" "$CLIENT_TOKEN"
        fi
    done
fi

# profile LABEL TOKEN PREFIX: perf record of symphony and nats-server under 10 s of gateway load with
# bearer TOKEN; flat profiles into $OUT/PREFIX-by-dso.txt and $OUT/PREFIX-symbols.txt.
profile() {
    local label="$1" token="$2" prefix="$3"
    log "profile: perf record of symphony and nats-server under 10 s of $label load"
    BENCH_TOKEN="$token" BENCH_SIZE="$SIZE" wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d12s \
        -s bench/post.lua "$GATEWAY_URL" >/dev/null &
    WRK_PID=$!
    PIDS+=("$WRK_PID")
    sleep 1
    perf record -q -F 1999 -g -p "$SYMPHONY_PID,$NATS_PID" -o "$T/$prefix.data" -- sleep 10 2>/dev/null
    wait "$WRK_PID" || true
    perf report -i "$T/$prefix.data" --stdio --no-children -g none --sort comm,dso \
        >"$T/$prefix-by-dso.txt" 2>/dev/null
    perf report -i "$T/$prefix.data" --stdio --no-children -g none --sort comm,symbol \
        --percent-limit 0.3 >"$T/$prefix-symbols.txt" 2>/dev/null
    # Files, not pipes into head: head closing early would kill perf with SIGPIPE under pipefail.
    # perf pads the symbol column to its longest name and appends empty IPC columns (`-  -`): both go.
    local trim='s/[[:space:]]+(-[[:space:]]+-|IPC[[:space:]]+\[IPC Coverage\])[[:space:]]*$//'
    trim+='; s/\.{80,}[ .]*$/..../; s/[[:space:]]+$//'
    grep -v '^$' "$T/$prefix-by-dso.txt" | sed -E "$trim" | sed -n 1,60p >"$OUT/$prefix-by-dso.txt"
    grep -v '^$' "$T/$prefix-symbols.txt" | sed -E "$trim" | sed -n 1,150p >"$OUT/$prefix-symbols.txt"
}
if [[ "$PROFILE" == 1 ]]; then
    profile gateway "$CLIENT_TOKEN" perf
    profile gateway_session "$SESSION_TOKEN" perf-session
fi

# --- environment and report --------------------------------------------------------------------------
{
    echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "nproc=$(nproc)"
    echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "kernel=$(uname -sr)"
    echo "background_busy_pct=$BACKGROUND_BUSY"
    echo "memory=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
    echo "nats_server=$("$SYMPHONY_NATS_SERVER" --version 2>&1 | head -n1)"
    echo "nginx=$("$NGINX" -v 2>&1 | head -n1)"
    echo "wrk=$(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2)"
    echo "rustc=$(rustc --version)"
    echo "symphony=$("$SYMPHONY" version 2>&1 | head -n1)"
    echo "git=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo '+dirty')"
    echo "duration=$DURATION"
    echo "warmup=$WARMUP"
    echo "pairs=$PAIRS"
    echo "pair_duration=$PAIR_DURATION"
    echo "open_rate=$OPEN_RATE"
    if [[ -n "$BASELINE_BIN" ]]; then
        echo "baseline_bin=$BASELINE_BIN"
        echo "baseline_symphony=$("$BASELINE_BIN" version 2>&1 | head -n1)"
        echo "baseline_rounds=$BASELINE_ROUNDS"
    fi
    echo "connections=$CONNECTIONS"
    echo "wrk_threads=$WRK_THREADS"
    echo "payload_bytes=$SIZE"
    echo "nginx_workers=$(wc -w <<<"$NGINX_WORKERS")"
} >"$OUT/env.txt"
cp "$T/nginx/nginx.conf" "$OUT/nginx.conf"

rm -rf "$ROOT/bench/results"
mv "$OUT" "$ROOT/bench/results"
python3 bench/report.py bench/results >bench/REPORT.md
log "wrote bench/REPORT.md and bench/results/"
