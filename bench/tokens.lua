-- Rotates over the tokens in $TOKENS (one per line), one per request.
local tokens = {}
local path = os.getenv("TOKENS")
for line in io.lines(path) do
  tokens[#tokens + 1] = line
end
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("id", thread_id)
  thread_id = thread_id + 1
  table.insert(threads, thread)
end

function init(args)
  counter = id * 7919
end

request = function()
  counter = counter + 1
  local t = tokens[(counter % #tokens) + 1]
  return wrk.format("GET", "/api/v1/user/cache", {["Authorization"] = "Bearer " .. t})
end
