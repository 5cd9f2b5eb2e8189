-- wrk script: a mixed workload over every route, the valid and the invalid ways, for the leak
-- checks (make valgrind, make soak / make rss). Requests follow a fixed plan: every kind in
-- the table below once, then LIGHT more of the kinds that do not reach the database (cheap:
-- they let a soak reach a million requests in minutes), round and round.
--
--   wrk -t1 -c4 -d30s -s tests/soak/mixed.lua URL [-- LIMIT [LIGHT]]
--
-- LIMIT (optional, 0 = none): the run ends when a thread has had LIMIT responses (wrk -d is
-- then only an upper bound; -t1 makes LIMIT the exact total). LIGHT: default 0. done() prints one line "MIXED {...}" with the responses per
-- status code. No HEAD requests: wrk would wait for the body their Content-Length announces.

local ids = 0
local prefix
counts = {} -- a global: done() collects it from every thread
local limit = 0
local seen = 0
local json = { ["Content-Type"] = "application/json" }
local ndjson = { ["Content-Type"] = "application/x-ndjson" }

local function uuid()
   ids = ids + 1
   return string.format("%s-%04x-4%03x-8%03x-%012x", prefix, math.random(0, 0xffff),
      math.random(0, 0xfff), math.random(0, 0xfff), ids)
end

local function event(id, user, kind)
   return string.format('{"event_id":"%s","occurred_at":"2025-08-21T06:52:34+03:00",'
      .. '"user_id":"%s","event_type":"%s","properties":{"price":12.5,"tags":["a","b"],'
      .. '"nested":{"ok":true,"n":null}}}', id, user, kind)
end

-- Fixed events (re-sent: duplicates) and fresh ones (new rows: the insert path).
local dup1 = event("25a4b866-040b-466f-945c-148e4720f511", "u1", "view_item")
local dup2 = event("7b5ed1eb-83df-4255-a283-87fd4140b95e", "u2", "login")

local function get(path) return function() return wrk.format("GET", path) end end
local function post(body, headers)
   return function() return wrk.format("POST", "/events", headers or json, body) end
end
-- Kinds the worker answers without the database (rejected before any query).
local light = {}
local function L(f) light[#light + 1] = f; return f end

local kinds = {
   -- ingestion, valid
   function() return wrk.format("POST", "/events", json, "[" .. event(uuid(), "u" .. math.random(1, 500), "purchase") .. "]") end,
   function() return wrk.format("POST", "/events", ndjson, event(uuid(), "u7", "search") .. "\n\n" .. event(uuid(), "u8", "login") .. "\n") end,
   post("[" .. dup1 .. "," .. dup2 .. "]"),
   post('{"events":[' .. dup1 .. ']}'),
   post(dup2),
   -- ingestion, invalid (422 validation, 400 malformed, 415 type)
   L(post('[{"event_id":"not-a-uuid","occurred_at":"2025-02-30T00:00:00Z","user_id":"",'
      .. '"event_type":"x","properties":[1]}, 42, {"event_id":"25a4b866-040b-466f-945c-148e4720f511"}]')),
   L(post('[{"event_id":"25a4b866-040b-466f-945c-148e4720f511","occurred_at":"2999-01-01T00:00:00Z",'
      .. '"user_id":"u","event_type":"x","properties":{"k":"\\u0000","big":123456789012345678901234}}]')),
   L(post('[{"event_id":"25a4b866-', json)),
   L(post('{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}')),
   L(post('[NaN]')),
   L(post('', json)),
   L(post(event("25a4b866-040b-466f-945c-148e4720f511", "u1", "x") .. "\nnot json\n" .. '{"event_id":1}\n', ndjson)),
   L(post('[]', { ["Content-Type"] = "text/plain" })),
   -- every stats route, valid and invalid parameters
   get("/stats/dau?from=2025-08-20&to=2025-08-22"),
   get("/stats/dau?from=2025-08-22&to=2025-08-20"),
   get("/stats/dau?from=2025-13-01&to=x&from=y"),
   get("/stats/top-events?from=2025-08-01&to=2025-08-31&limit=5"),
   get("/stats/top-events?from=2025-08-01&to=2025-08-31&limit=-1"),
   get("/stats/retention?start_date=2025-08-21&windows=3&granularity=day"),
   get("/stats/retention?start_date=2025-08-18&windows=2&granularity=week"),
   L(get("/stats/retention?start_date=%zz&windows=99999&granularity=year")),
   -- health, metrics, unknown routes and methods
   get("/healthz"),
   get("/metrics"),
   L(get("/nope")),
   L(get("/events")),
   L(function() return wrk.format("DELETE", "/stats/dau") end),
}
local plan = {}
local step = 0

function init(args)
   math.randomseed(os.time() + math.floor(os.clock() * 1e6))
   prefix = string.format("%08x", math.random(0, 0x7fffffff))
   limit = tonumber(args[1] or "0") or 0
   for _, k in ipairs(kinds) do plan[#plan + 1] = k end
   for i = 1, tonumber(args[2] or "0") or 0 do plan[#plan + 1] = light[(i - 1) % #light + 1] end
   step = math.random(0, #plan - 1)
end

function request()
   step = step % #plan + 1
   return plan[step]()
end

function response(status, headers, body)
   counts[status] = (counts[status] or 0) + 1
   seen = seen + 1
   if limit > 0 and seen == limit then
      -- thread:stop() alone would leave wrk sleeping until -d is over: SIGINT ends the run
      -- (of every thread: use one thread, -t1, for an exact count). Sent again every 0.5 s
      -- until wrk has exited, as one SIGINT is sometimes lost; through popen, not
      -- os.execute, as system() ignores SIGINT in the caller while its command runs.
      wrk.thread:stop()
      local f = io.open("/proc/self/stat")
      local pid = f:read("*n")
      f:close()
      local p = io.popen("(while kill -INT " .. pid .. " 2>/dev/null; do sleep 0.5; done)"
         .. " >/dev/null 2>&1 &")
      p:close()
   end
end

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function done(summary, latency, requests)
   local all = {}
   for _, t in ipairs(threads) do
      for status, n in pairs(t:get("counts")) do all[status] = (all[status] or 0) + n end
   end
   local parts = {}
   for status, n in pairs(all) do table.insert(parts, string.format('"%d":%d', status, n)) end
   table.sort(parts)
   io.write(string.format('MIXED {"requests":%d,"seconds":%.1f,"socket_errors":%d,"status":{%s}}\n',
      summary.requests, summary.duration / 1e6,
      summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
      table.concat(parts, ",")))
end
