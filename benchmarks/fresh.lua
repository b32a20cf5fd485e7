-- GET /me with a different token on each request, against a server started with AUTH_TOKEN_CACHE_SIZE=0:
-- every request pays a full RS256 verification (no database), so this measures the token path's ceiling.
dofile("benchmarks/common.lua")
local next_request
function init(args)
   load_tokens(args[1])
   local requests = {}
   for i, token in ipairs(tokens) do requests[i] = wrk.format("GET", "/me", bearer(token)) end
   next_request = cycle(requests)
end
function request() return next_request() end
