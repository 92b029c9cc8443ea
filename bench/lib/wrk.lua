-- wrk script used by bench/run for every load test.
--   WRK_PIPELINE=N (environment): send N requests for the URL's path in one
--   write per batch (HTTP/1.1 pipelining); unset or 1: plain keep-alive with
--   wrk's static request.
-- done() prints one JSON line that bench/run parses (times in microseconds).

local depth = tonumber(os.getenv("WRK_PIPELINE") or "1") or 1

if depth > 1 then
  local batch
  init = function(args)
    local one = wrk.format("GET", wrk.path)
    batch = string.rep(one, depth)
  end
  request = function()
    return batch
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  -- wrk's percentile() returns 0 when the percentile falls on the largest
  -- recorded value (few samples): that value is then the answer.
  local function pct(p)
    local v = latency:percentile(p)
    if v == 0 then v = latency.max end
    return v
  end
  io.write(string.format(
    'WRK_JSON {"duration_us":%d,"requests":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p75":%d,"p90":%d,"p99":%d},' ..
    '"pipeline":%d}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.max,
    pct(50), pct(75), pct(90), pct(99), depth))
end
