-- Shared by the bench scripts: one JSON line with what tools/bench.sh tabulates.
-- EVENTS_PER_REQUEST (a global the including script may set) turns req/s into events/s.
function done(summary, latency, requests)
   local secs = summary.duration / 1e6
   local non2xx = summary.errors.status
   local errors = summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout
   io.write(string.format(
      '\nBENCH {"requests":%d,"seconds":%.3f,"rps":%.1f,"events_per_request":%d,'
      .. '"p50_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,"non2xx":%d,"socket_errors":%d}\n',
      summary.requests, secs, summary.requests / secs, EVENTS_PER_REQUEST or 0,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
      non2xx, errors))
end
