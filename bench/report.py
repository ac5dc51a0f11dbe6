#!/usr/bin/env python3
"""Writes bench/REPORT.md (to stdout) from the raw outputs bench/run.sh keeps in bench/results/.

Reads: env.txt (machine, versions, settings), raw_nats.json (nats-load), <scenario>.json (the JSON line of
bench/post.lua), open_loop.json (open-loop), rss-<scenario>.tsv, cpu-<scenario>-{begin,end}.tsv,
loadgen-cpu-<scenario>.txt, pairs/ and baseline/ (alternating rounds) and, when present, perf-*.txt;
includes bench/analysis.md (hand-written findings from profiling) verbatim.
"""

import json
import os
import sys
from collections import defaultdict

TARGET_P50_MS = 0.3
TARGET_P99_MS = 1.0
# Issue 10: a signed-in user's gateway call is no slower than an API key's.
TARGET_SESSION_RPS_RATIO = 0.95  # gateway_session req/s ÷ gateway req/s, at least
TARGET_SESSION_CPU_RATIO = 1.05  # symphony CPU µs/request gateway_session ÷ gateway, at most
# Issue 11: at a fixed 1,000 req/s with 1 KiB bodies, the gateway adds no more latency over a raw NATS
# request than Dapr's published sidecar benchmark adds over a direct call (the figures the issue quotes).
DAPR_ADDED_P50_MS = 1.06
DAPR_ADDED_P99_MS = 2.90
# Issue 11: the gateway's req/s and p50 must not get worse than before the change (BENCH_BASELINE_BIN).
# "Not worse" within the 5 % that background load moves a median of alternating rounds (as for issue 10).
TARGET_BASELINE_RPS_RATIO = 0.95  # after ÷ before, at least
TARGET_BASELINE_P50_RATIO = 1.05  # after ÷ before, at most

# Which processes serve each scenario: (proxy / server side, the echo handler behind it).
STACKS = {
    "raw_nats": (["nats-server"], ["echo-ext"]),
    "gateway": (["symphony", "nats-server"], ["echo-ext"]),
    "gateway_session": (["symphony", "nats-server"], ["echo-ext"]),
    "nginx": (["nginx-master", "nginx-worker"], ["http-echo"]),
    "symphony_ping": (["symphony"], []),
    "gateway_auth": (["symphony", "nats-server"], []),
}
LABELS = {
    "raw_nats": "raw NATS request/reply → echo-ext (floor)",
    "gateway": "HTTP → Symphony gateway → NATS → echo-ext (API key)",
    "gateway_session": "HTTP → Symphony gateway → NATS → echo-ext (signed-in user)",
    "nginx": "HTTP → nginx → http-echo",
    "symphony_ping": "HTTP → symphony `GET /api/v1/ping` (HTTP stack only)",
    "gateway_auth": "HTTP `GET` → gateway: token check, then 404 (no forward)",
}


def read_env(results):
    env = {}
    with open(os.path.join(results, "env.txt")) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            env[key] = value
    return env


