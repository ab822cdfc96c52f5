#!/usr/bin/env python3
"""callsim: a telephony server for trying and testing the cluster's call routing.

It offers calls at a given rate to a routing-point DN, as a switch would: each call's events go
to the cluster's call feed (POST /ors/calls/events, to any of the given servers, following 307s);
it reads the routing actions strategies send back (GET /ors/calls/replies) and answers each as the
switch would: `route` (and the vendor's `interaction.redirect`) -> `route.done` (with the
action's requestid) and `call.established` at the target, then `call.released` after the hold
time; `end` -> `end.done` and `call.released`; the vendor's queue and dialog actions as a router
and a media server would (`queue.submit.done` with the first target, `dialog.playandcollect.done`
with digits, `interaction.udata.changed` for setudata/deleteudata, ...); any other action ->
`error.<action>`. It reports how many calls were routed exactly once, lost (no
routing action within --timeout) or routed twice (by two sessions), the calls each node routed,
and the routing latency (route request posted -> routing action read) percentiles.

Protocol (docs/interactions.md): a call event is {"call", "event", "dn", "data"}; the first one at a
routing point starts the strategy; events are call.ringing, call.routerequest, route.done,
call.established, call.released.

Usage: callsim.py --servers URL[,URL...] --calls N [--rate CALLS_PER_S] [--dn DN] [--hold-ms MS]
                  [--timeout S] [--prefix P] [--json]
Exit status 0 when every call was routed exactly once, 1 otherwise.
"""
import argparse
import http.client
import json
import queue
import re
import sys
import threading
import time
import urllib.parse


def first_target(params):
    """The first target of a queue:submit's <queue:targets>, as name@stat.type: a <queue:target>
    by name (or skill expression), or the first of a <queue:targetid>'s list."""
    kinds = {"agent": "A", "place": "AP", "agentgroup": "GA", "placegroup": "GP", "queue": "Q", "dn": "DN",
             "routepoint": "RP", "skill": "GA"}
    for targets in params.get("children", []):
        for t in targets.get("children", []):
            attrs = t.get("attrs", {})
            if t.get("element") == "targetid" and str(attrs.get("expr", "")).strip():
                # {threshold}[weight]name@server.type, ...
                first = str(attrs["expr"]).split(",")[0].strip()
                return first[first.rfind("}") + 1:][first[first.rfind("}") + 1:].find("]") + 1:]
            name = str(attrs.get("name", "")).strip("'\"")
            if not name and attrs.get("skillexpr"):
                name = "?:" + str(attrs["skillexpr"])
            if name:
                kind = kinds.get(attrs.get("type") or targets.get("attrs", {}).get("type", ""),
                                 "GA" if attrs.get("skillexpr") else "A")
                return "%s@%s.%s" % (name, attrs.get("statserver") or targets.get("attrs", {}).get("statserver") or "stat", kind)
    return "agent@stat.A"


# The vendor's module actions other than routing, answered as a router and a media server would
# (docs/dialect.md): <module>.<name>.done with what the strategy reads from it.
MODULE_ANSWERS = {
    "queue.submit": lambda p: {"targetselected": first_target(p), "vqselected": str(p.get("queue", "none")),
                               "resource": {"type": "A", "agent": first_target(p).split("@")[0]}},
    "queue.cancel": lambda p: {},
    "queue.query": lambda p: {"priority": p.get("priority", 0), "positioninqueue": 1, "invqwaittime": 0},
    "interaction.attach": lambda p: {},
    "interaction.detach": lambda p: {},
    "interaction.accept": lambda p: {},
    "dialog.start": lambda p: {},
    "dialog.play": lambda p: {},
    "dialog.playandcollect": lambda p: {"digits": "1"},
    "dialog.playsound": lambda p: {},       # ringback, music, silence for its duration
    "dialog.runtreatments": lambda p: {},   # a sequence of treatments
    "dialog.stop": lambda p: {},
}


