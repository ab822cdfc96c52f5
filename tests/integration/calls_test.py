#!/usr/bin/env python3
"""Voice calls over the 3-node test cluster (scripts/cluster.sh: a Redis Cluster and 3 nodes, each
a primary and a backup), offered by the call simulator (scripts/callsim.py) to a routing point:
  - 30,000 calls: every one routed exactly once (none lost, none twice), each node's share within
    5% of a third, every session ended;
  - kill -9 of a primary mid-run: its calls go on on its backup, still exactly once;
  - both instances of a node stopped: its calls are taken by the others after the watching
    timeout, and none is lost;
  - both instances of a node killed mid-run: the calls it had claimed go on on the instance of
    another node that adopts it (server/adoption.h), still exactly once.
The simulator's figures (calls/s, routing latency) are printed.

Hermetic: ports picked free, a temporary directory, no fixed sleeps (polls with deadlines), every
process stopped. Usage: calls_test.py REPO_DIR BUILD_DIR [unittest arguments]
"""
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import unittest

from testlib import wait_for

REPO = BUILD = None

# The routing point's strategy: route the call on its route request, end with it.
ROUTE = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript" initial="routing">
  <datamodel><data id="call"/></datamodel>
  <state id="routing">
    <transition event="call.routerequest">
      <send type="call" event="route"><param name="target" expr="'agent-' + call.data.ani"/></send>
    </transition>
    <transition event="route.done" target="routed"/>
    <transition event="error.route" target="failed"/>
  </state>
  <state id="routed"><transition event="call.released" target="done"/></state>
  <state id="failed"><transition event="call.released" target="done"/></state>
  <final id="done"/>