def load(results, name):
    """Normalized numbers of one scenario, or None when it did not run."""
    path = os.path.join(results, f"{name}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        raw = json.load(f)
    if "latency_us" in raw:  # wrk via post.lua
        seconds = raw["duration_us"] / 1e6
        lat = raw["latency_us"]
        errors = sum(raw["errors"].values())
        return {
            "requests": raw["requests"],
            "rps": raw["requests"] / seconds,
            "seconds": seconds,
            "mean_ms": lat["mean"] / 1e3,
            "p50_ms": lat["p50"] / 1e3,
            "p90_ms": lat["p90"] / 1e3,
            "p99_ms": lat["p99"] / 1e3,
            "p999_ms": lat["p999"] / 1e3,
            "max_ms": lat["max"] / 1e3,
            "errors": errors,
            "non_2xx": raw["errors"]["status"],
        }
    return {
        "requests": raw["requests"],
        "rps": raw["rps"],
        "seconds": raw["duration_s"],
        "mean_ms": raw["mean_ms"],
        "p50_ms": raw["p50_ms"],
        "p90_ms": raw["p90_ms"],
        "p99_ms": raw["p99_ms"],
        "p999_ms": raw["p999_ms"],
        "max_ms": raw["max_ms"],
        "errors": raw["errors"],
        "non_2xx": 0,
    }


def peak_rss_kib(results, name):
    """Peak RSS per role (summed over a role's processes at each sample) while the scenario ran."""
    path = os.path.join(results, f"rss-{name}.tsv")
    if not os.path.exists(path):
        return {}
    per_sample = defaultdict(lambda: defaultdict(int))
    with open(path) as f:
        for line in f:
            t, role, _pid, rss = line.split()
            per_sample[t][role] += int(rss)
    peak = defaultdict(int)
    for roles in per_sample.values():
        for role, rss in roles.items():
            peak[role] = max(peak[role], rss)
    return dict(peak)


def cpu_seconds(results, name, hz):
    """CPU seconds (user + system) per role spent while the scenario ran."""
    snaps = []
    for edge in ("begin", "end"):
        path = os.path.join(results, f"cpu-{name}-{edge}.tsv")
        if not os.path.exists(path):
            return {}
        snap = {}
        with open(path) as f:
            for line in f:
                role, pid, utime, stime = line.split()
                snap[(role, pid)] = int(utime) + int(stime)
        snaps.append(snap)
    used = defaultdict(float)
    for key, end in snaps[1].items():
        used[key[0]] += (end - snaps[0].get(key, end)) / hz
    path = os.path.join(results, f"loadgen-cpu-{name}.txt")
    if os.path.exists(path):
        with open(path) as f:
            last = [line for line in f.read().splitlines() if line.strip()][-1]
        user, sys_ = last.split()
        used["load generator"] = float(user) + float(sys_)
    return dict(used)


def cpu_us_per_request(cpu, runs, name, role):
    """CPU µs per request of one role in a scenario, or None when the scenario did not run."""
    r = runs.get(name)
    if not r or not cpu.get(name) or not r["requests"]:
        return None
    return cpu[name].get(role, 0.0) / r["requests"] * 1e6


def median(values):
    v = sorted(values)
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2


def session_pairs(results, hz):
    """The alternating gateway / gateway_session rounds (results/pairs/): one dict per complete round."""
    pairs_dir = os.path.join(results, "pairs")
    rounds = []
    n = 1
    while os.path.exists(os.path.join(pairs_dir, f"{n}-gateway.json")):
        names = {"key": f"{n}-gateway", "session": f"{n}-gateway_session"}
        runs = {k: load(pairs_dir, v) for k, v in names.items()}
        cpus = {names[k]: cpu_seconds(pairs_dir, v, hz) for k, v in names.items()}
        by_name = {names[k]: r for k, r in runs.items()}
        if not all(runs.values()):
            break
        key_cpu = cpu_us_per_request(cpus, by_name, names["key"], "symphony")
        ses_cpu = cpu_us_per_request(cpus, by_name, names["session"], "symphony")
        rounds.append({
            "round": n,
            "first": "gateway" if n % 2 else "gateway_session",
            "key": runs["key"],
            "session": runs["session"],
            "key_cpu": key_cpu,
            "session_cpu": ses_cpu,
            "rps_ratio": runs["session"]["rps"] / runs["key"]["rps"],
            "cpu_ratio": ses_cpu / key_cpu,
            "errors": runs["key"]["errors"] + runs["session"]["errors"],
        })
        n += 1
    return rounds


def nats_ratio(results, hz, n):
    """nats-server CPU µs/request gateway_session ÷ gateway in round n: the same work for both, so a
    ratio away from 1 is background load, not the credential."""
    pairs_dir = os.path.join(results, "pairs")
    names = [f"{n}-gateway_session", f"{n}-gateway"]
    runs = {name: load(pairs_dir, name) for name in names}
    cpus = {name: cpu_seconds(pairs_dir, name, hz) for name in names}
    a, b = (cpu_us_per_request(cpus, runs, name, "nats-server") for name in names)
    return a / b if b else float("nan")


def load_open_loop(results):
    """open_loop.json of open-loop: the settings and one leg per mode (`nats`, `http`), or None."""
    path = os.path.join(results, "open_loop.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        run = json.load(f)
    run["by_mode"] = {leg["mode"]: leg for leg in run["legs"]}
    return run


def baseline_rounds(results, hz):
    """The alternating rounds of this build's gateway and BENCH_BASELINE_BIN's (results/baseline/)."""
    base_dir = os.path.join(results, "baseline")
    rounds = []
    n = 1
    while os.path.exists(os.path.join(base_dir, f"{n}-gateway.json")):
        names = {"after": f"{n}-gateway", "before": f"{n}-gateway_baseline"}
        runs = {k: load(base_dir, v) for k, v in names.items()}
        if not all(runs.values()):
            break
        by_name = {names[k]: r for k, r in runs.items()}
        cpus = {names[k]: cpu_seconds(base_dir, v, hz) for k, v in names.items()}
        rounds.append({
            "round": n,
            "first": "after" if n % 2 else "before",
            "after": runs["after"],
            "before": runs["before"],
            "after_cpu": cpu_us_per_request(cpus, by_name, names["after"], "symphony"),
            "before_cpu": cpu_us_per_request(cpus, by_name, names["before"], "symphony-baseline"),
            "rps_ratio": runs["after"]["rps"] / runs["before"]["rps"],
            "p50_ratio": runs["after"]["p50_ms"] / runs["before"]["p50_ms"],
            "errors": runs["after"]["errors"] + runs["before"]["errors"],
        })
        n += 1
    return rounds


def kib(size):
    return f"{size / 1024:g} KiB" if size % 1024 == 0 else f"{size} B"


def mib(kib):
    return f"{kib / 1024:.1f}"


def stack_rss(peak, roles):
    return sum(peak.get(r, 0) for r in roles)


def ok(flag):
    return "**met**" if flag else "**missed**"


def open_loop_added(run):
    """The gateway's added latency (http leg minus nats leg) of open_loop.json, or None without both legs."""
    if not run or not {"nats", "http"} <= run["by_mode"].keys():
        return None
    raw, gw = run["by_mode"]["nats"], run["by_mode"]["http"]
    # The rate held (a saturated generator or server would fall behind) and every request succeeded.
    kept = all(leg["achieved_rps"] >= 0.98 * run["target_rps"] for leg in (raw, gw))
    clean = kept and raw["errors"] == 0 and gw["errors"] == 0 and raw["requests"] > 0 and gw["requests"] > 0
    caveat = "" if clean else (" (rate not held)" if not kept else " (with errors)")
    return {
        "raw": raw,
        "gw": gw,
        "rate": run["target_rps"],
        "size": run["payload_bytes"],
        "p50": gw["p50_ms"] - raw["p50_ms"],
        "p99": gw["p99_ms"] - raw["p99_ms"],
        "kept": kept,
        "clean": clean,
        "caveat": caveat,
    }


def write_open_loop(w, run, ol):
    raw, gw = ol["raw"], ol["gw"]
    w(f"### Open loop at {ol['rate']:,.0f} req/s, {kib(ol['size'])} (issue 11)")
    w("")
    busy = run.get("machine_busy_pct")
    busy_text = f"{busy:.0f}%" if busy is not None else "?"
    w(
        f"`open-loop` (bench/src/bin/open_loop.rs) sends requests at a fixed rate, {ol['rate']:,.0f} req/s "
        f"per leg, whether or not earlier ones have been answered, spread over {run['connections']} "
        f"connections per leg (one request in flight each; a request due on a busy connection waits). Every "
        "latency is measured from the time the request was **scheduled**, so a stall counts for every "
        "request it delays instead of lowering the rate (no coordinated omission; wrk2's method). The two "
        f"legs take turns in {run['slice_s']:g} s slices in one process: raw NATS (`raw_nats`'s request "
        "to `cirata.extensions.echo.echo`) and HTTP POST through the gateway with the API key "
        f"(`gateway`'s request). HDR histograms, 3 significant digits. The machine was {busy_text} busy "
        "(all cores, load generator included) over the measured time."
    )
    w("")
    w(
        "| leg | target req/s | achieved req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors "
        "| send lag p50 / p99 ms |"
    )
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for leg, label in ((raw, LABELS["raw_nats"]), (gw, LABELS["gateway"])):
        w(
            f"| {label} | {ol['rate']:,.0f} | {leg['achieved_rps']:,.0f} | {leg['p50_ms']:.3f} | "
            f"{leg['p90_ms']:.3f} | {leg['p99_ms']:.3f} | {leg['p999_ms']:.3f} | {leg['max_ms']:.3f} | "
            f"{leg['errors']} | {leg['send_lag_p50_ms']:.3f} / {leg['send_lag_p99_ms']:.3f} |"
        )
    w("")
    w(
        "Send lag: how late a request left against its schedule (the pacer's timer, waking a worker, a "
        "connection still busy); it is part of both legs' latencies."
    )
    w("")
    w("| percentile | raw NATS ms | gateway ms | added by the gateway | Dapr sidecar adds (published) | |")
    w("|---|---:|---:|---:|---:|---|")
    for label, key, dapr in (("p50", "p50", DAPR_ADDED_P50_MS), ("p99", "p99", DAPR_ADDED_P99_MS)):
        added = ol[key]
        w(
            f"| {label} | {raw[key + '_ms']:.3f} | {gw[key + '_ms']:.3f} | **{added:+.3f} ms** | "
            f"+{dapr:.2f} ms | {ok(ol['clean'] and added <= dapr)} |"
        )
    w("")
    if not ol["kept"]:
        w(
            f"**The rate was not held** (achieved below 98 % of {ol['rate']:,.0f} req/s on a leg): the "
            "machine or the load generator was saturated, so these are not the latencies of an unsaturated "
            "machine and the comparison is marked missed."
        )
        w("")
    w(
        "Dapr's figures (as quoted in issue 11) are its published service-invocation benchmark at 1,000 "
        "req/s with 1 KiB: the latency two sidecars add over a direct call, on a Kubernetes cluster with "
        "the load tester on another node. Here one gateway hop (HTTP → symphony → NATS) is compared with "
        "the NATS request a client could make itself, on loopback, with load generator and servers on the "
        "same cores. The comparison is against those figures, not between equal setups."
    )
    w("")


def baseline_goal(rounds):
    """Medians of the before/after rounds and whether they meet issue 11's "not worse", or None."""
    if not rounds:
        return None
    rps = median([r["rps_ratio"] for r in rounds])
    p50 = median([r["p50_ratio"] for r in rounds])
    clean = all(r["errors"] == 0 for r in rounds)
    return {
        "rps": rps,
        "p50": p50,
        "clean": clean,
        "met": rps >= TARGET_BASELINE_RPS_RATIO and p50 <= TARGET_BASELINE_P50_RATIO and clean,
    }


def write_baseline(w, env, rounds, goal):
    w("### Before / after (issue 11)")
    w("")
    w(
        f"The gateway scenario (wrk -t2 -c16, 1 KiB echo, API key) against this build (**after**) and "
        f"`{env.get('baseline_bin', '?')}` (**before**, {env.get('baseline_symphony', '?')}), each on its own "
        f"instance, in {len(rounds)} alternating rounds of {env.get('pair_duration', '?')} each (after, before; "
        "before, after; …) in the same run, so background load falls on both alike."
    )
    w("")
    w(
        "| round | order | before req/s | after req/s | req/s after ÷ before | before p50 ms | after p50 ms "
        "| p50 after ÷ before | before p99 ms | after p99 ms | symphony µs/req before | after | errors |"
    )
    w("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

    def cpu(v):
        return f"{v:.1f}" if v is not None else "?"

    for r in rounds:
        order = "after, before" if r["first"] == "after" else "before, after"
        b, a = r["before"], r["after"]
        w(
            f"| {r['round']} | {order} | {b['rps']:,.0f} | {a['rps']:,.0f} | {r['rps_ratio']:.3f}× | "
            f"{b['p50_ms']:.3f} | {a['p50_ms']:.3f} | {r['p50_ratio']:.3f}× | {b['p99_ms']:.3f} | "
            f"{a['p99_ms']:.3f} | {cpu(r['before_cpu'])} | {cpu(r['after_cpu'])} | {r['errors']} |"
        )
    w(
        f"| **median** | | | | **{goal['rps']:.3f}×** | | | **{goal['p50']:.3f}×** | | | | | |"
    )
    w("")
    w(
        f"Verdict: {ok(goal['met'])}: median req/s after ÷ before {goal['rps']:.3f}× (goal ≥ "
        f"{TARGET_BASELINE_RPS_RATIO}×), median p50 after ÷ before {goal['p50']:.3f}× (goal ≤ "
        f"{TARGET_BASELINE_P50_RATIO}×){'' if goal['clean'] else ', with errors'}. \"Not worse\" allows the 5 % "
        "that background load moves a median of alternating rounds on these shared cores."
    )
    w("")


def main():
    results = sys.argv[1] if len(sys.argv) > 1 else "bench/results"
    env = read_env(results)
    hz = os.sysconf("SC_CLK_TCK")
    runs = {name: load(results, name) for name in STACKS}
    rss = {name: peak_rss_kib(results, name) for name in STACKS}
    cpu = {name: cpu_seconds(results, name, hz) for name in STACKS}
    pairs = session_pairs(results, hz)
    open_loop = load_open_loop(results)
    base = baseline_rounds(results, hz)
    raw, gw, ngx = runs["raw_nats"], runs["gateway"], runs["nginx"]
    if not (raw and gw and ngx):
        sys.exit("report: raw_nats, gateway and nginx results are required")

    out = []
    w = out.append
    w("# Gateway benchmark (issue 3)")
    w("")
    w("Generated by `bench/report.py` from the raw outputs in `bench/results/`. Reproduce with:")
    w("")
    w("```sh")
    w("bench/run.sh                 # BENCH_DURATION=15s BENCH_WARMUP=3s by default")
    w("BENCH_PROFILE=1 bench/run.sh # also records a perf profile of symphony + nats-server")
    w("BENCH_BASELINE_BIN=/path/to/old/symphony bench/run.sh  # also: gateway before/after, alternating rounds")
    w("bench/compare.sh base=target/release/symphony new=/path/to/other/symphony  # A/B the gateway only")
    w("```")
    w("")
    w(f"- **Machine:** {env['cpu']}, {env['nproc']} CPUs (`nproc`), {env['memory']}, {env['kernel']}.")
    w(
        f"- **Load generators and servers share these {env['nproc']} cores.** Every number below is "
        "a whole-system result: the load generator (wrk, 2 threads; nats-load, tokio with one worker "
        "per core) competes with the servers for CPU, so latency under load is mostly queueing for CPU."
    )
    w(
        f"- **Background load:** the machine was {env.get('background_busy_pct', '?')}% busy over the 3 s "
        "before the run started (other work on the same cores skews every scenario alike)."
    )
    w(f"- **Run:** {env['date']}, commit {env['git']}, {env['rustc']}, {env['symphony']}.")
    if env.get("baseline_bin"):
        w(
            f"- **Baseline (before):** `{env['baseline_bin']}` ({env.get('baseline_symphony', '?')}), a "
            "second instance with its own nats-server and this build's echo-ext."
        )
    w(f"- **Tools:** {env['nats_server']}; {env['nginx']}; {env['wrk']}.")
    w(
        f"- **Load:** {env['connections']} connections, one request in flight each, "
        f"{env['payload_bytes']}-byte JSON body (`{{\"data\":\"xxx…\"}}`), echoed back; "
        f"{env['warmup']} warm-up, then {env['duration']} measured, scenarios one after the other "
        "in the same run against the same processes."
    )
    w(
        "- **Raw NATS:** `nats-load` (bench/src/bin/nats_load.rs) exchanges the same API key the HTTP "
        "callers use, opens 16 NATS connections and sends requests to `cirata.extensions.echo.echo`; "
        "every latency is recorded (exact percentiles). **HTTP:** `wrk -t2 -c16 -d15s --latency -s "
        "bench/post.lua` (wrk's histogram percentiles)."
    )
    w(
        f"- **nginx:** Debian's build, `worker_processes auto` ({env['nginx_workers']} workers here: what "
        "Debian's packaged config ships and what a user would deploy), upstream `keepalive 32`, "
        "`proxy_http_version 1.1`, `proxy_set_header Connection \"\"`, `access_log off` "
        "(`bench/results/nginx.conf`). The upstream `http-echo` is a minimal axum server."
    )
    w(
        "- **Symphony:** release build, embedded nats-server, defaults (tokio multi-thread runtime), "
        "`echo-ext` built with the Rust SDK, client key with capability `pub:extensions.echo.echo`. "
        "**gateway_session** sends the same requests with the session token of user `admin` (role "
        "`symphony-admin`) from `POST /api/v1/login` as `Authorization: Bearer`; bench/run.sh checks with "
        "`GET /api/v1/userinfo` that it still authenticates a signed-in user after the run."
    )
    w("")

    w("## Results")
    w("")
    w(
        "| scenario | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | errors | proxy/server RSS MiB "
        "| handler RSS MiB |"
    )
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in ("raw_nats", "gateway", "gateway_session", "nginx"):
        r = runs[name]
        if not r:
            continue
        proxy_roles, handler_roles = STACKS[name]
        w(
            f"| {LABELS[name]} | {r['rps']:,.0f} | {r['p50_ms']:.3f} | {r['p90_ms']:.3f} | "
            f"{r['p99_ms']:.3f} | {r['p999_ms']:.3f} | {r['errors']} | "
            f"{mib(stack_rss(rss[name], proxy_roles))} | {mib(stack_rss(rss[name], handler_roles))} |"
        )
    w("")
    w(
        "RSS is the peak sampled every 0.5 s while the scenario ran (`ps -o rss`). Proxy/server: raw NATS = "
        "nats-server; gateway (both) = symphony + its nats-server child; nginx = master + workers. Handler: "
        "echo-ext (Rust SDK) or http-echo."
    )
    w("")

    w("### Ratios")
    w("")
    g_rss = stack_rss(rss["gateway"], STACKS["gateway"][0])
    n_rss = stack_rss(rss["nginx"], STACKS["nginx"][0])
    r_rss = stack_rss(rss["raw_nats"], STACKS["raw_nats"][0])
    g_tot = g_rss + stack_rss(rss["gateway"], STACKS["gateway"][1])
    n_tot = n_rss + stack_rss(rss["nginx"], STACKS["nginx"][1])
    r_tot = r_rss + stack_rss(rss["raw_nats"], STACKS["raw_nats"][1])
    w("| metric | gateway / raw NATS | gateway / nginx |")
    w("|---|---:|---:|")
    w(f"| p50 | {gw['p50_ms'] / raw['p50_ms']:.2f}× | {gw['p50_ms'] / ngx['p50_ms']:.2f}× |")
    w(f"| p99 | {gw['p99_ms'] / raw['p99_ms']:.2f}× | {gw['p99_ms'] / ngx['p99_ms']:.2f}× |")
    w(f"| req/s | {gw['rps'] / raw['rps']:.2f}× | {gw['rps'] / ngx['rps']:.2f}× |")
    w(f"| proxy/server RSS | {g_rss / r_rss:.2f}× | {g_rss / n_rss:.2f}× |")
    w(f"| RSS incl. handler | {g_tot / r_tot:.2f}× | {g_tot / n_tot:.2f}× |")
    w("")

    w("### Targets")
    w("")
    d50 = gw["p50_ms"] - raw["p50_ms"]
    d99 = gw["p99_ms"] - raw["p99_ms"]
    w("| target | measured | |")
    w("|---|---:|---|")
    w(
        f"| gateway adds ≤ {TARGET_P50_MS} ms p50 over raw NATS | +{d50:.3f} ms "
        f"({raw['p50_ms']:.3f} → {gw['p50_ms']:.3f}) | {ok(d50 <= TARGET_P50_MS)} |"
    )
    w(
        f"| gateway adds ≤ {TARGET_P99_MS} ms p99 over raw NATS | +{d99:.3f} ms "
        f"({raw['p99_ms']:.3f} → {gw['p99_ms']:.3f}) | {ok(d99 <= TARGET_P99_MS)} |"
    )
    w(
        f"| gateway req/s ≥ nginx → upstream | {gw['rps']:,.0f} vs {ngx['rps']:,.0f} "
        f"({gw['rps'] / ngx['rps']:.2f}×) | {ok(gw['rps'] >= ngx['rps'])} |"
    )
    ses = runs["gateway_session"]
    gw_cpu = cpu_us_per_request(cpu, runs, "gateway", "symphony")
    ses_cpu = cpu_us_per_request(cpu, runs, "gateway_session", "symphony")
    session_goal = None
    if ses and gw_cpu and ses_cpu is not None:
        rps_ratio = ses["rps"] / gw["rps"]
        cpu_ratio = ses_cpu / gw_cpu
        # A failing token would answer 401s fast: the goal counts only when every request succeeded.
        clean = ses["errors"] == 0 and gw["errors"] == 0
        session_goal = rps_ratio >= TARGET_SESSION_RPS_RATIO and cpu_ratio <= TARGET_SESSION_CPU_RATIO and clean
        w(
            f"| signed-in user no slower than an API key: req/s ratio ≥ {TARGET_SESSION_RPS_RATIO} and "
            f"CPU ratio ≤ {TARGET_SESSION_CPU_RATIO} (gateway_session ÷ gateway) | req/s {rps_ratio:.3f}×, "
            f"symphony CPU {cpu_ratio:.3f}×{'' if clean else ', with errors'} | {ok(session_goal)} |"
        )
    pairs_goal = None
    if pairs:
        pairs_rps = median([p["rps_ratio"] for p in pairs])
        pairs_cpu = median([p["cpu_ratio"] for p in pairs])
        pairs_clean = all(p["errors"] == 0 for p in pairs)
        pairs_goal = (
            pairs_rps >= TARGET_SESSION_RPS_RATIO and pairs_cpu <= TARGET_SESSION_CPU_RATIO and pairs_clean
        )
        w(
            f"| the same, median over {len(pairs)} alternating rounds of {env.get('pair_duration', '?')} "
            f"each | req/s {pairs_rps:.3f}×, symphony CPU {pairs_cpu:.3f}×"
            f"{'' if pairs_clean else ', with errors'} | {ok(pairs_goal)} |"
        )
    ol = open_loop_added(open_loop)
    if ol:
        for label, added, dapr in (("p50", ol["p50"], DAPR_ADDED_P50_MS), ("p99", ol["p99"], DAPR_ADDED_P99_MS)):
            w(
                f"| open loop at {ol['rate']:,.0f} req/s, {kib(ol['size'])}: gateway adds ≤ Dapr's "
                f"+{dapr:.2f} ms {label} over raw NATS | {added:+.3f} ms{ol['caveat']} | "
                f"{ok(ol['clean'] and added <= dapr)} |"
            )
    base_goal = baseline_goal(base)
    if base_goal:
        w(
            f"| gateway not worse than before (BENCH_BASELINE_BIN): median req/s after ÷ before ≥ "
            f"{TARGET_BASELINE_RPS_RATIO} and p50 after ÷ before ≤ {TARGET_BASELINE_P50_RATIO}, "
            f"{len(base)} alternating rounds | req/s {base_goal['rps']:.3f}×, p50 {base_goal['p50']:.3f}×"
            f"{'' if base_goal['clean'] else ', with errors'} | {ok(base_goal['met'])} |"
        )
    w("")
    if ol:
        write_open_loop(w, open_loop, ol)
    if base_goal:
        write_baseline(w, env, base, base_goal)
    if session_goal is not None:
        w("### Signed-in user vs API key (issue 10)")
        w("")
        w(
            "The same gateway request (echo, 1 KiB body, 16 connections) authenticated by an API key "
            "(`gateway`) and by a signed-in user's session token (`gateway_session`), measured one right "
            "after the other in this run. A session call reads the session, the user and the roles from "
            "in-memory mirrors of their buckets."
        )
        w("")
        w("| metric | gateway (API key) | gateway_session (signed-in user) | session ÷ key | goal | |")
        w("|---|---:|---:|---:|---|---|")
        w(
            f"| req/s | {gw['rps']:,.0f} | {ses['rps']:,.0f} | {rps_ratio:.3f}× | "
            f"≥ {TARGET_SESSION_RPS_RATIO}× | {ok(rps_ratio >= TARGET_SESSION_RPS_RATIO)} |"
        )
        w(
            f"| symphony CPU µs/request | {gw_cpu:.1f} | {ses_cpu:.1f} | {cpu_ratio:.3f}× | "
            f"≤ {TARGET_SESSION_CPU_RATIO}× | {ok(cpu_ratio <= TARGET_SESSION_CPU_RATIO)} |"
        )
        w(
            f"| errors (incl. non-2xx) | {gw['errors']} | {ses['errors']} | | 0 | {ok(clean)} |"
        )
        for label, key in (("p50 ms", "p50_ms"), ("p99 ms", "p99_ms")):
            w(f"| {label} | {gw[key]:.3f} | {ses[key]:.3f} | {ses[key] / gw[key]:.2f}× | | |")
        for role in ("nats-server", "echo-ext", "load generator"):
            a = cpu_us_per_request(cpu, runs, "gateway", role)
            b = cpu_us_per_request(cpu, runs, "gateway_session", role)
            if a and b is not None:
                w(f"| {role} CPU µs/request | {a:.1f} | {b:.1f} | {b / a:.2f}× | | |")
        w("")
        w(
            f"Other work on the shared cores moves a whole {env['duration']} scenario: when it does, "
            "nats-server, echo-ext "
            "and wrk, which do the same work for both credentials, change their CPU per request as much as "
            "symphony does. So the run is repeated as alternating rounds right after the scenarios:"
        )
        w("")
        if pairs:
            w(
                "| round | order | gateway req/s | gateway_session req/s | req/s ratio | symphony µs/req key "
                "| symphony µs/req session | CPU ratio | nats-server CPU ratio | CPU ratio ÷ nats-server's "
                "| errors |"
            )
            w("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            corrected = []
            for p in pairs:
                second = "gateway_session" if p["first"] == "gateway" else "gateway"
                nats = nats_ratio(results, hz, p["round"])
                corrected.append(p["cpu_ratio"] / nats)
                w(
                    f"| {p['round']} | {p['first']}, {second} | {p['key']['rps']:,.0f} | "
                    f"{p['session']['rps']:,.0f} | {p['rps_ratio']:.2f}× | {p['key_cpu']:.1f} | "
                    f"{p['session_cpu']:.1f} | {p['cpu_ratio']:.2f}× | {nats:.2f}× | "
                    f"{corrected[-1]:.2f}× | {p['errors']} |"
                )
            w(
                f"| **median** | | | | **{pairs_rps:.3f}×** | | | **{pairs_cpu:.3f}×** | | "
                f"**{median(corrected):.3f}×** | |"
            )
            w("")
            w(
                "nats-server handles the same messages for both credentials, so its ratio shows how much the "
                "machine alone moved a round; the last ratio column divides that out (an estimate, not a goal)."
            )
            w("")
            w(
                f"Verdict: side-by-side run {ok(session_goal)} (req/s {rps_ratio:.3f}×, CPU {cpu_ratio:.3f}×); "
                f"alternating rounds {ok(pairs_goal)} (median req/s {pairs_rps:.3f}×, CPU {pairs_cpu:.3f}×; "
                f"{median(corrected):.3f}× with nats-server's ratio divided out). On these shared cores a "
                "verdict within a few percent of a bound can flip from run to run; bench/analysis.md reads it "
                "across runs and with a profile."
            )
        else:
            w("(No alternating rounds in this run: `BENCH_PAIRS=0`.)")
            w("")
            w(
                f"Verdict: the signed-in user is {'**no slower**' if session_goal else '**slower**'} than an "
                f"API key in this run ({ok(session_goal)})."
            )
        w("")

    w("## Where the time goes")
    w("")
    w(
        "With 16 requests always in flight on 2 shared cores every scenario is CPU-bound, so by "
        "Little's law latency ≈ 16 / throughput and both are set by **CPU time per request** across "
        "all processes (load generator included). The table splits that CPU time by process "
        "(user + system, from `/proc/<pid>/stat` before and after each measured run):"
    )
    w("")
    roles = ["load generator", "symphony", "nats-server", "echo-ext", "nginx-master", "nginx-worker",
             "http-echo"]
    w("| scenario | req/s | " + " | ".join(f"{r} µs/req" for r in roles) + " | total µs/req |")
    w("|---|---:|" + "---:|" * (len(roles) + 1))
    for name in STACKS:
        r = runs[name]
        if not r or not cpu[name]:
            continue
        # Processes not serving the scenario still run (heartbeats, timers); count only the stack.
        serving = set(STACKS[name][0]) | set(STACKS[name][1]) | {"load generator"}
        cells = []
        total = 0.0
        for role in roles:
            secs = cpu[name].get(role, 0.0)
            if role in serving:
                per = secs / r["requests"] * 1e6
                total += per
                cells.append(f"{per:.1f}")
            else:
                cells.append("–")
        w(f"| {name} | {r['rps']:,.0f} | " + " | ".join(cells) + f" | {total:.1f} |")
    w("")
    ping, auth = runs["symphony_ping"], runs["gateway_auth"]
    if ping and auth:
        w("Breakdown runs (same load shape, 16 connections) isolating the gateway's fixed costs:")
        w("")
        w("| scenario | req/s | p50 ms | p99 ms | note |")
        w("|---|---:|---:|---:|---|")
        w(
            f"| {LABELS['symphony_ping']} | {ping['rps']:,.0f} | {ping['p50_ms']:.3f} | "
            f"{ping['p99_ms']:.3f} | axum + hyper + the per-request router-state clone; no auth, no NATS |"
        )
        w(
            f"| {LABELS['gateway_auth']} | {auth['rps']:,.0f} | {auth['p50_ms']:.3f} | "
            f"{auth['p99_ms']:.3f} | bearer-token check, route lookup; {auth['non_2xx']:,} × 404 as "
            "intended |"
        )
        w(
            f"| {LABELS['gateway']} | {gw['rps']:,.0f} | {gw['p50_ms']:.3f} | {gw['p99_ms']:.3f} | "
            "token check + route + NATS request to echo-ext |"
        )
        if ses:
            w(
                f"| {LABELS['gateway_session']} | {ses['rps']:,.0f} | {ses['p50_ms']:.3f} | "
                f"{ses['p99_ms']:.3f} | session token check (session, user, roles from memory) + route + "
                "NATS request to echo-ext |"
            )
        w("")
    analysis = os.path.join(os.path.dirname(os.path.abspath(__file__)), "analysis.md")
    if os.path.exists(analysis):
        with open(analysis) as f:
            w(f.read().rstrip("\n"))
        w("")
    perf = [p for p in ("perf-by-dso.txt", "perf-symbols.txt", "perf-session-by-dso.txt",
                        "perf-session-symbols.txt") if os.path.exists(os.path.join(results, p))]
    if perf:
        w("Profile of the latest `BENCH_PROFILE=1` run: " + ", ".join(f"`bench/results/{p}`" for p in perf) + ".")
        w("")
    w("## Raw outputs")
    w("")
    w(
        "`bench/results/`: `raw_nats.json` (nats-load), `wrk-<scenario>.txt` (wrk's report with its "
        "`JSON` line) and `<scenario>.json`, `rss-<scenario>.tsv` (time, process, pid, RSS KiB), "
        "`cpu-<scenario>-{begin,end}.tsv` (utime/stime ticks), `loadgen-cpu-<scenario>.txt`, `env.txt`, "
        "`nginx.conf`; with `BENCH_PROFILE=1` also `perf-*.txt` (gateway load) and `perf-session-*.txt` "
        "(gateway_session load); `pairs/` the alternating gateway / gateway_session rounds (same files, "
        "named `<round>-<scenario>`); `open_loop.json` (open-loop: both legs' percentiles, achieved rate, "
        "send lag) with `rss-open_loop.tsv`, `cpu-open_loop-*.tsv` over both legs together; with "
        "`BENCH_BASELINE_BIN`, `baseline/` the before/after rounds (`<round>-gateway`, "
        "`<round>-gateway_baseline`)."
    )
    print("\n".join(out))


if __name__ == "__main__":
    main()
