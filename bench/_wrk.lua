-- wrk script for the HTTP bench: wrk <url> -s _wrk.lua -- <path> <cookie>...
-- Requests are formatted once in init() and then cycled, so each request
-- costs wrk no Lua work beyond returning a prebuilt string.
local reqs = {}
local i = 0

function init(args)
  local path = args[1]
  for k = 2, #args do
    reqs[#reqs + 1] = wrk.format("GET", path, { ["Cookie"] = args[k] })
  end
end

function request()
  i = i % #reqs + 1
  return reqs[i]
end
