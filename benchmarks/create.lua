-- POST /timesheets: 1 hour on a user-day that at most a few requests of this benchmark share, so the 24-hour rule
-- never refuses one. Request g (globally numbered from the run's offset) is user g % U on day FIRST + (g / U) wrapped
-- to years before 9999.
-- Arguments: tokens file, offset (scripts/bench gives each run its own, so runs never share a user-day).
dofile("benchmarks/common.lua")

-- Days since 1970-01-01 to "YYYY-MM-DD" (Howard Hinnant's civil_from_days).
local function civil(days)
   local z = days + 719468
   local era = math.floor(z / 146097)
   local doe = z - era * 146097
   local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
   local y = yoe + era * 400
   local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
   local mp = math.floor((5 * doy + 2) / 153)
   local d = doy - math.floor((153 * mp + 2) / 5) + 1
   local m = mp < 10 and mp + 3 or mp - 9
   if m <= 2 then y = y + 1 end
   return string.format("%04d-%02d-%02d", y, m, d)
end

local first_day = 21915 -- 2030-01-01, after every seeded entry
local headers = {}
local offset = 0
local counter = 0
local step = 1

function init(args)
   load_tokens(args[1])
   offset = tonumber(args[2] or "0")
   step = tonumber(os.getenv("BENCH_WRK_THREADS") or "1")
   counter = thread_id or 0
   for i, token in ipairs(tokens) do
      local h = bearer(token)
      h["Content-Type"] = "application/json"
      headers[i] = h
   end
end

function request()
   local g = offset + counter
   counter = counter + step
   local user = g % #tokens
   -- Wrapped within 2030-01-01 .. about 9967 (dates are valid up to 9999): with few users, each run's offset alone
   -- would be millions of days on. A wrapped day may get a second 1-hour entry from a later run, far below 24 hours.
   local day = first_day + math.floor(g / #tokens) % 2900000
   local body = '{"date":"' .. civil(day) .. '","project":"Bench ' .. (g % 7) .. '","hours":1}'
   return wrk.format("POST", "/timesheets", headers[user + 1], body)
end
