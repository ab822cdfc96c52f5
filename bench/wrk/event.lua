-- POST /scxml/session/<id>/event/work with JSON data {"n": 1}, cycling over the session ids in
-- the file named by the IDS environment variable (one per line). With NODE=<n> set, each request
-- carries its session's stickiness cookie (ORSSESSIONID=<id>.node<n>), as a client behind a
-- balancer would. VERB replaces "event/work" (e.g. request/ask).
-- Each wrk thread formats its requests once, in init(): wrk shares the machine with orsd, and
-- formatting a request per call cost it ~20 % more CPU per request.
local ids = {}
for line in io.lines(os.getenv("IDS")) do ids[#ids + 1] = line end
local verb = os.getenv("VERB") or "event/work"
local node = os.getenv("NODE")
local requests = {}
local i = 0

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = '{"n": 1}'
  for k, id in ipairs(ids) do
    local headers = nil
    if node then headers = {["Cookie"] = "ORSSESSIONID=" .. id .. ".node" .. node} end
    requests[k] = wrk.format(nil, "/scxml/session/" .. id .. "/" .. verb, headers)
  end
end

request = function()
  i = i + 1
  if i > #requests then i = 1 end
  return requests[i]
end
