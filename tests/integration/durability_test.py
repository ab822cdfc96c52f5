#!/usr/bin/env python3
"""Durable sessions and primary/backup failover, over real HTTP against real orsd processes.

Restart and kill -9 bring every session back (its data, its children, its delayed sends); a
backup redirects to its primary and takes over when the primary dies; a full store refuses new
work with 503 and keeps what it has; and, under load, no acknowledged start or event is lost or
processed twice across several kill -9 rounds.

Hermetic: ports picked by the OS, a temporary data directory per test, no fixed sleeps (every
wait polls with a deadline), every process stopped by the test that started it.
Usage: durability_test.py PATH-TO-ORSD [unittest arguments]
"""
import http.client
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from testlib import wait_for

ORSD = None

COUNTER = """<scxml xmlns="http://www.w3.org/2005/07/scxml" xmlns:ws="www.genesyslab.com/modules/ws"
    version="1.0" datamodel="ecmascript" initial="run">
  <datamodel><data id="seen" expr="[]"/><data id="fired" expr="0"/><data id="who" expr="null"/></datamodel>
  <script>function note(n) { seen.push(n); return seen.length; }</script>
  <state id="run">
    <transition event="n"><script>note(_event.data.n)</script></transition>
    <transition event="later"><send event="tick" delayexpr="_event.data.delay"/></transition>
    <transition event="tick"><assign location="fired" expr="fired + 1"/></transition>
    <transition event="report">
      <ws:response requestid="_event.sendid" resultcode="'OK'">
        <param name="seen" expr="seen"/><param name="fired" expr="fired"/>
      </ws:response>
    </transition>
    <transition event="stop" target="end"/>
  </state>
  <final id="end"/>
</scxml>"""

PARENT = """<scxml xmlns="http://www.w3.org/2005/07/scxml" xmlns:session="http://www.genesyslab.com/modules/session"
    version="1.0" datamodel="ecmascript" initial="s">
  <datamodel><data id="started" expr="''"/></datamodel>
  <state id="s">
    <onentry><session:start src="'started.scxml'" idlocation="started"/></onentry>
    <invoke type="scxml" src="child.scxml" id="kid"/>
    <transition event="kick"><send target="#_kid" event="bye"/></transition>
    <transition event="done.invoke.kid" target="childDone"/>
  </state>
  <state id="childDone">
    <transition event="done.scxml" target="allDone"/>
  </state>
  <state id="allDone"/>
</scxml>"""

CHILD = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript" initial="c">
  <state id="c"><transition event="bye" target="end"/></state>
  <final id="end"/>
</scxml>"""

STARTED = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript" initial="w">
  <state id="w"><transition event="finish" target="end"/></state>
  <final id="end"/>
</scxml>"""


# A project assembled from files (a script library, a workflow under a prefix): a session
# restored after a crash runs what it started with even when those files are gone or changed.
PROJECT = """<scxml xmlns="http://www.w3.org/2005/07/scxml" xmlns:xi="http://www.w3.org/2001/XInclude"
    version="1.0" profile="ecmascript" initial="wf">
  <script><xi:include href="lib.js" parse="text"/></script>
  <state id="wf" initial="wf._composer_entry">
    <xi:include href="flow.scxml" parse="xml" xpointer="_composer_entry" resolveid="wf"/>
  </state>
</scxml>"""

PROJECT_FLOW = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" initial="_composer_entry">
  <state id="_composer_entry" initial="$$_MY_PREFIX_$$.waiting">
    <state id="waiting">
      <transition event="ask" cond="version() === 'v1'" target="$$_MY_PREFIX_$$.v1"/>
      <transition event="ask" target="$$_MY_PREFIX_$$.other"/>
    </state>
    <state id="v1"/>
    <state id="other"/>
  </state>
