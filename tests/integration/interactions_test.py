#!/usr/bin/env python3
"""Multimedia interactions over the 3-node test cluster (scripts/cluster.sh: a Redis Cluster and 3
nodes, each a primary and a backup): interactions submitted to a shared queue are pulled by the
nodes, each while it has room under its in-flight limit (node 1 has half the others' limit):
  - 30,000 interactions: each processed by exactly one session;
  - node 1, with half the others' in-flight limit, takes about half the share of each of them
    (when the work takes long enough that room, not speed, is what limits a node);
  - kill -9 of a primary mid-run: every interaction still processed by exactly one session (its
    backup goes on with the sessions and the interactions its node held);
  - both instances of a node killed: another node adopts it after the takeover timeout, and the
    interactions it held finish in their restored sessions; other nodes redirect to the adopter;
    the node, started again, gets its sessions back.
Each interaction's strategy reports itself on the reply channel (<send type="call">), which the test
reads, then ends a little later, which frees its node's room.

Hermetic: ports picked free, a temporary directory, no fixed sleeps (polls with deadlines), every
process stopped. Usage: interactions_test.py REPO_DIR BUILD_DIR [unittest arguments]
"""
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from testlib import wait_for

REPO = BUILD = None

EMAIL = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript" initial="work">
  <datamodel><data id="interaction"/></datamodel>
  <state id="work">
    <onentry>
      <send type="call" event="processed"><param name="id" expr="interaction.id"/><param name="tag" expr="interaction.tag"/></send>
      <send event="finish" delayexpr="(interaction.hold || 20) + 'ms'"/>
    </onentry>
    <transition event="finish" target="done">
      <send type="call" event="finished"><param name="id" expr="interaction.id"/><param name="tag" expr="interaction.tag"/></send>
    </transition>
  </state>
  <final id="done"/>
</scxml>"""

# A session that waits, to call on after its node was adopted.
WAIT = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript" initial="waiting">
  <state id="waiting"><transition event="go" target="gone"/></state>
  <state id="gone"/>
</scxml>"""


def request(url, method, path, body=None):
    """One HTTP request: (status, headers, body bytes), or (None, {}, b"") without an answer."""
    m = re.match(r"http://([^:/]+):(\d+)", url)
    conn = http.client.HTTPConnection(m[1], int(m[2]), timeout=30)
    try:
        conn.request(method, path, json.dumps(body) if body is not None else None,
                     {"Content-Type": "application/json"} if body is not None else {})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    except OSError:
        return None, {}, b""
    finally:
        conn.close()


def call(url, method, path, body=None):
    """(status, the JSON body or None)."""
    status, _, data = request(url, method, path, body)
    try:
        return status, json.loads(data)
    except ValueError:
        return status, None


