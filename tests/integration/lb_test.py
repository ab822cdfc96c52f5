#!/usr/bin/env python3
"""Real load balancers in front of the cluster: HAProxy 2.6 and Apache 2.4 from Debian, each
started with the configuration `orsctl lb-config` writes (standalone, in its own run directory),
in front of its own 3-node test cluster (scripts/cluster.sh: a Redis Cluster and 3 nodes, each a
primary and a backup). Through each balancer:
  - sessions started through it spread over all nodes, with no redirect;
  - every later call for a session reaches its owner without a redirect once the cookie is known
    (the owners' event counters say so), no instance answers a redirect, and no 5xx comes back;
  - a backup receives no call while its primary is healthy (its redirect counter stays 0);
  - a call sent to the wrong node is redirected and the client follows it;
  - after kill -9 of a primary, its node's sessions answer through the balancer again within 5 s,
    and none is lost (every acknowledged event is there, once).

Hermetic: ports picked free, temporary directories, no fixed sleeps (polls with deadlines), and
every process stopped. Usage: lb_test.py REPO_DIR BUILD_DIR [unittest arguments]
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from testlib import COUNTER, wait_for

REPO = BUILD = None



def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Reply:
    def __init__(self, status, headers, body, hops, cookie):
        self.status, self.headers, self.body, self.hops, self.cookie = status, headers, body, hops, cookie

    def json(self):
        return json.loads(self.body)


def call(base, method, path, body=None, cookie=None, follow=True):
    """One call as the contract asks clients to make it: a 307 is followed with the same method
    and body, and the ORSSESSIONID cookie the last response set is sent on. `hops` lists the
    Locations followed; header names are compared in lower case (HAProxy lower-cases them)."""
    url, hops = base + path, []
    for _ in range(5):
        m = re.match(r"http://([^:/]+):(\d+)(.*)", url)
        conn = http.client.HTTPConnection(m[1], int(m[2]), timeout=10)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if cookie:
            headers["Cookie"] = "ORSSESSIONID=" + cookie
        try:
            conn.request(method, m[3] or "/", json.dumps(body) if body is not None else None, headers)
            r = conn.getresponse()
            h = {k.lower(): v for k, v in r.getheaders()}
            data = r.read().decode()
        except OSError:
            return Reply(None, {}, "", hops, cookie)
        finally:
            conn.close()
        set_cookie = re.match(r"ORSSESSIONID=([^;]+)", h.get("set-cookie", ""))
        if set_cookie:
            cookie = set_cookie[1]
        if r.status == 307 and follow:
            url = h["location"]
            hops.append(url)
            continue
        return Reply(r.status, h, data, hops, cookie)
    raise AssertionError("too many redirects: %s" % hops)


def counter(url, name):
    r = call(url, "GET", "/metrics", follow=False)
    assert r.status == 200, (url, r.status)
    return int(re.search(r"^ors_%s (\d+)$" % name, r.body, re.M)[1])


class Balancer:
    """A real balancer process with the configuration orsctl writes for the cluster file."""

    def __init__(self, kind, cluster_file, run_dir):
        os.makedirs(run_dir)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        cfg = subprocess.run([os.path.join(BUILD, "orsctl"), "lb-config", kind, cluster_file,
                              "--listen", "127.0.0.1:%d" % self.port, "--run-dir", run_dir],
                             capture_output=True, text=True, check=True).stdout
        path = os.path.join(run_dir, kind + ".cfg")
        with open(path, "w") as f:
            f.write(cfg)
        program = shutil.which(kind if kind == "haproxy" else "apache2") or "/usr/sbin/" + (
            "haproxy" if kind == "haproxy" else "apache2")
        argv = [program, "-f", path, "-db"] if kind == "haproxy" else [program, "-f", path, "-DFOREGROUND"]
        self.log = open(os.path.join(run_dir, "out.log"), "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class BalancerTest:
    """The checks, run against each balancer (the subclasses name it). Tests run in name order on
    one cluster; the last one kills a primary."""
    kind = None

    @classmethod
    def setUpClass(cls):
        tmp = tempfile.TemporaryDirectory()
        cls.addClassCleanup(tmp.cleanup)
        cls.dir = os.path.join(tmp.name, "cluster")
        os.makedirs(os.path.join(cls.dir, "docs"))
        with open(os.path.join(cls.dir, "docs", "counter.scxml"), "w") as f:
            f.write(COUNTER)
        cls.addClassCleanup(lambda: subprocess.run([os.path.join(REPO, "scripts", "cluster.sh"), "stop", cls.dir]))
        out = subprocess.run([os.path.join(REPO, "scripts", "cluster.sh"), "start", cls.dir, "3", BUILD],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError("cluster.sh start failed: " + out.stdout + out.stderr)
        cls.inst = {}  # (node, 'primary'|'backup') -> url
        for line in out.stdout.splitlines():
            m = re.match(r"(http://\S+) node (\d+) (primary|backup)", line)
            if m:
                cls.inst[(int(m[2]), m[3])] = m[1]
        assert len(cls.inst) == 6, out.stdout
        cls.lb = Balancer(cls.kind, os.path.join(cls.dir, "cluster.ini"), os.path.join(tmp.name, cls.kind))
        cls.addClassCleanup(cls.lb.stop)
        # Ready once its health checks took the backups out: round-robin over 6 members, 12
        # heartbeats in a row that a primary answered.
        in_a_row = [0]

        def ready():
            in_a_row[0] = in_a_row[0] + 1 if call(cls.lb.url, "GET", "/heartbeat", follow=False).status == 200 else 0
            return in_a_row[0] >= 12
        wait_for(ready, cls.kind + " to take the backups out of rotation", timeout=30)
        cls.sessions = {}  # session id -> (node, cookie, events acknowledged)

    def run(self, result=None):
        """A failing test prints the tail of every instance's and the balancer's log."""
        failures = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result and len(result.failures) + len(result.errors) > failures:
            for d in (self.dir, os.path.dirname(self.lb.log.name)):
                for name in sorted(os.listdir(d)):
                    if name.endswith(".log"):
                        with open(os.path.join(d, name), errors="replace") as f:
                            print("\n--- %s (last lines)\n%s" % (name, "".join(f.readlines()[-12:])))
        return out

    def test_1_starts_spread_over_all_nodes(self):
        # A client that keeps cookies, as a browser would: starts still spread.
        cookie = None
        for _ in range(30):
            r = call(self.lb.url, "POST", "/scxml/session/start", {"src": "counter.scxml"}, cookie=cookie)
            self.assertEqual((r.status, r.hops), (200, []), r.body)
            sid = r.json()["sessionid"]
            node = int(sid[:4], 32)
            self.assertEqual(r.cookie, "%s.node%d" % (sid, node))
            cookie = r.cookie
            self.sessions[sid] = (node, r.cookie, [])
        per_node = {n: sum(1 for v in self.sessions.values() if v[0] == n) for n in (1, 2, 3)}
        print("\n  %s: 30 starts -> per node %s" % (self.kind, per_node))
        self.assertTrue(all(5 <= c <= 15 for c in per_node.values()), per_node)

    def test_2_calls_reach_their_owner_and_no_backup_gets_any(self):
        before = {k: (counter(u, "redirects_total"), counter(u, "events_total")) for k, u in self.inst.items()}
        statuses = {}
        for i in range(5):
            for sid, (node, cookie, acked) in self.sessions.items():
                r = call(self.lb.url, "POST", "/scxml/session/%s/event/n" % sid, {"n": i}, cookie=cookie)
                statuses[r.status] = statuses.get(r.status, 0) + 1
                self.assertEqual(r.hops, [], "a call for a session with its cookie was redirected")
                if r.status == 200:
                    acked.append(i)
        self.assertEqual(statuses, {200: 5 * len(self.sessions)})  # no 5xx at steady state
        for k, u in self.inst.items():
            redirects, events = counter(u, "redirects_total"), counter(u, "events_total")
            self.assertEqual(redirects, before[k][0], "%s answered redirects" % (k,))
            if k[1] == "primary":  # each owner took exactly its sessions' events
                mine = 5 * sum(1 for v in self.sessions.values() if v[0] == k[0])
                self.assertEqual(events - before[k][1], mine, k)
        for sid, (node, cookie, acked) in self.sessions.items():
            r = call(self.lb.url, "POST", "/scxml/session/%s/request/report" % sid, {}, cookie=cookie)
            self.assertEqual((r.status, r.hops, r.json()["params"]["seen"]), (200, [], acked))

    def test_3_a_call_to_the_wrong_node_is_redirected_and_followed(self):
        sid = next(s for s, v in self.sessions.items() if v[0] == 1)
        other = next(v[1] for v in self.sessions.values() if v[0] == 2)
        owner = self.inst[(1, "primary")]
        path = "/scxml/session/%s/event/n" % sid
        # Straight to another node: one 307 to the owner, followed with the same body.
        r = call(self.inst[(2, "primary")], "POST", path, {"n": 100})
        self.assertEqual((r.status, r.hops), (200, [owner + path]))
        self.sessions[sid][2].append(100)
        # Through the balancer with another session's cookie (node 2's): HAProxy routes on the id
        # in the path and goes straight to the owner; Apache follows the cookie to node 2, whose
        # 307 the client follows. Either way the call lands once, at the owner.
        r = call(self.lb.url, "POST", path, {"n": 101}, cookie=other)
        self.assertEqual(r.status, 200)
        if self.kind == "haproxy":
            self.assertEqual(r.hops, [])
        else:
            self.assertEqual((r.hops, r.cookie), ([owner + path], sid + ".node1"))  # the 307 set the cookie
        self.sessions[sid][2].append(101)
        r = call(self.lb.url, "POST", "/scxml/session/%s/request/report" % sid, {}, cookie=self.sessions[sid][1])
        self.assertEqual(r.json()["params"]["seen"], self.sessions[sid][2])

    def test_4_primary_killed(self):
        """kill -9 of node 3's primary: its sessions answer through the balancer again within 5 s
        (its backup takes the lease and restores them from Redis; the balancer's check finds the
        promoted backup), and none is lost."""
        mine = {sid: v for sid, v in self.sessions.items() if v[0] == 3}
        with open(os.path.join(self.dir, "node3-a.pid")) as f:
            os.kill(int(f.read()), signal.SIGKILL)
        t0 = time.monotonic()
        sid, (_, cookie, acked) = next(iter(mine.items()))
        seen = {}

        def served():
            r = call(self.lb.url, "POST", "/scxml/session/%s/event/n" % sid, {"n": 200}, cookie=cookie)
            seen[r.status] = seen.get(r.status, 0) + 1
            return r.status == 200
        wait_for(served, "node 3's sessions to answer through " + self.kind, timeout=10)
        first = time.monotonic() - t0
        acked.append(200)

        # Until the balancer's next check has seen the promoted backup (and the other nodes'
        # checks too), a call may still fail: the client retries, as the contract asks.
        def report(s, c):
            r = call(self.lb.url, "POST", "/scxml/session/%s/request/report" % s, {}, cookie=c)
            return r if r.status == 200 else None
        for s, (node, c, a) in mine.items():
            r = wait_for(lambda: report(s, c), "a report from " + s, timeout=max(0.1, 5.0 - (time.monotonic() - t0)))
            self.assertEqual(r.json().get("params", {}).get("seen"), a, (s, node, r.body))
        every = time.monotonic() - t0
        print("\n  %s: kill -9 of a primary -> first success through the balancer after %.0f ms, every session of"
              " the node after %.0f ms (answers meanwhile: %s)" % (self.kind, first * 1000, every * 1000, seen))
        self.assertLess(every, 5.0)
        # Steady again once every check has seen the promoted backup: a pass over every session
        # of every node with no failure, each with all it acknowledged.
        def one_pass():
            replies = {s: call(self.lb.url, "POST", "/scxml/session/%s/request/report" % s, {}, cookie=c)
                       for s, (node, c, a) in self.sessions.items()}
            return replies if all(r.status == 200 for r in replies.values()) else None
        replies = wait_for(one_pass, "a pass with no failure through " + self.kind)
        for s, (node, c, a) in self.sessions.items():
            self.assertEqual(replies[s].json().get("params", {}).get("seen"), a, (s, node, replies[s].body))


class Haproxy(BalancerTest, unittest.TestCase):
    kind = "haproxy"


class Apache(BalancerTest, unittest.TestCase):
    kind = "apache"


if __name__ == "__main__":
    REPO, BUILD = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
