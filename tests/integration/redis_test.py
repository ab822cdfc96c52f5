#!/usr/bin/env python3
"""orsd on the Redis Cluster store (persistence/type = redis), against a real Redis Cluster of
3 masters with two replicas each, started by scripts/redis-cluster.sh.

Sessions survive kill -9 of orsd and come back on another machine's worth of state (a fresh data
directory: everything is in Redis); a Redis master killed under load is replaced by its replica
and nothing acknowledged is lost or done twice; with Redis gone, calls fail with 503 and say why.

Hermetic: ports picked free, temporary directories, no fixed sleeps, every process stopped.
Usage: redis_test.py REPO_DIR BUILD_DIR [unittest arguments]
"""
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
import unittest

from netns import Namespace
from testlib import COUNTER, wait_for

REPO = BUILD = None





class Orsd:
    def __init__(self, tmp, name, redis_nodes, *settings, role="primary", ns=None):
        docs = os.path.join(tmp, "docs")
        self.log = open(os.path.join(tmp, name + ".log"), "w")
        wrap = ns.command if ns else (lambda argv: argv)
        self.proc = subprocess.Popen(wrap(
            [os.path.join(BUILD, "orsd"), "--port", "0", "--address", "127.0.0.1",
             "--data-dir", os.path.join(tmp, name), "--set", "orchestration/document-roots=" + docs,
             "--set", "persistence/type=redis", "--set", "persistence/redis-nodes=" + redis_nodes]
            + [a for kv in settings for a in ("--set", kv)]),
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError("orsd did not start: " + line + open(self.log.name).read())
        self.port = ns.expose(int(m.group(1))) if ns else int(m.group(1))
        if role == "primary":
            wait_for(lambda: self.call("GET", "/heartbeat")[0] == 200, "orsd to restore and serve")

    def call(self, method, path, body=None, timeout=20):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, json.dumps(body) if body is not None else None,
                         {"Content-Type": "application/json"} if body is not None else {})
            r = conn.getresponse()
            return r.status, r.read().decode()
        except OSError:
            return None, ""
        finally:
            conn.close()

    def start(self):
        st, body = self.call("POST", "/scxml/session/start", {"src": "counter.scxml"})
        assert st == 200, (st, body)
        return json.loads(body)["sessionid"]

    def seen(self, sid):
        st, body = self.call("POST", "/scxml/session/%s/request/report" % sid, {})
        assert st == 200, (st, body)
        return json.loads(body)["params"]["seen"]

    def stop(self, kill=False):
        if self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        self.proc.stdout.close()
        self.log.close()