</scxml>"""


class Instance:
    """One orsd process on a data directory shared with others of its node."""

    def __init__(self, data_dir, docs, *settings):
        args = [ORSD, "--port", "0", "--address", "127.0.0.1", "--data-dir", data_dir,
                "--set", "orchestration/document-roots=" + docs, "--set", "orchestration/workers=2"]
        for s in settings:
            args += ["--set", s]
        self.log = open(os.path.join(os.path.dirname(data_dir), "orsd-%d.log" % time.monotonic_ns()), "w")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on 127\.0\.0\.1:(\d+).*; (primary|backup)", line)
        if not m:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("orsd did not start: " + line + open(self.log.name).read())
        self.port = int(m.group(1))
        self.role = m.group(2)
        self.lines = []
        self.status = None  # exit status after stop(); None while running or when killed
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        try:
            for line in self.proc.stdout:
                self.lines.append(line)
        except ValueError:  # closed by stop()
            pass

    def call(self, method, path, body=None, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, json.dumps(body) if body is not None else None, headers)
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read().decode()
        finally:
            conn.close()

    def heartbeat(self):
        try:
            return self.call("GET", "/heartbeat", timeout=2)[0]
        except OSError:
            return None

    def start(self, src, **params):
        st, _, body = self.call("POST", "/scxml/session/start", dict(src=src, **params))
        assert st == 200, (st, body)
        return json.loads(body)["sessionid"]

    def report(self, sid):
        st, _, body = self.call("POST", "/scxml/session/%s/request/report" % sid, {})
        assert st == 200, (st, body)
        return json.loads(body)["params"]

    def state(self, sid):
        st, _, body = self.call("GET", "/scxml/session/%s/query" % sid)
        return json.loads(body)["configuration"] if st == 200 else None

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        """SIGTERM (a step-down); the exit status must be 0, and is kept in self.status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.status = self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.status = "hung after SIGTERM"
            if self.status != 0:
                self.log.flush()
                print(open(self.log.name).read()[-3000:], file=sys.stderr)
        self.log.close()
        self.proc.stdout.close()


