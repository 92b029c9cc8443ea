-- wrk script: sends DEPTH requests per write (HTTP pipelining).
-- Usage: wrk -s bench/pipeline.lua URL -- DEPTH [PATH]
local depth = 16
local path = nil
function init(args)
  depth = tonumber(args[1] or "16")
  path = args[2]
  local reqs = {}
  for i = 1, depth do
    reqs[i] = wrk.format(nil, path)
  end
  req = table.concat(reqs)
end
function request()
  return req
end
