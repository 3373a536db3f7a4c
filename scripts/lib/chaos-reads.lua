-- wrk script: reads across every service, as staff, through the gateway.
--
-- Each connection cycles through CHAOS_PATHS (space-separated paths, each
-- answered by another service), waiting CHAOS_DELAY_MS between requests. The
-- failure drills run it beside the bookings (chaos-bookings.lua) where every
-- service, not only scheduling, must keep answering.
--
-- Environment: CHAOS_TOKEN (staff), CHAOS_PATHS, CHAOS_DELAY_MS, CHAOS_LIB
-- (this directory). done() prints what chaos-report.lua does.

local token = os.getenv("CHAOS_TOKEN")
local delay_ms = tonumber(os.getenv("CHAOS_DELAY_MS") or "100")
local paths = {}
for path in string.gmatch(os.getenv("CHAOS_PATHS") or "", "%S+") do
  table.insert(paths, path)
end

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

-- Per-thread globals: `id` is set by setup(); done() reads `counts` from each thread.
function init(_)
  counts = {}
  n = id
end

function request()
  local path = paths[(n % #paths) + 1]
  n = n + 1
  return wrk.format("GET", path, { ["authorization"] = "Bearer " .. token })
end

function response(status, _, _)
  counts[status] = (counts[status] or 0) + 1
end

function delay()
  return delay_ms
end

local report = dofile(os.getenv("CHAOS_LIB") .. "/chaos-report.lua")

function done(summary, latency, _)
  report(threads, summary, latency)
end
