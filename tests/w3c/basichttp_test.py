#!/usr/bin/env python3
"""The W3C tests of the BasicHTTP Event I/O Processor, run by orsd (they need real HTTP), and
manual test 513 made automatic. Same pass rule as the in-process runner: a test passes when the
session enters its top-level final state "pass", which each test announces by logging
`Outcome: pass` (orsd writes `<sessionid> Outcome: pass` to stderr).
Usage: basichttp_test.py ORSD SUITE_DIR   (prints "N passed, N failed")
"""
import collections
import csv
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

DEADLINE_S = 60

WAITER = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript" initial="s0">
  <state id="s0"><transition event="foo" target="pass"/><transition event="*" target="fail"/></state>
  <final id="pass"><onentry><log label="Outcome" expr="'pass'"/></onentry></final>
  <final id="fail"><onentry><log label="Outcome" expr="'fail'"/></onentry></final>
</scxml>"""


def main():
    orsd, suite = sys.argv[1], sys.argv[2]
    tests = []
    with open(os.path.join(suite, "MANIFEST.tsv"), newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["basichttp"] == "yes" and row["category"] != "manual" and row["file"].endswith(".scxml"):
                tests.append((row["test_id"], os.path.basename(row["file"])))
    tmp = tempfile.TemporaryDirectory()
    with open(os.path.join(tmp.name, "test513.scxml"), "w") as f:
        f.write(WAITER)
    proc = subprocess.Popen([orsd, "--port", "0", "--address", "127.0.0.1", "--data-dir", os.path.join(tmp.name, "data"),
                             "--set", "orchestration/document-roots=%s,%s" % (os.path.join(suite, "ecma"), tmp.name)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outcomes = {}
    cond = threading.Condition()
    last_lines = collections.deque(maxlen=40)  # orsd's stderr, for a failure's report

    def read_stderr():
        for line in proc.stderr:
            last_lines.append(line)
            m = re.match(r"^([0-9A-V]{32}) Outcome: (\w+)", line)
            if m:
                with cond:
                    outcomes[m.group(1)] = m.group(2)
                    cond.notify_all()

    try:
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", proc.stdout.readline())
        if not m:
            print("orsd did not start")
            return 1
        port = int(m.group(1))
        reader = threading.Thread(target=read_stderr, daemon=True)
        reader.start()

        def call(path, body):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
            conn.request("POST", path, body=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
            r = conn.getresponse()
            data = r.read().decode()
            conn.close()
            return r.status, data

        sessions = {}
        failures = {}
        for test_id, name in tests:
            status, data = call("/scxml/session/start", "src=" + name)
            if status != 200:
                failures[test_id] = "not started: %d %s" % (status, data)
            else:
                sessions[test_id] = json.loads(data)["sessionid"]
        # 513: POST an event to the session's BasicHTTP location; expect 200 and the event.
        status, data = call("/scxml/session/start", "src=test513.scxml")
        sid513 = json.loads(data)["sessionid"] if status == 200 else None
        if sid513:
            status, data = call("/scxml/session/%s/basichttp" % sid513, "_scxmleventname=foo")
            if status != 200:
                failures["513"] = "POST to the location answered %d" % status
            sessions["513"] = sid513
        deadline = time.monotonic() + DEADLINE_S
        with cond:
            while any(sid not in outcomes for sid in sessions.values()) and time.monotonic() < deadline:
                cond.wait(timeout=max(0.01, deadline - time.monotonic()))
        for test_id, sid in sessions.items():
            verdict = outcomes.get(sid)
            if verdict != "pass" and test_id not in failures:
                failures[test_id] = "no verdict" if verdict is None else "ended in " + verdict
        ids = [t for t, _ in tests] + ["513"]
        for t in ids:
            if t in failures:
                print("FAIL test%s: %s" % (t, failures[t]))
        print("%d passed, %d failed" % (len(ids) - len(failures), len(failures)))
        return 1 if failures else 0
    except OSError as e:
        print("orsd stopped answering (%s); its exit status: %s; its last lines:\n%s"
              % (e, proc.poll(), "".join(last_lines)))
        return 1
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        if code != 0:
            print("orsd exited with %d after SIGTERM; its last lines:\n%s" % (code, "".join(last_lines)))
        tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
