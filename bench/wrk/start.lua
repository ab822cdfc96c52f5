-- POST /scxml/session/start of the W3 document (3 states, 5 variables; sessions stay idle).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "src=w3_small.scxml"
