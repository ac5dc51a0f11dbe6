-- wrk script of bench/run.sh: POST the benchmark's 1 KiB JSON body (the same bytes nats-load sends), with
-- `Authorization: Bearer $BENCH_TOKEN` when that is set, and print a machine-readable summary line
-- (`JSON {...}`, latencies in microseconds) after wrk's own report.
local size = tonumber(os.getenv("BENCH_SIZE") or "1024")
local method = os.getenv("BENCH_METHOD") or "POST"

wrk.method = method
if method == "POST" then
    wrk.body = '{"data":"' .. string.rep("x", math.max(size - 11, 0)) .. '"}'
    wrk.headers["Content-Type"] = "application/json"
end
local token = os.getenv("BENCH_TOKEN")
if token ~= nil and token ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. token
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        'JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
        '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
        '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d}}\n',
        summary.requests, summary.duration, summary.bytes,
        e.connect, e.read, e.write, e.status, e.timeout,
        latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
        latency:percentile(99.9), latency.max))
end
