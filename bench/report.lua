-- wrk reporter: one machine-readable line with throughput and latency percentiles (milliseconds).
-- Headers (token, cookie, Accept-Encoding) come from wrk's -H options.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "bytes": %d, "non2xx": %d, "socket_errors": %d, ' ..
    '"p50": %.3f, "p90": %.3f, "p99": %.3f, "max": %.3f}\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