class Redis(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        os.makedirs(os.path.join(self.tmp.name, "docs"))
        with open(os.path.join(self.tmp.name, "docs", "counter.scxml"), "w") as f:
            f.write(COUNTER)
        self.rdir = os.path.join(self.tmp.name, "redis")
        # Two replicas a master: after a failover the new master still has one to confirm writes
        # (persistence/redis-replicas = 1, the default).
        out = subprocess.run([os.path.join(REPO, "scripts", "redis-cluster.sh"), "start", self.rdir, "3", "2"],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError("redis-cluster.sh failed: " + out.stdout + out.stderr)
        self.nodes = out.stdout.strip().split(" = ")[1]
        self.orsds = []

    def tearDown(self):
        for o in self.orsds:
            o.stop(kill=True)
        subprocess.run([os.path.join(REPO, "scripts", "redis-cluster.sh"), "stop", self.rdir], check=True)
        self.tmp.cleanup()

    def orsd(self, name, *settings, role="primary", ns=None):
        o = Orsd(self.tmp.name, name, self.nodes, *settings, role=role, ns=ns)
        self.orsds.append(o)
        return o

    def master_of_node_keys(self):
        """The port of the Redis master that holds ORS node 1's keys (slot of the tag n1)."""
        port = self.nodes.split(",")[0].split(":")[1]
        slot = int(subprocess.run(["redis-cli", "-p", port, "cluster", "keyslot", "{n1}"],
                                  capture_output=True, text=True).stdout)
        for line in subprocess.run(["redis-cli", "-p", port, "cluster", "nodes"], capture_output=True,
                                   text=True).stdout.splitlines():
            f = line.split()
            if "master" not in f[2] or "fail" in f[2]:
                continue
            for rng in f[8:]:
                lo, _, hi = rng.partition("-")
                if lo.isdigit() and int(lo) <= slot <= int(hi or lo):
                    return f[1].split("@")[0].split(":")[1]
        raise AssertionError("no master for slot %d" % slot)

    def test_sessions_survive_orsd_and_a_redis_master(self):
        # The lease outlives a Redis master's failover (~2 s here), so the primary keeps its role.
        a = self.orsd("a", "persistence/lease-ms=5000")
        sids = [a.start() for _ in range(5)]
        for i, sid in enumerate(sids):
            self.assertEqual(a.call("POST", "/scxml/session/%s/event/n" % sid, {"n": i})[0], 200)
        a.stop(kill=True)
        b = self.orsd("b", "persistence/lease-ms=5000")  # another data directory: all comes from Redis
        for i, sid in enumerate(sids):
            self.assertEqual(b.seen(sid), [i])

        # Under load, kill -9 the master that holds the node's keys: its replica takes over and
        # every acknowledged event is there exactly once.
        acked = {sid: [] for sid in sids}
        stop = threading.Event()

        def load():
            n = 1000
            while not stop.is_set():
                sid = sids[n % len(sids)]
                st, _ = b.call("POST", "/scxml/session/%s/event/n" % sid, {"n": n})
                if st == 200:
                    acked[sid].append(n)
                n += 1

        t = threading.Thread(target=load)
        t.start()
        try:
            wait_for(lambda: sum(map(len, acked.values())) > 50, "some load")
            victim = self.master_of_node_keys()
            with open(os.path.join(self.rdir, victim + ".pid")) as f:
                os.kill(int(f.read()), signal.SIGKILL)
            before = sum(map(len, acked.values()))
            wait_for(lambda: sum(map(len, acked.values())) > before + 50, "events acknowledged after the failover")
        finally:
            stop.set()
            t.join()
        lost = dup = 0
        for i, sid in enumerate(sids):
            seen = b.seen(sid)
            self.assertEqual(seen[0], i)
            lost += sum(1 for n in acked[sid] if n not in seen)
            dup += len(seen) - len(set(seen))
        print("\n  redis master killed under load: %d events acknowledged; lost %d, twice %d"
              % (sum(map(len, acked.values())), lost, dup))
        self.assertEqual((lost, dup), (0, 0))
        b.stop()
        c = self.orsd("c", "persistence/lease-ms=5000")
        self.assertEqual(c.seen(sids[0])[:1], [0])

    def test_lease_decides_the_primary_across_hosts(self):
        """Two instances of node 1 with separate data directories (as on two hosts): the lease in
        Redis makes one the primary; kill -9 -> the other serves within 2 s; a primary paused past
        its lease (SIGSTOP) is fenced: on SIGCONT it stops at once and wrote nothing meanwhile."""
        a = self.orsd("a")
        b = self.orsd("b", role="backup")
        self.assertEqual(b.call("GET", "/heartbeat")[0], 503)
        sid = a.start()
        self.assertEqual(a.call("POST", "/scxml/session/%s/event/n" % sid, {"n": 1})[0], 200)
        wait_for(lambda: b.call("GET", "/scxml/session/%s/query" % sid)[0] == 307, "the backup to redirect")
        a.stop(kill=True)
        t0 = time.monotonic()
        wait_for(lambda: b.call("GET", "/heartbeat")[0] == 200, "the backup to take over", timeout=5)
        took = time.monotonic() - t0
        print("\n  lease failover: kill -9 -> backup /heartbeat 200 in %.0f ms" % (took * 1000))
        self.assertLess(took, 2.5)
        self.assertEqual(b.seen(sid), [1])
        c = self.orsd("c", role="backup")
        b.proc.send_signal(signal.SIGSTOP)
        try:
            wait_for(lambda: c.call("GET", "/heartbeat")[0] == 200, "c to take over from the paused b", timeout=5)
            self.assertEqual(c.call("POST", "/scxml/session/%s/event/n" % sid, {"n": 2})[0], 200)
        finally:
            b.proc.send_signal(signal.SIGCONT)
        self.assertEqual(b.proc.wait(timeout=10), 3)  # it found its lease gone and stopped
        self.assertEqual(c.seen(sid), [1, 2])

    def test_primary_killed_under_load_loses_nothing(self):
        """Numbered events to 4 sessions while the primary of the node is killed with kill -9
        twice (each time the other instance takes the lease, the killed one comes back as the
        backup): every acknowledged event processed exactly once."""
        pair = [self.orsd("a"), None]
        sids = [pair[0].start() for _ in range(4)]
        pair[1] = self.orsd("b", role="backup")
        acked = {sid: [] for sid in sids}
        unacked = {sid: [] for sid in sids}
        stop = threading.Event()

        def serving():
            for o in pair:
                if o.proc.poll() is None and o.call("GET", "/heartbeat", timeout=2)[0] == 200:
                    return o
            return None

        def load():
            n = 0
            while not stop.is_set():
                o = serving()
                if o is None:
                    time.sleep(0.01)
                    continue
                sid = sids[n % len(sids)]
                st, _ = o.call("POST", "/scxml/session/%s/event/n" % sid, {"n": n}, timeout=5)
                (acked if st == 200 else unacked)[sid].append(n)
                n += 1

        t = threading.Thread(target=load)
        t.start()
        names = iter(["c", "d"])
        try:
            for _ in range(2):
                before = sum(map(len, acked.values()))
                wait_for(lambda: sum(map(len, acked.values())) > before + 30, "load on the primary")
                victim = serving()
                victim.stop(kill=True)
                survivor = pair[1] if victim is pair[0] else pair[0]
                wait_for(lambda: survivor.call("GET", "/heartbeat")[0] == 200, "the other instance to take over")
                pair[pair.index(victim)] = self.orsd(next(names), role="backup")
            before = sum(map(len, acked.values()))
            wait_for(lambda: sum(map(len, acked.values())) > before + 30, "load after the last failover")
        finally:
            stop.set()
            t.join()
        o = serving()
        lost = dup = 0
        for sid in sids:
            seen = o.seen(sid)
            lost += sum(1 for n in acked[sid] if n not in seen)
            dup += len(seen) - len(set(seen))
            self.assertTrue(set(seen) <= set(acked[sid]) | set(unacked[sid]))
        print("\n  primary kill -9 x2 under load (Redis lease): %d acknowledged, %d not; lost %d, twice %d"
              % (sum(map(len, acked.values())), sum(map(len, unacked.values())), lost, dup))
        self.assertEqual((lost, dup), (0, 0))

    @unittest.skipUnless(Namespace.available(), "needs root to make a network namespace")
    def test_primary_partitioned_from_redis(self):
        """The primary in its own network namespace, cut off from every Redis server while the
        backup (on the host) still reaches them: the primary refuses calls instead of answering
        what it cannot make durable, the backup takes the lease and serves within 2 s of the
        lease running out, and when the network heals the old primary finds its lease gone and
        stops; nothing it did while cut off reached the store."""
        ns = Namespace()
        self.addCleanup(ns.close)
        for hp in self.nodes.split(","):
            ns.forward(int(hp.split(":")[1]))
        for port in sorted(os.listdir(self.rdir)):  # replicas too: they may become masters
            if port.isdigit() and "127.0.0.1:" + port not in self.nodes:
                ns.forward(int(port))
        a = self.orsd("a", ns=ns)
        b = self.orsd("b", role="backup")
        sids = [a.start() for _ in range(3)]
        for i, sid in enumerate(sids):
            self.assertEqual(a.call("POST", "/scxml/session/%s/event/n" % sid, {"n": i})[0], 200)
        ns.partition()
        t0 = time.monotonic()
        answer = {}

        def cut_off_call():
            answer["st"] = a.call("POST", "/scxml/session/%s/event/n" % sids[0], {"n": 100}, timeout=30)[0]
            answer["ms"] = (time.monotonic() - t0) * 1000
        t = threading.Thread(target=cut_off_call)
        t.start()
        wait_for(lambda: b.call("GET", "/heartbeat")[0] == 200, "the backup to take the lease", timeout=10)
        took = time.monotonic() - t0
        t.join()
        print("\n  primary cut off from Redis: backup serving %.0f ms after the cut; the cut-off primary"
              " answered %s after %.0f ms" % (took * 1000, answer["st"], answer["ms"]))
        self.assertNotEqual(answer["st"], 200, "a primary cut off from its store acknowledged an event")
        self.assertLess(took, 1.5 + 2.0)  # the lease, then the takeover
        # Its lease ran out by its own clock: it no longer says it is a primary (a balancer's
        # health check takes it out) and refuses every call at once.
        t1 = time.monotonic()
        self.assertEqual(a.call("GET", "/heartbeat", timeout=5)[0], 503)
        self.assertEqual(a.call("GET", "/scxml/session/%s/query" % sids[2], timeout=5)[0], 503)
        self.assertLess(time.monotonic() - t1, 2.0)
        for i, sid in enumerate(sids):
            self.assertEqual(b.seen(sid), [i])
        self.assertEqual(b.call("POST", "/scxml/session/%s/event/n" % sids[1], {"n": 101})[0], 200)
        ns.heal()
        self.assertEqual(a.proc.wait(timeout=15), 3)  # it found its lease gone and stopped
        self.assertEqual(b.seen(sids[0]), [0])
        self.assertEqual(b.seen(sids[1]), [1, 101])
        c = self.orsd("c", role="backup")  # a fresh instance reads the same from Redis
        b.stop(kill=True)
        wait_for(lambda: c.call("GET", "/heartbeat")[0] == 200, "c to take over", timeout=10)
        self.assertEqual([c.seen(sid) for sid in sids], [[0], [1, 101], [2]])

    def test_without_redis_calls_fail_with_503_then_resume(self):
        a = self.orsd("a")
        sid = a.start()
        subprocess.run([os.path.join(REPO, "scripts", "redis-cluster.sh"), "stop", self.rdir], check=True)
        st, body = a.call("POST", "/scxml/session/%s/event/n" % sid, {"n": 1})
        self.assertEqual(st, 503, body)
        self.assertIn("Redis", json.loads(body)["error"])
        # Redis back (its data from the AOF): orsd takes its role back (nobody else took the node)
        # and serves again; what it acknowledged is there.
        subprocess.run([os.path.join(REPO, "scripts", "redis-cluster.sh"), "restart", self.rdir], check=True)
        wait_for(lambda: a.call("POST", "/scxml/session/%s/event/n" % sid, {"n": 2})[0] == 200, "service again")
        self.assertEqual(a.seen(sid)[-1], 2)
        self.assertEqual(a.proc.poll(), None)


if __name__ == "__main__":
    REPO, BUILD = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
