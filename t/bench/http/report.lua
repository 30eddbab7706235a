-- Prints one machine-readable line when wrk ends: t/bench/http.sh reads it.
-- Latencies are in microseconds, as wrk keeps them.

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "RESULT requests=%d duration_us=%d rps=%.1f bytes=%d "
        .. "p50_us=%d p99_us=%d max_us=%d "
        .. "connect=%d read=%d write=%d status=%d timeout=%d\n",
        summary.requests, summary.duration,
        summary.requests / (summary.duration / 1e6), summary.bytes,
        latency:percentile(50), latency:percentile(99), latency.max,
        e.connect, e.read, e.write, e.status, e.timeout))
end
