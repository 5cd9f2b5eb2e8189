-- POST /events with BATCH fresh events per request (environment BATCH, default 1000). Ids are
-- random-prefixed and counted, so every event is new; times are "now" (today, UTC), users
-- drawn from USERS (default 200 000) named USER_PREFIX (default "u") and a number, types with
-- a skewed mix like real traffic. The default names are none of the loaded data's (gen_csv
-- numbers its users 1..USERS without a prefix): every user is new to the store at first.
-- USER_PREFIX= (empty) with the data's USERS sends events of users the store already has.
package.path = (os.getenv("BENCH_LUA") or "bench/lua") .. "/?.lua;" .. package.path
require "report"

local batch = tonumber(os.getenv("BATCH") or "1000")
EVENTS_PER_REQUEST = batch
local types = { "app_open", "app_open", "app_open", "view_item", "view_item", "search",
   "add_to_cart", "login", "logout", "purchase" }
local users = tonumber(os.getenv("USERS") or "200000")
local user_prefix = os.getenv("USER_PREFIX") or "u"
local counter = 0
local prefix
local headers = { ["Content-Type"] = "application/json" }

function init(args)
   math.randomseed(os.time() + math.floor(os.clock() * 1e6))
   prefix = string.format("%08x", math.random(0, 0x7fffffff))
end

local function uuid()
   counter = counter + 1
   return string.format("%s-%04x-4%03x-8%03x-%012x", prefix, math.random(0, 0xffff),
      math.random(0, 0xfff), math.random(0, 0xfff), counter)
end

request = function()
   local now = os.date("!%Y-%m-%dT%H:%M:%SZ")
   local parts = {}
   for i = 1, batch do
      parts[i] = string.format(
         '{"event_id":"%s","occurred_at":"%s","user_id":"%s%d","event_type":"%s",'
         .. '"properties":{"country":"PL","session_id":"%08x","price":%d.99}}',
         uuid(), now, user_prefix, math.random(1, users), types[math.random(#types)],
         math.random(0, 0x7fffffff), math.random(1, 300))
   end
   local body = batch == 1 and parts[1] or ("[" .. table.concat(parts, ",") .. "]")
   return wrk.format("POST", "/events", headers, body)
end