class Cluster:
    """HTTP to whichever server answers: 307s followed with method and body, a failing server
    skipped for the next one."""

    def __init__(self, servers):
        self.servers = servers
        self.next = 0
        self.lock = threading.Lock()
        self.local = threading.local()

    def _conn(self, host, port):
        conns = self.local.__dict__.setdefault("conns", {})
        c = conns.get((host, port))
        if c is None:
            c = conns[(host, port)] = http.client.HTTPConnection(host, port, timeout=30)
        return c

    def _drop(self, host, port):
        c = self.local.__dict__.get("conns", {}).pop((host, port), None)
        if c:
            c.close()

    def call(self, method, path, body=None, attempts=50):
        for attempt in range(attempts):
            with self.lock:
                base = self.servers[self.next % len(self.servers)]
            url = base + path
            for _ in range(5):
                u = urllib.parse.urlsplit(url)
                try:
                    c = self._conn(u.hostname, u.port)
                    c.request(method, u.path + ("?" + u.query if u.query else ""),
                              json.dumps(body) if body is not None else None,
                              {"Content-Type": "application/json"} if body is not None else {})
                    r = c.getresponse()
                    data = r.read()
                except (OSError, http.client.HTTPException):
                    self._drop(u.hostname, u.port)
                    break
                if r.status in (307, 308):
                    url = r.getheader("Location")
                    continue
                if r.status == 200:
                    return json.loads(data)
                break
            with self.lock:  # that one failed: the next server, after a pause on a full round
                self.next += 1
            if (attempt + 1) % len(self.servers) == 0:
                time.sleep(0.05)
        raise RuntimeError("no server took %s %s" % (method, path))


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100.0 * len(values)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--servers", required=True, help="comma-separated base URLs (nodes or a balancer)")
    ap.add_argument("--calls", type=int, default=100)
    ap.add_argument("--rate", type=float, default=100.0, help="calls offered per second")
    ap.add_argument("--dn", default="7001", help="the routing point's DN")
    ap.add_argument("--hold-ms", type=int, default=200, help="talk time before call.released")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds a call may wait for its route")
    ap.add_argument("--prefix", default="C%d-" % (int(time.time() * 1000) % 100000000), help="call id prefix")
    ap.add_argument("--json", action="store_true", help="the report as JSON")
    args = ap.parse_args()
    cluster = Cluster(args.servers.split(","))

    lock = threading.Lock()
    offered = {}      # call -> time its route request was posted
    routed = {}       # call -> [(node, session, latency)]
    released = set()
    attached = {}  # call -> its attached data, as strategies set it
    outgoing = queue.Queue()  # (due time, event)
    stop = threading.Event()

    def poster():
        """Posts what is due, in batches (one request carries up to 200 events)."""
        pending = []
        while not stop.is_set() or not outgoing.empty() or pending:
            try:
                while True:
                    pending.append(outgoing.get(timeout=0.005 if not pending else 0))
            except queue.Empty:
                pass
            now = time.monotonic()
            due = [e for t, e in pending if t <= now]
            pending = [(t, e) for t, e in pending if t > now]
            for i in range(0, len(due), 200):
                batch = due[i:i + 200]
                sent = time.monotonic()
                with lock:
                    for e in batch:
                        if e["event"] == "call.routerequest":
                            offered[e["call"]] = sent
                cluster.call("POST", "/ors/calls/events", {"events": batch})
            if not due and pending:
                time.sleep(0.002)

    def reader():
        """Reads routing actions and answers them as the switch would."""
        after = start_after
        while not stop.is_set():
            r = cluster.call("GET", "/ors/calls/replies?after=%s&limit=500&wait=500" % after)
            after = r["last"]
            now = time.monotonic()
            for a in r["replies"]:
                call = a.get("call", "")
                if not call.startswith(args.prefix):
                    continue  # another run's
                action, rid = a.get("action"), a.get("requestid", "")
                params = a.get("params", {})
                if action in ("route", "interaction.redirect"):
                    with lock:
                        seen = routed.setdefault(call, [])
                        first = not any(s == a.get("session") for _, s, _ in seen)
                        if first:
                            seen.append((a.get("node"), a.get("session"), now - offered.get(call, now)))
                    if not first:
                        continue  # the same session's action again (re-sent after a failover)
                    target = str(params.get("target", params.get("to", "agent")))
                    t = time.monotonic()
                    outgoing.put((t, {"call": call, "event": action + ".done", "requestid": rid,
                                      "interactionid": call}))
                    outgoing.put((t, {"call": call, "event": "call.established", "dn": target}))
                    outgoing.put((t + args.hold_ms / 1000.0, {"call": call, "event": "call.released", "dn": target}))
                elif action == "end":
                    outgoing.put((time.monotonic(), {"call": call, "event": "end.done", "requestid": rid}))
                    outgoing.put((time.monotonic(), {"call": call, "event": "call.released", "dn": args.dn}))
                elif action == "interaction.terminate":
                    outgoing.put((time.monotonic(), {"call": call, "event": "interaction.terminate.done",
                                                     "requestid": rid, "interactionid": call}))
                    outgoing.put((time.monotonic(), {"call": call, "event": "call.released", "dn": args.dn}))
                elif action in ("interaction.setudata", "interaction.deleteudata"):
                    with lock:
                        udata = attached.setdefault(call, {})
                        if action == "interaction.setudata":
                            udata.update(params.get("udata") or {})
                        else:
                            for k in params.get("keys") or []:
                                udata.pop(k, None)
                        changed = dict(udata)
                    outgoing.put((time.monotonic(), {"call": call, "event": "interaction.udata.changed",
                                                     "requestid": rid, "interactionid": call, "udata": changed}))
                elif action in MODULE_ANSWERS:
                    # A cancel or query is answered with the id of the submit it names.
                    answer = {"call": call, "event": action + ".done", "requestid": params.get("requestid") or rid,
                              "interactionid": call}
                    answer.update(MODULE_ANSWERS[action](params))
                    outgoing.put((time.monotonic(), answer))
                else:
                    outgoing.put((time.monotonic(), {"call": call, "event": "error." + str(action), "requestid": rid,
                                                     "error": "unknown", "description": "callsim does not know this action"}))

    # Replies from before this run are not ours: start after the newest.
    start_after = cluster.call("GET", "/ors/calls/replies?after=now")["last"]
    threads = [threading.Thread(target=poster, daemon=True), threading.Thread(target=reader, daemon=True)]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    for i in range(args.calls):
        due = t0 + i / args.rate
        call = "%s%d" % (args.prefix, i)
        outgoing.put((due, {"call": call, "event": "call.ringing", "dn": args.dn,
                            "data": {"ani": "555%04d" % (i % 10000), "dnis": args.dn}}))
        outgoing.put((due, {"call": call, "event": "call.routerequest", "dn": args.dn}))
        if i % 100 == 0:
            time.sleep(max(0.0, due - time.monotonic()))
    offered_at = time.monotonic()
    deadline = t0 + args.calls / args.rate + args.timeout
    while time.monotonic() < deadline:
        with lock:
            if len(routed) >= args.calls:
                break
        time.sleep(0.05)
    took = time.monotonic() - t0
    # The last calls' released events go out before the report.
    time.sleep(args.hold_ms / 1000.0 + 0.1)
    stop.set()
    for t in threads:
        t.join(timeout=120)  # the poster sends every event still due (the calls' releases) first
    with lock:
        calls = ["%s%d" % (args.prefix, i) for i in range(args.calls)]
        once = sum(1 for c in calls if len(routed.get(c, [])) == 1)
        lost = sum(1 for c in calls if not routed.get(c))
        twice = sum(1 for c in calls if len(routed.get(c, [])) > 1)
        per_node = {}
        for c in calls:
            for node, _, _ in routed.get(c, [])[:1]:
                per_node[str(node)] = per_node.get(str(node), 0) + 1
        lat = [l * 1000 for c in calls for _, _, l in routed.get(c, [])[:1]]
    report = {"offered": args.calls, "routed_once": once, "lost": lost, "routed_twice": twice,
              "per_node": per_node, "seconds": round(took, 2), "calls_per_s": round(args.calls / took, 1),
              "latency_ms": {"p50": percentile(lat, 50), "p99": percentile(lat, 99), "max": max(lat) if lat else None}}
    if args.json:
        print(json.dumps(report))
    else:
        print("offered %d calls in %.1f s (%.0f/s): routed once %d, lost %d, twice %d" %
              (args.calls, took, args.calls / took, once, lost, twice))
        print("per node: %s" % ", ".join("node %s %d (%.1f%%)" % (n, c, 100.0 * c / args.calls)
                                          for n, c in sorted(per_node.items())))
        if lat:
            print("routing latency: p50 %.1f ms, p99 %.1f ms, max %.1f ms" %
                  (report["latency_ms"]["p50"], report["latency_ms"]["p99"], report["latency_ms"]["max"]))
    return 0 if once == args.calls else 1


if __name__ == "__main__":
    sys.exit(main())
