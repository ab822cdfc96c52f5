-- POST /scxml/session/<id>/event/work with JSON data {"n": 1}, cycling over the session ids in
-- the file named by the IDS environment variable (one per line). With NODE=<n> set, each request
-- carries its session's stickiness cookie (ORSSESSIONID=<id>.node<n>), as a client behind a
-- balancer would.
local ids = {}
for line in io.lines(os.getenv("IDS")) do ids[#ids + 1] = line end
local verb = os.getenv("VERB") or "event/work"
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"n": 1}'
local node = os.getenv("NODE")
request = function()
  i = i + 1
  local id = ids[(i % #ids) + 1]
  local headers = nil
  if node then headers = {["Cookie"] = "ORSSESSIONID=" .. id .. ".node" .. node} end
  return wrk.format(nil, "/scxml/session/" .. id .. "/" .. verb, headers)
end