</scxml>"""


def get(url, path):
    m = re.match(r"http://([^:/]+):(\d+)", url)
    conn = http.client.HTTPConnection(m[1], int(m[2]), timeout=10)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read().decode()
    except OSError:
        return None, ""
    finally:
        conn.close()


class Calls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        tmp = tempfile.TemporaryDirectory()
        cls.addClassCleanup(tmp.cleanup)
        cls.dir = tmp.name
        os.makedirs(os.path.join(cls.dir, "docs"))
        with open(os.path.join(cls.dir, "docs", "route.scxml"), "w") as f:
            f.write(ROUTE)
        cls.addClassCleanup(lambda: subprocess.run([os.path.join(REPO, "scripts", "cluster.sh"), "stop", cls.dir]))
        out = subprocess.run([os.path.join(REPO, "scripts", "cluster.sh"), "start", cls.dir, "3", BUILD,
                              "--set", "routing-points/7001=route.scxml",
                              "--set", "orchestration/call-watching-timeout=3000",
                              "--set", "orchestration/node-takeover-timeout=3000"],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError("cluster.sh start failed: " + out.stdout + out.stderr)
        cls.inst = {}
        for line in out.stdout.splitlines():
            m = re.match(r"(http://\S+) node (\d+) (primary|backup)", line)
            if m:
                cls.inst[(int(m[2]), m[3])] = m[1]
        assert len(cls.inst) == 6, out.stdout

    def simulate(self, servers, calls, rate, prefix, timeout=60):
        """Runs callsim to the end; its JSON report."""
        return json.loads(self.start_sim(servers, calls, rate, prefix, timeout).communicate(timeout=calls / rate + timeout + 60)[0])

    def start_sim(self, servers, calls, rate, prefix, timeout=60):
        return subprocess.Popen([sys.executable, os.path.join(REPO, "scripts", "callsim.py"), "--servers", ",".join(servers),
                                 "--calls", str(calls), "--rate", str(rate), "--hold-ms", "100",
                                 "--timeout", str(timeout), "--prefix", prefix, "--json"],
                                stdout=subprocess.PIPE, text=True)

    def run(self, result=None):
        """A failing test prints the tail of every instance's log (what the nodes said)."""
        failures = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result and len(result.failures) + len(result.errors) > failures:
            for name in sorted(os.listdir(self.dir)):
                if name.endswith(".log"):
                    with open(os.path.join(self.dir, name)) as f:
                        print("\n--- %s (last lines)\n%s" % (name, "".join(f.readlines()[-15:])))
        return out

    def pid(self, tag):
        with open(os.path.join(self.dir, tag + ".pid")) as f:
            return int(f.read())

    def sessions(self, url):
        st, body = get(url, "/scxml/sessions")
        return json.loads(body)["total"] if st == 200 else None

    def test_1_thirty_thousand_calls_each_routed_once_and_spread_evenly(self):
        primaries = [self.inst[(n, "primary")] for n in (1, 2, 3)]
        # Offered faster than this machine routes them: they queue, and the simulator waits for
        # the last (a call counts as lost only if it is not routed by the end).
        r = self.simulate(primaries, 30000, 1000, "even-", timeout=300)
        print("\n  30,000 calls over 3 nodes: %s" % json.dumps(r))
        self.assertEqual((r["routed_once"], r["lost"], r["routed_twice"]), (30000, 0, 0))
        for n in ("1", "2", "3"):
            self.assertLess(abs(r["per_node"][n] - 10000), 500, r["per_node"])  # within 5% of a third
        # Every call was released: every session ended.
        wait_for(lambda: all(self.sessions(u) == 0 for u in primaries), "every call's session to end", timeout=120)

    def test_2_primary_killed_mid_run(self):
        servers = [self.inst[(n, role)] for n in (1, 2, 3) for role in ("primary", "backup")]
        before = self.routed_by(2) or 0
        sim = self.start_sim(servers, 6000, 500, "kill-", timeout=120)
        try:
            wait_for(lambda: (self.routed_by(2) or 0) > before + 300, "node 2 to route calls", timeout=30)
            os.kill(self.pid("node2-a"), signal.SIGKILL)
            r = json.loads(sim.communicate(timeout=300)[0])
        finally:
            if sim.poll() is None:
                sim.kill()
                sim.wait()
        print("\n  6,000 calls, node 2's primary killed mid-run: %s" % json.dumps(r))
        self.assertEqual((r["routed_once"], r["lost"], r["routed_twice"]), (6000, 0, 0))
        # Its calls went on on its backup, which took new ones too.
        st, body = get(self.inst[(2, "backup")], "/metrics")
        self.assertEqual(st, 200)
        self.assertGreater(int(re.search(r"^ors_sessions_created_total (\d+)$", body, re.M)[1]), 0)

    def routed_by(self, node):
        """Calls node `node`'s current primary has started (its session counter)."""
        for role in ("primary", "backup"):
            st, body = get(self.inst[(node, role)], "/metrics")
            if st == 200:
                m = re.search(r"^ors_sessions_created_total (\d+)$", body, re.M)
                if m and int(m[1]) > 0:
                    return int(m[1])
        return None

    def test_3_both_instances_of_a_node_stopped(self):
        for tag in ("node3-a", "node3-b"):
            try:
                os.kill(self.pid(tag), signal.SIGKILL)
            except ProcessLookupError:
                pass
        # At once, before the others' health checks notice: the calls ranked first for node 3
        # wait for the watching timeout (3 s here), then the next node in rank takes them; once
        # the checks see node 3 down, the others take its share at once.
        servers = [self.inst[(n, "primary")] for n in (1, 2)] + [self.inst[(2, "backup")]]
        r = self.simulate(servers, 3000, 300, "down-", timeout=120)
        print("\n  3,000 calls with node 3 down: %s" % json.dumps(r))
        self.assertEqual((r["routed_once"], r["lost"], r["routed_twice"]), (3000, 0, 0))
        self.assertNotIn("3", r["per_node"])


    def test_4_both_instances_of_a_node_killed_mid_run(self):
        # Node 3 back (after test 3), then both its instances killed while it routes: the calls
        # it had claimed go on on the instance of another node that adopts it after the takeover
        # timeout (3 s here); new calls go to the others.
        for tag in ("node3-a", "node3-b"):
            out = subprocess.run([os.path.join(REPO, "scripts", "cluster.sh"), "restart", self.dir, tag],
                                 capture_output=True, text=True)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        url3 = self.inst[(3, "primary")]
        wait_for(lambda: get(url3, "/heartbeat")[0] == 200, "node 3 to serve again", timeout=60)
        servers = [self.inst[(n, role)] for n in (1, 2, 3) for role in ("primary", "backup")]
        sim = self.start_sim(servers, 6000, 500, "gone-", timeout=120)
        try:
            wait_for(lambda: (self.routed_by(3) or 0) > 300, "node 3 to route calls", timeout=30)
            for tag in ("node3-a", "node3-b"):
                os.kill(self.pid(tag), signal.SIGKILL)
            r = json.loads(sim.communicate(timeout=300)[0])
        finally:
            if sim.poll() is None:
                sim.kill()
                sim.wait()
        def says(name, what):
            with open(os.path.join(self.dir, name)) as f:
                return what in f.read()
        adopter = [name[:-4] for name in sorted(os.listdir(self.dir))
                   if re.match(r"node[12]-[ab]\.log$", name) and says(name, "node 3 adopted")]
        print("\n  6,000 calls, both instances of node 3 killed mid-run (adopted by %s): %s"
              % (adopter or "nobody: it held nothing", json.dumps(r)))
        self.assertEqual((r["routed_once"], r["lost"], r["routed_twice"]), (6000, 0, 0))


if __name__ == "__main__":
    REPO, BUILD = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
