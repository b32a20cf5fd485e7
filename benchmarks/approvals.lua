-- GET /approvals?limit=20 as managers: the oldest pending entries of all users.
dofile("benchmarks/common.lua")
local next_request
function init(args)
   load_tokens(args[1])
   local requests = {}
   for i, token in ipairs(tokens) do requests[i] = wrk.format("GET", "/approvals?limit=20", bearer(token)) end
   next_request = cycle(requests)
end
function request() return next_request() end
