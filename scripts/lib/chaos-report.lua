-- What a chaos load script (chaos-bookings.lua, chaos-reads.lua) prints when
-- wrk is done: each status's count over every thread, wrk's socket errors,
-- and the latency of the answers.
--
--   statuses 201=N 409=N ... errors connect=N read=N write=N timeout=N
--   latency p50=MS p99=MS max=MS
--
-- Threads keep their counts in a per-thread global `counts` (status -> n).
return function(threads, summary, latency)
  local total = {}
  for _, thread in ipairs(threads) do
    local c = thread:get("counts")
    for status, count in pairs(c) do
      total[status] = (total[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(total) do
    table.insert(parts, status .. "=" .. count)
  end
  table.sort(parts)
  local e = summary.errors
  io.write(string.format("statuses %s errors connect=%d read=%d write=%d timeout=%d\n",
    table.concat(parts, " "), e.connect, e.read, e.write, e.timeout))
  io.write(string.format("latency p50=%.0f p99=%.0f max=%.0f\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
