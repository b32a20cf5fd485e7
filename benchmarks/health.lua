-- The ceiling: GET /health/live, no token, no database.
dofile("benchmarks/common.lua")
local request_text = wrk.format("GET", "/health/live")
function request() return request_text end
