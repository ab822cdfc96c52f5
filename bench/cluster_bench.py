#!/usr/bin/env python3
"""Redirect overhead in a local cluster (scripts/cluster.sh): p50/p99 latency of an event sent
straight to the owning node against one sent to another node, answered 307 and followed (the
same method and body re-sent, keep-alive connections to both), sequentially from one client.

Usage: bench/cluster_bench.py [BUILD_DIR] [N]   (default: build, 3000 events each way)
"""
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.dirname(here)
build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(repo, "build")
n = int(sys.argv[2]) if len(sys.argv) > 2 else 3000

tmp = tempfile.TemporaryDirectory()
os.makedirs(os.path.join(tmp.name, "docs"))
with open(os.path.join(tmp.name, "docs", "idle.scxml"), "w") as f:
    f.write('<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript">'
            '<state id="s"><transition event="e"/></state></scxml>')
out = subprocess.run([os.path.join(repo, "scripts", "cluster.sh"), "start", tmp.name, "3", build, "--store", "sqlite"],
                     capture_output=True, text=True, check=True).stdout
urls = {}
for line in out.splitlines():
    m = re.match(r"http://127\.0\.0\.1:(\d+) node (\d+) primary", line)
    if m:
        urls[int(m.group(2))] = int(m.group(1))
try:
    conns = {node: http.client.HTTPConnection("127.0.0.1", port) for node, port in urls.items()}

    def post(node, path, body):
        c = conns[node]
        c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()

    st, _, body = post(1, "/scxml/session/start", {"src": "idle.scxml"})
    sid = json.loads(body)["sessionid"]
    path = "/scxml/session/%s/event/e" % sid

    def measure(first):
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            st, h, _ = post(first, path, {"x": 1})
            if st == 307:
                port = int(re.match(r"http://127\.0\.0\.1:(\d+)", h["Location"]).group(1))
                node = next(k for k, v in urls.items() if v == port)
                st, _, _ = post(node, path, {"x": 1})
            assert st == 200, st
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        return times[len(times) // 2], times[int(len(times) * 0.99)]

    measure(1)  # warm-up
    direct = measure(1)
    redirected = measure(2)
    print("events to the owner:            p50 %.3f ms  p99 %.3f ms" % direct)
    print("events via another node's 307:  p50 %.3f ms  p99 %.3f ms" % redirected)
finally:
    subprocess.run([os.path.join(repo, "scripts", "cluster.sh"), "stop", tmp.name], check=True)
    tmp.cleanup()
