-- GET of the URL given on the command line with another range each request: DAY0 and DAY1
-- in its path become a random 30-day range of 2025 (DAY0 alone, a random day of 2025-01-31 ..
-- 2025-10-31). Each answer is then rarely the one a worker answered just before, so the rows
-- measure a read that is not in the workers' memo of answers.
package.path = (os.getenv("BENCH_LUA") or "bench/lua") .. "/?.lua;" .. package.path
require "report"

local JAN1 = 1735689600 -- 2025-01-01T00:00:00Z
local template

function init(args)
   template = wrk.path
   math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0))
end

function request()
   local d0 = math.random(30, 303)
   local path = template:gsub("DAY0", os.date("!%Y-%m-%d", JAN1 + d0 * 86400))
      :gsub("DAY1", os.date("!%Y-%m-%d", JAN1 + (d0 + 29) * 86400))
   return wrk.format(nil, path)
end
