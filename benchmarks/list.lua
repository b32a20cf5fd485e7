-- GET /timesheets?limit=20 as many distinct users (RS256 bearer tokens, one per user), each seeing their own page.
dofile("benchmarks/common.lua")
local next_request
function init(args)
   load_tokens(args[1])
   local requests = {}
   for i, token in ipairs(tokens) do requests[i] = wrk.format("GET", "/timesheets?limit=20", bearer(token)) end
   next_request = cycle(requests)
end
function request() return next_request() end
