-- Cold runs: every request presents a token this server has not seen yet.
-- The tokens in $TOKENS (one per line) are split into one contiguous slice per
-- wrk thread ($THREADS must equal wrk's -t); each thread walks its slice once
-- and stops when it is used up. The requests already in flight when a slice
-- runs out (at most the thread's connections) repeat its last token; done()
-- prints how many ("reused N"), so the report can say how cold the run was.
--
-- wrk's own Requests/sec divides by the full -d duration even when threads
-- stop early, so each thread also notes the wall clock (date +%s.%N, read
-- once at its start and once when its slice runs out) and done() prints the
-- longest thread's active time ("active_s X", or -d from $DURATION for a thread
-- that never ran out); the benchmark divides the request count by it.
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do
  tokens[#tokens + 1] = line
end
local nthreads = tonumber(os.getenv("THREADS") or "1")
local threads, next_id = {}, 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local first, last, i, reused, t_start

local function now()
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("*l"))
  p:close()
  return t
end

function init(args)
  t_start = now()
  local chunk = math.floor(#tokens / nthreads)
  first = id * chunk + 1
  last = (id == nthreads - 1) and #tokens or (id + 1) * chunk
  i = first - 1
  reused = 0
end

request = function()
  if i < last then
    i = i + 1
  else
    reused = reused + 1
  end
  return wrk.format("GET", "/api/v1/user/cache", {["Authorization"] = "Bearer " .. tokens[i]})
end

response = function(status, headers, body)
  if i >= last and t_start then
    wrk.thread:set("reused", reused)
    wrk.thread:set("active_s", now() - t_start)
    t_start = nil
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local n, active = 0, 0
  local full = tonumber(os.getenv("DURATION") or "0")
  for _, t in ipairs(threads) do
    n = n + (tonumber(t:get("reused")) or 0)
    active = math.max(active, tonumber(t:get("active_s")) or full)
  end
  io.write(string.format("reused %d\nactive_s %.3f\n", n, active))
end
