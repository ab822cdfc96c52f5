#!/usr/bin/env python3
"""corpus: runs a folder of generated strategies (a corpus kept outside the repo) against the call
simulator and reports, for each, whether it loads with its includes and how its sessions end.

Each entry document (by default every `IPD_*.scxml`, the wrapper the vendor's authoring tool
generates; `--glob` to choose) becomes the strategy of a routing point of one orsd (memory
store, document root = the corpus folder); `scripts/callsim.py` offers `--calls` calls to each in
turn and answers their routing, queue, dialog and interaction requests as a switch, a router and
a media server would. A strategy's sessions that are still running `--grace` seconds after its
calls were offered are reported with their active states (a strategy waiting for something the
simulator does not send, or stuck); the lines orsd logged for its sessions that mention an error
are counted and the first few shown.

Usage: corpus.py DIR [--orsd build/orsd] [--calls 3] [--timeout 10] [--grace 15] [--glob 'IPD_*.scxml']
                 [--log FILE]
Exit status 0 when every strategy loaded and every session ended, 1 otherwise.
"""
import argparse
import fnmatch
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))


def call(port, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body, {"Content-Type": "application/x-www-form-urlencoded"} if body else {})
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()


def sessions(port):
    ids = []
    while True:
        st, body = call(port, "GET", "/scxml/sessions?limit=1000&offset=%d" % len(ids))
        if st != 200:
            return ids
        page = json.loads(body)
        ids += page.get("sessions", [])
        if not page.get("sessions") or len(ids) >= page.get("total", 0):
            return ids


def main():
    ap = argparse.ArgumentParser(description="run generated strategies against the call simulator")
    ap.add_argument("dir")
    ap.add_argument("--orsd", default=os.path.join(HERE, "..", "build", "orsd"))
    ap.add_argument("--calls", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=10, help="seconds callsim waits for each call's route")
    ap.add_argument("--grace", type=float, default=15, help="seconds a strategy's sessions may run after its calls")
    ap.add_argument("--glob", default="IPD_*.scxml")
    ap.add_argument("--log", help="also copy orsd's log (every session's <log> lines) to this file")
    args = ap.parse_args()
    root = os.path.realpath(args.dir)
    entries = []
    for d, _, files in os.walk(root):
        for f in sorted(files):
            if fnmatch.fnmatch(f, args.glob):
                entries.append(os.path.relpath(os.path.join(d, f), root))
    if not entries:
        print("no %s under %s" % (args.glob, root))
        return 1
    tmp = tempfile.TemporaryDirectory()
    cmd = [args.orsd, "--port", "0", "--address", "127.0.0.1", "--data-dir", os.path.join(tmp.name, "data"),
           "--set", "persistence/type=memory", "--set", "orchestration/document-roots=" + root]
    dns = {}
    for i, e in enumerate(entries):
        dns[e] = str(7000 + i)
        cmd += ["--set", "routing-points/%s=%s" % (dns[e], e)]
    log_path = os.path.join(tmp.name, "orsd.log")
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
    failed = False
    try:
        m = re.search(r"listening on [0-9.]+:(\d+)", proc.stdout.readline())
        if not m:
            print("orsd did not start:", open(log_path).read())
            return 1
        port = int(m.group(1))
        # (its later lines are read and dropped, so that a full pipe never blocks it)
        threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and call(port, "GET", "/heartbeat")[0] != 200:
            time.sleep(0.05)
        for e in entries:
            # Loads with its includes? (a start outside a call, then terminated)
            st, body = call(port, "POST", "/scxml/session/start", urllib.parse.urlencode({"src": e}))
            if st != 200:
                failed = True
                print("%s: does not load: %s" % (e, body))
                continue
            call(port, "POST", "/scxml/session/%s/terminate" % json.loads(body)["sessionid"])
            before = set(sessions(port))
            log_from = os.path.getsize(log_path)
            r = subprocess.run([sys.executable, os.path.join(HERE, "callsim.py"), "--servers",
                                "http://127.0.0.1:%d" % port, "--calls", str(args.calls), "--rate", "5",
                                "--dn", dns[e], "--timeout", str(args.timeout), "--prefix", "corpus%s-" % dns[e],
                                "--json"], capture_output=True, text=True)
            report = json.loads(r.stdout.strip().splitlines()[-1]) if r.stdout.strip() else {}
            deadline = time.monotonic() + args.grace
            left = []
            while True:
                left = [s for s in sessions(port) if s not in before]
                if not left or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            log.flush()
            with open(log_path) as f:
                f.seek(log_from)
                errors = [l.rstrip() for l in f if re.search(r"error", l, re.I)]
            print("%s: %d calls, routed %d; sessions left running %d; log lines mentioning errors %d"
                  % (e, args.calls, report.get("routed_once", 0), len(left), len(errors)))
            for s in left[:3]:
                st, body = call(port, "GET", "/scxml/session/%s/query" % s)
                print("   still running %s in %s" % (s, json.loads(body).get("configuration") if st == 200 else st))
            for l in errors[:3]:
                print("   " + l[:300])
            failed = failed or bool(left)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        if args.log:
            shutil.copyfile(log_path, args.log)
        tmp.cleanup()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