class Interactions(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        tmp = tempfile.TemporaryDirectory()
        cls.addClassCleanup(tmp.cleanup)
        cls.dir = tmp.name
        os.makedirs(os.path.join(cls.dir, "docs"))
        with open(os.path.join(cls.dir, "docs", "email.scxml"), "w") as f:
            f.write(EMAIL)
        with open(os.path.join(cls.dir, "docs", "wait.scxml"), "w") as f:
            f.write(WAIT)
        cls.addClassCleanup(lambda: subprocess.run([os.path.join(REPO, "scripts", "cluster.sh"), "stop", cls.dir]))
        out = subprocess.run([os.path.join(REPO, "scripts", "cluster.sh"), "start", cls.dir, "3", BUILD,
                              "--set", "media-strategies/email=email.scxml",
                              "--set", "orchestration/node-takeover-timeout=3000",
                              "--node-set", "1", "orchestration/max-interactions=5",
                              "--node-set", "2", "orchestration/max-interactions=10",
                              "--node-set", "3", "orchestration/max-interactions=10"],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError("cluster.sh start failed: " + out.stdout + out.stderr)
        cls.inst = {}
        for line in out.stdout.splitlines():
            m = re.match(r"(http://\S+) node (\d+) (primary|backup)", line)
            if m:
                cls.inst[(int(m[2]), m[3])] = m[1]
        assert len(cls.inst) == 6, out.stdout

    def serving(self):
        """Any instance that answers as primary."""
        for url in self.inst.values():
            if call(url, "GET", "/heartbeat")[0] == 200:
                return url
        return None

    def submit(self, tag, n, hold_ms=20):
        for i in range(0, n, 1000):
            batch = [{"media": "email", "tag": tag, "subject": "mail %d" % j, "hold": hold_ms} for j in range(i, min(n, i + 1000))]
            st, body = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(
                call(self.serving(), "POST", "/ors/interactions", {"interactions": batch})), "a node to take interactions")
            self.assertEqual(len(body["ids"]), len(batch))

    def processed(self, tag, n, after, timeout, finished=None):
        """Reads the reply channel until `n` interactions of `tag` were reported: {id: {sessions}},
        {node: count}. With `finished` (a dict), also until each was reported finished there
        ({id: {sessions}})."""
        by_id, per_node, seen = {}, {}, set()
        deadline = time.monotonic() + timeout
        while (len(by_id) < n or (finished is not None and len(finished) < n)) and time.monotonic() < deadline:
            url = self.serving()
            st, body = call(url, "GET", "/ors/calls/replies?after=%s&limit=1000&wait=500" % after) if url else (None, None)
            if st != 200:
                continue
            after = body["last"]
            for r in body["replies"]:
                p = r.get("params", {})
                if p.get("tag") != tag or (r["session"], r["requestid"]) in seen:
                    continue  # another run's, or the same action sent again after a failover
                seen.add((r["session"], r["requestid"]))
                if r.get("action") == "finished" and finished is not None:
                    finished.setdefault(p["id"], set()).add(r["session"])
                if r.get("action") != "processed":
                    continue
                by_id.setdefault(p["id"], set()).add(r["session"])
                per_node[r["node"]] = per_node.get(r["node"], 0) + 1
        return by_id, per_node

    def last_reply(self):
        return call(self.serving(), "GET", "/ors/calls/replies?after=now")[1]["last"]

    def test_1_thirty_thousand_each_processed_once(self):
        after = self.last_reply()
        t0 = time.monotonic()
        self.submit("many", 30000)
        by_id, per_node = self.processed("many", 30000, after, timeout=600)
        took = time.monotonic() - t0
        print("\n  30,000 interactions in %.1f s (%.0f/s): per node %s" % (took, 30000 / took, per_node))
        self.assertEqual(len(by_id), 30000)
        self.assertEqual(sum(1 for s in by_id.values() if len(s) != 1), 0)  # one session each

    def test_2_a_node_with_half_the_room_takes_half_the_share(self):
        # Long enough work (300 ms an interaction) that room, not speed, limits what a node takes.
        after = self.last_reply()
        self.submit("room", 1500, hold_ms=300)
        by_id, per_node = self.processed("room", 1500, after, timeout=300)
        ratio = per_node[1] / ((per_node[2] + per_node[3]) / 2.0)
        print("\n  1,500 interactions of 300 ms, node 1 with half the limit: per node %s, node 1 / others %.2f"
              % (per_node, ratio))
        self.assertEqual(len(by_id), 1500)
        self.assertEqual(sum(1 for s in by_id.values() if len(s) != 1), 0)
        self.assertTrue(0.35 < ratio < 0.65, "node 1 took %.2f of the others' share" % ratio)

    def test_3_primary_killed_mid_run(self):
        after = self.last_reply()
        self.submit("kill", 6000)
        by_id, _ = self.processed("kill", 1000, after, timeout=120)  # under way
        with open(os.path.join(self.dir, "node2-a.pid")) as f:
            os.kill(int(f.read()), signal.SIGKILL)
        by_id, per_node = self.processed("kill", 6000, after, timeout=300)
        print("\n  6,000 interactions, node 2's primary killed mid-run: per node %s" % per_node)
        self.assertEqual(len(by_id), 6000)
        self.assertEqual(sum(1 for s in by_id.values() if len(s) != 1), 0)


    def test_4_both_instances_of_a_node_killed_another_node_adopts_it(self):
        # A session on node 3 to call on later, and interactions long enough (8 s) that node 3
        # still holds some when both its instances are killed.
        url3 = self.inst[(3, "primary")]
        st, body = call(url3, "POST", "/scxml/session/start", {"src": "wait.scxml"})
        self.assertEqual(st, 200, body)
        waiting = body["sessionid"]
        after = self.last_reply()
        self.submit("adopt", 60, hold_ms=8000)
        t0 = time.monotonic()
        by_id, per_node = {}, {}
        while per_node.get(3, 0) < 3:
            self.assertLess(time.monotonic() - t0, 120, "node 3 took no interactions")
            by_id, per_node = self.processed("adopt", 25, after, timeout=5)
        for tag in ("node3-a", "node3-b"):
            with open(os.path.join(self.dir, tag + ".pid")) as f:
                os.kill(int(f.read()), signal.SIGKILL)
        held = [i for i, s in by_id.items() if any(int(x[:4], 32) == 3 for x in s)]
        killed = time.monotonic()
        live = [u for n in (1, 2) for u in (self.inst[(n, "primary")], self.inst[(n, "backup")])
                if call(u, "GET", "/heartbeat")[0] == 200]
        self.assertEqual(len(live), 2, live)
        wait_for(lambda: any(request(u, "GET", "/scxml/session/%s/query" % waiting)[0] == 200 for u in live),
                 "node 3's session served by an adopter", timeout=60)
        adopted_in = time.monotonic() - killed
        # Every interaction processed once and finished by the session that processed it: node
        # 3's held ones by their restored sessions, on the node that adopted it.
        finished = {}
        by_id, per_node = self.processed("adopt", 60, after, timeout=180, finished=finished)
        self.assertEqual(len(by_id), 60)
        self.assertEqual(sum(1 for s in by_id.values() if len(s) != 1), 0)
        self.assertEqual(len(finished), 60)
        self.assertEqual({i: s for i, s in finished.items() if s != by_id[i]}, {})
        self.assertGreaterEqual(len(held), 1)
        # Calls for node 3's session reach the adopter: it serves them, the other node redirects
        # there.
        answers = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            answers = {u: request(u, "GET", "/scxml/session/%s/query" % waiting) for u in live}
            if sorted(st for st, _, _ in answers.values()) == [200, 307]:
                break
            time.sleep(0.1)
        self.assertEqual(sorted(st for st, _, _ in answers.values()), [200, 307], answers)
        adopter = [u for u, (st, _, _) in answers.items() if st == 200][0]
        redirected = [h for st, h, _ in answers.values() if st == 307][0]
        self.assertTrue(redirected["Location"].startswith(adopter + "/scxml/session/"), redirected)
        print("\n  node 3 killed (both instances) holding %d interactions: its session served by %s %.1f s after "
              "the kill (timeout 3 s); 60 of 60 processed once, each finished by its own session; per node %s"
              % (len(held), adopter, adopted_in, per_node))
        # Node 3 back: its instance waits as a backup, the adopter hands the node over, and it
        # serves its session again.
        out = subprocess.run([os.path.join(REPO, "scripts", "cluster.sh"), "restart", self.dir, "node3-a"],
                             capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        wait_for(lambda: call(url3, "GET", "/heartbeat")[0] == 200, "node 3 handed back", timeout=30)
        self.assertEqual(call(url3, "POST", "/scxml/session/%s/event/go" % waiting, {})[0], 200)
        st, body = call(url3, "GET", "/scxml/session/%s/query" % waiting)
        self.assertEqual((st, body and body.get("configuration")), (200, ["gone"]))


if __name__ == "__main__":
    REPO, BUILD = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
