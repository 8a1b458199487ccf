-- POST /api/dsg/v1/authorize with a 10-entry batch (neuPrint's drop-down
-- shape: name, a version on some, permission view), one token per request
-- rotating over $TOKENS.
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do
  tokens[#tokens + 1] = line
end
local entries = {}
for i = 0, 9 do
  local e = string.format('{"name": "ds%04d", "permission": "view"}', (i * 7) % 1000)
  if i % 3 == 0 then
    e = string.format('{"name": "ds%04d", "version": "v1", "permission": "view"}', (i * 7) % 1000)
  end
  entries[#entries + 1] = e
end
local body = '{"service": "neuprint", "return_url": "https://neuprint.example.org/", "entries": ['
  .. table.concat(entries, ", ") .. ']}'
local counter = 0
local thread_id = 0

function setup(thread)
  thread:set("id", thread_id)
  thread_id = thread_id + 1
end

function init(args)
  counter = id * 7919
end

request = function()
  counter = counter + 1
  local t = tokens[(counter % #tokens) + 1]
  return wrk.format("POST", "/api/dsg/v1/authorize",
    {["Authorization"] = "Bearer " .. t, ["Content-Type"] = "application/json"}, body)
end
