-- wrk script for the HTTP bench: wrk <url> -s _wrk.lua -- <path> <cookie>...
-- Requests are formatted once in init() and then cycled, so each request
-- costs wrk no Lua work beyond returning a prebuilt string.
local reqs = {}
local i = 0
local threads = 0

-- Numbers the threads, so that each starts at its own place in the cycle.
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

function init(args)
  local path = args[1]
  for k = 2, #args do
    reqs[#reqs + 1] = wrk.format("GET", path, { ["Cookie"] = args[k] })
  end
  -- The two threads of -t2 start half a cycle apart, so they never send
  -- the same session at once: a browser does not race itself, and
  -- express-session would lose those updates (expressjs/session#606).
  i = ((id or 0) * math.floor(#reqs / 2)) % #reqs
end

function request()
  i = i % #reqs + 1
  return reqs[i]
end
