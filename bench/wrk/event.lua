-- POST /scxml/session/<id>/event/work with JSON data {"n": 1}, cycling over the session ids in
-- the file named by the IDS environment variable (one per line).
local ids = {}
for line in io.lines(os.getenv("IDS")) do ids[#ids + 1] = line end
local verb = os.getenv("VERB") or "event/work"
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"n": 1}'
request = function()
  i = i + 1
  return wrk.format(nil, "/scxml/session/" .. ids[(i % #ids) + 1] .. "/" .. verb)
end