class Durability(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.docs = os.path.join(self.tmp.name, "docs")
        self.data = os.path.join(self.tmp.name, "data")
        os.makedirs(self.docs)
        for name, text in (("counter.scxml", COUNTER), ("parent.scxml", PARENT), ("child.scxml", CHILD),
                           ("started.scxml", STARTED)):
            with open(os.path.join(self.docs, name), "w") as f:
                f.write(text)
        self.instances = []

    def tearDown(self):
        for i in self.instances:
            i.stop()
        self.tmp.cleanup()
        for i in self.instances:
            self.assertIn(i.status, (None, 0), "orsd did not exit cleanly after SIGTERM")

    def instance(self, *settings):
        i = Instance(self.data, self.docs, *settings)
        self.instances.append(i)
        return i

    def test_restart_and_kill_restore_sessions_children_and_timers(self):
        a = self.instance()
        self.assertEqual(a.role, "primary")
        c = a.start("counter.scxml")
        for n in range(5):
            self.assertEqual(a.call("POST", "/scxml/session/%s/event/n" % c, {"n": n})[0], 200)
        # A delayed send due while the server is down fires at once after the restart.
        self.assertEqual(a.call("POST", "/scxml/session/%s/event/later" % c, {"delay": "1500ms"})[0], 200)
        p = a.start("parent.scxml")
        self.assertEqual(a.state(p), ["s"])
        a.kill()
        # The document changes on disk: the stored sessions keep running the version they began with.
        with open(os.path.join(self.docs, "counter.scxml"), "w") as f:
            f.write(COUNTER.replace('expr="[]"', 'expr="[99]"'))
        due = time.monotonic() + 1.5
        while time.monotonic() < due:  # let the delayed send fall due while nobody runs
            time.sleep(0.05)
        b = self.instance()
        self.assertEqual(b.role, "primary")
        r = wait_for(lambda: (lambda x: x if x["fired"] == 1 else None)(b.report(c)), "the overdue timer")
        self.assertEqual(r["seen"], [0, 1, 2, 3, 4])
        # The invoked child and the session:start child are back, with their relations.
        self.assertEqual(b.call("POST", "/scxml/session/%s/event/kick" % p, {})[0], 200)
        wait_for(lambda: b.state(p) == ["childDone"], "done.invoke from the restored child")
        st, _, body = b.call("POST", "/scxml/session/%s/request/report" % c, {})
        self.assertEqual(st, 200, body)
        b.stop()  # SIGTERM: drains, then a third start finds everything again
        d = self.instance()
        self.assertEqual(d.report(c)["seen"], [0, 1, 2, 3, 4])
        self.assertEqual(d.state(p), ["childDone"])
        n = d.start("counter.scxml")  # a new session runs the new version
        self.assertEqual(d.report(n)["seen"], [99])

    def test_a_session_of_an_assembled_document_survives_its_files(self):
        proj = os.path.join(self.docs, "proj")
        os.makedirs(proj)
        for name, text in (("main.scxml", PROJECT), ("flow.scxml", PROJECT_FLOW),
                           ("lib.js", "function version() { return 'v1'; }")):
            with open(os.path.join(proj, name), "w") as f:
                f.write(text)
        a = self.instance()
        sid = a.start("proj/main.scxml")
        self.assertEqual(a.state(sid), ["wf.waiting"])
        a.kill()
        with open(os.path.join(proj, "lib.js"), "w") as f:
            f.write("function version() { return 'v2'; }")
        os.remove(os.path.join(proj, "flow.scxml"))
        b = self.instance()
        self.assertEqual(b.state(sid), ["wf.waiting"])
        self.assertEqual(b.call("POST", "/scxml/session/%s/event/ask" % sid, {})[0], 200)
        wait_for(lambda: b.state(sid) == ["wf.v1"], "the restored session running its own library")

    def metric(self, inst, name):
        body = inst.call("GET", "/metrics")[2]
        m = re.search(r"^%s (\d+)$" % name, body, re.M)
        return int(m.group(1)) if m else None

    def test_idle_sessions_leave_memory_and_come_back(self):
        a = self.instance("persistence/unload-after=200")
        ids = [a.start("counter.scxml") for _ in range(20)]
        for i, sid in enumerate(ids):
            self.assertEqual(a.call("POST", "/scxml/session/%s/event/n" % sid, {"n": i})[0], 200)
        timed = ids[0]
        self.assertEqual(a.call("POST", "/scxml/session/%s/event/later" % timed, {"delay": "1s"})[0], 200)
        wait_for(lambda: self.metric(a, "ors_sessions_unloaded_total") >= 20, "idle sessions to be unloaded")
        st, _, body = a.call("GET", "/scxml/sessions?limit=1000")
        self.assertEqual(json.loads(body)["total"], 20)  # listed while out of memory
        # An event brings one back, data intact; the delayed send of another wakes it by itself.
        self.assertEqual(a.report(ids[5])["seen"], [5])
        wait_for(lambda: self.metric(a, "ors_sessions_loaded_total") >= 2, "the timer to load its session back")
        self.assertEqual(a.report(timed), {"seen": [0], "fired": 1})
        # A restart with unloading on leaves them in the store until needed: a delayed send wakes
        # its session by itself, a call loads the session it names.
        self.assertEqual(a.call("POST", "/scxml/session/%s/event/later" % ids[1], {"delay": "1500ms"})[0], 200)
        a.stop()
        b = self.instance("persistence/unload-after=200")
        self.assertEqual(self.metric(b, "ors_active_sessions"), 20)
        wait_for(lambda: self.metric(b, "ors_sessions_loaded_total") >= 1, "the delayed send to wake its session")
        for i, sid in enumerate(ids):
            self.assertEqual(b.report(sid)["seen"], [i])
        self.assertEqual(b.report(ids[1])["fired"], 1)
        self.assertEqual(self.metric(b, "ors_sessions_loaded_total"), 20)

    def test_backup_redirects_then_takes_over(self):
        primary = self.instance()
        backup = self.instance()
        self.assertEqual((primary.role, backup.role), ("primary", "backup"))
        self.assertEqual(primary.heartbeat(), 200)
        self.assertEqual(backup.heartbeat(), 503)
        c = primary.start("counter.scxml")
        st, headers, _ = backup.call("POST", "/scxml/session/%s/event/n" % c, {"n": 1})
        self.assertEqual(st, 307)
        self.assertEqual(headers["Location"], "http://127.0.0.1:%d/scxml/session/%s/event/n" % (primary.port, c))
        self.assertEqual(headers["Set-Cookie"], "ORSSESSIONID=%s.node1; Path=/" % c)
        self.assertEqual(backup.call("POST", "/scxml/session/start", {"src": "counter.scxml"})[0], 307)
        self.assertEqual(primary.call("POST", "/scxml/session/%s/event/n" % c, {"n": 1})[0], 200)
        primary.kill()
        t0 = time.monotonic()
        wait_for(lambda: backup.heartbeat() == 200, "the backup to take over", timeout=2.0)
        print("\n  failover: kill -9 -> backup /heartbeat 200 in %.0f ms" % ((time.monotonic() - t0) * 1000))
        self.assertEqual(backup.report(c)["seen"], [1])
        # The old primary, started again, is now the backup of the new one.
        again = self.instance()
        self.assertEqual(again.role, "backup")
        st, headers, _ = again.call("GET", "/scxml/session/%s/query" % c)
        self.assertEqual((st, headers["Location"]), (307, "http://127.0.0.1:%d/scxml/session/%s/query" % (backup.port, c)))

    def test_full_store_refuses_new_work_and_keeps_the_rest(self):
        a = self.instance("persistence/max-size=65536")
        started, refused = [], None
        for _ in range(500):
            st, _, body = a.call("POST", "/scxml/session/start", {"src": "counter.scxml", "who": "x" * 2000})
            if st != 200:
                refused = (st, body)
                break
            started.append(json.loads(body)["sessionid"])
        self.assertIsNotNone(refused, "the store never filled up")
        self.assertEqual(refused[0], 503)
        self.assertIn("full", json.loads(refused[1])["error"])
        self.assertGreater(len(started), 0)
        a.stop()
        b = self.instance()  # no cap: everything acknowledged is there, the refused start is not
        for sid in started:
            self.assertEqual(b.state(sid), ["run"], sid)
        st, _, body = b.call("GET", "/scxml/sessions?limit=1000")
        self.assertEqual(json.loads(body)["total"], len(started))

    def test_crash_under_load_loses_nothing_acknowledged(self):
        """A client starts sessions and sends numbered events while primaries are killed with
        kill -9 at random moments (one round steps down with SIGTERM instead); the backup takes over
        each time and the killed one comes back as the new backup. Then every acknowledged start exists and every acknowledged event was
        processed exactly once; an unacknowledged one at most once."""
        rng = random.Random(int(os.environ.get("ORS_TEST_SEED", "0")) or None)
        pair = [self.instance(), self.instance()]
        acked_starts, acked = [], {}  # session -> [event numbers acknowledged]
        unacked = {}
        stop = threading.Event()
        state = {"next": 0, "errors": 0}

        def serving():
            for inst in pair:
                if inst.proc.poll() is None and inst.heartbeat() == 200:
                    return inst
            return None

        def client():
            while not stop.is_set():
                inst = serving()
                if inst is None:
                    time.sleep(0.01)
                    continue
                try:
                    if not acked_starts or rng.random() < 0.2:
                        st, _, body = inst.call("POST", "/scxml/session/start", {"src": "counter.scxml"}, timeout=5)
                        if st == 200:
                            sid = json.loads(body)["sessionid"]
                            acked_starts.append(sid)
                            acked[sid] = []
                        continue
                    sid = rng.choice(acked_starts)
                    n = state["next"]
                    state["next"] += 1
                    try:
                        st, _, _ = inst.call("POST", "/scxml/session/%s/event/n" % sid, {"n": n}, timeout=5)
                    except OSError:
                        st = None
                    if st == 200:
                        acked[sid].append(n)
                    else:
                        unacked.setdefault(sid, []).append(n)
                except OSError:
                    state["errors"] += 1

        t = threading.Thread(target=client)
        t.start()
        rounds = 4
        try:
            for r in range(rounds):
                wait_for(lambda: serving() is not None, "a primary")
                time.sleep(rng.uniform(0.3, 0.8))  # load runs for a random while
                victim = next(i for i in pair if i.proc.poll() is None and i.heartbeat() == 200)
                if r == 2:
                    victim.stop()  # a step-down (SIGTERM) this time: drain, flush, hand over
                else:
                    victim.kill()
                survivor = next(i for i in pair if i is not victim)
                wait_for(lambda: survivor.heartbeat() == 200, "the backup to take over", timeout=5)
                pair[pair.index(victim)] = self.instance()  # back, as the new backup
            time.sleep(0.3)
        finally:
            stop.set()
            t.join()
        inst = serving()
        lost = dup = extra = processed = 0
        for sid in acked_starts:
            seen = inst.report(sid)["seen"]
            processed += len(seen)
            counts = {}
            for n in seen:
                counts[n] = counts.get(n, 0) + 1
            for n in acked[sid]:
                if counts.get(n, 0) == 0:
                    lost += 1
            dup += sum(1 for c in counts.values() if c > 1)
            extra += sum(1 for n in counts if n not in acked[sid] and n not in unacked.get(sid, []))
        n_acked = sum(len(v) for v in acked.values())
        print("\n  crash test: %d rounds (kill -9, one SIGTERM step-down), %d sessions started, %d events acknowledged, %d not"
              " acknowledged, %d processed; lost %d, processed twice %d, unknown %d"
              % (rounds, len(acked_starts), n_acked, sum(len(v) for v in unacked.values()), processed,
                 lost, dup, extra))
        self.assertGreater(n_acked, 0)
        self.assertEqual((lost, dup, extra), (0, 0, 0))


if __name__ == "__main__":
    ORSD = sys.argv[1]
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)
