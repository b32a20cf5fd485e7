-- Shared by the wrk scenarios of scripts/bench. Each wrk thread has its own Lua state: setup() numbers the
-- threads, init() loads the pre-minted tokens and builds every request once, so the load generator spends its
-- time sending, not formatting. done() prints one JSON line that scripts/bench reads.
--
-- Arguments (after wrk's `--`): tokens file (one JWT a line, or "-" for none), then scenario-specific ones.
-- BENCH_WRK_THREADS must equal wrk's -t, so the threads take disjoint turns through the tokens.

local thread_count = 0
function setup(thread)
   thread:set("thread_id", thread_count)
   thread_count = thread_count + 1
end

tokens = {}

function load_tokens(path)
   if path == nil or path == "-" then return end
   for line in io.lines(path) do
      if #line > 0 then tokens[#tokens + 1] = line end
   end
   if #tokens == 0 then error("no tokens in " .. path) end
end

function bearer(token)
   return { ["Authorization"] = "Bearer " .. token, ["Accept"] = "application/json" }
end

-- Requests spread over the tokens: thread k sends token k, k + T, k + 2T, ... so threads never overlap.
function cycle(requests)
   local count = #requests
   local index = thread_id or 0
   local step = tonumber(os.getenv("BENCH_WRK_THREADS") or "1")
   return function()
      index = (index + step) % count
      return requests[index + 1]
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,' ..
      '"write_errors":%d,"timeouts":%d,"status_errors":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.timeout, e.status,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
