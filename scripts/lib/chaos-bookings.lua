-- wrk script: a steady stream of bookings, each for its own free slot, as staff.
--
-- Request k (counting from CHAOS_SLOT_BASE) books provider k mod P at the
-- (k div P)-th 15-minute slot from CHAOS_DAY0 (90 slots a day, 00:00-22:30
-- UTC) for that provider's own patient, so no two requests want the same slot
-- or make a patient overlap themselves. Every tenth request instead asks for
-- the previous request's slot for a second patient: a race another thread is
-- running at the same moment, which the database must settle with one 201 and
-- one 409. Each connection waits CHAOS_DELAY_MS between requests (the rate).
--
-- Environment: CHAOS_TOKEN (staff), CHAOS_FIXTURES (a Lua file returning
-- {providers = {...}, types = {...}, patients = {...}, rivals = {...}}),
-- CHAOS_SLOT_BASE, CHAOS_DAY0 (epoch seconds, midnight UTC), CHAOS_DELAY_MS,
-- CHAOS_RUN (names the Idempotency-Keys).
-- done() prints two lines: `statuses 201=N 409=N ... errors connect=N read=N write=N timeout=N`
-- and `latency p50=MS p99=MS max=MS` (chaos-report.lua).

local fixtures = dofile(os.getenv("CHAOS_FIXTURES"))
local token = os.getenv("CHAOS_TOKEN")
local base = tonumber(os.getenv("CHAOS_SLOT_BASE"))
local day0 = tonumber(os.getenv("CHAOS_DAY0"))
local delay_ms = tonumber(os.getenv("CHAOS_DELAY_MS") or "100")
local run = os.getenv("CHAOS_RUN") or "chaos"
local providers = #fixtures.providers
local slots_per_day = 90

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
end

local function slot_start(slot)
  local day = math.floor(slot / slots_per_day)
  local minute = (slot % slots_per_day) * 15
  return os.date("!%Y-%m-%dT%H:%M:%SZ", day0 + day * 86400 + minute * 60)
end

local threads_total = tonumber(os.getenv("CHAOS_THREADS"))
local n = 0
function request()
  -- Threads interleave: thread t of T sends requests t, t + T, t + 2T, ...
  local k = base + id + n * threads_total
  n = n + 1
  local target, patient
  if k % 10 == 9 then
    target = k - 1
    patient = fixtures.rivals[(target % providers) + 1]
  else
    target = k
    patient = fixtures.patients[(target % providers) + 1]
  end
  local p = (target % providers) + 1
  local slot = math.floor(target / providers)
  local body = string.format(
    '{"provider_id":"%s","appointment_type_id":"%s","start":"%s","patient_id":"%s"}',
    fixtures.providers[p], fixtures.types[p], slot_start(slot), patient)
  local headers = {
    ["content-type"] = "application/json",
    ["authorization"] = "Bearer " .. token,
    ["idempotency-key"] = run .. "-" .. k,
  }
  return wrk.format("POST", "/api/v1/appointments", headers, body)
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
