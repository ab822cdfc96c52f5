#!/usr/bin/env python3
"""orsd over real HTTP: every call of the ORS interface, the cookie, and each bad input.

Hermetic: each server listens on 127.0.0.1 on a port the OS picks, reads documents from a
temporary folder, and is stopped (SIGTERM) by the test that started it. No fixed sleeps: every
wait polls for its condition with a deadline.
Usage: orsd_test.py PATH-TO-ORSD [PATH-TO-ORSCTL] [unittest arguments]
"""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

ORSD = None
ORSCTL = None

ROUTING = """<scxml xmlns="http://www.w3.org/2005/07/scxml" xmlns:ws="www.genesyslab.com/modules/ws"
    version="1.0" datamodel="ecmascript" name="routing" initial="waiting">
  <datamodel><data id="vip" expr="false"/><data id="agent" expr="null"/></datamodel>
  <state id="waiting">
    <transition event="call" cond="_event.data.vip == 'yes'" target="vipq"/>
    <transition event="call" target="queue"/>
    <transition event="ask">
      <ws:response requestid="_event.sendid" resultcode="'OK'">
        <param name="echo" expr="_event.data.param.q"/>
        <param name="vip" expr="vip"/>
      </ws:response>
    </transition>
    <transition event="spin"><script>while (true) {}</script></transition>
    <transition event="error.execution" target="recovered"/>
  </state>
  <state id="vipq"/>
  <state id="queue"/>
  <state id="recovered"/>
</scxml>"""

PARENT = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript" initial="s">
  <state id="s">
    <invoke type="scxml" src="child.scxml" id="kid"/>
    <transition event="hello" target="greeted"/>
  </state>
  <state id="greeted"><transition event="done.invoke.kid" target="childDone"/></state>
  <state id="childDone"/>
</scxml>"""

CHILD = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript" initial="c">
  <state id="c">
    <onentry><send target="#_parent" event="hello"/></onentry>
    <transition event="bye" target="end"/>
  </state>
  <final id="end"/>
</scxml>"""

SENDER = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript" initial="s">
  <datamodel><data id="target" expr="''"/><data id="x" expr="1"/></datamodel>
  <state id="s">
    <onentry>
      <send event="ping" targetexpr="target" namelist="x" type="http://www.w3.org/TR/scxml/#BasicHTTPEventProcessor"/>
    </onentry>
    <transition event="error.communication" target="unreachable"/>
    <transition event="pong" target="answered"/>
  </state>
  <state id="unreachable"/>
  <state id="answered"/>
</scxml>"""

RELAY = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript" initial="idle">
  <datamodel><data id="peer" expr="''"/></datamodel>
  <state id="idle">
    <transition event="poke"><send eventexpr="'poked'" targetexpr="'#_scxml_' + peer"/></transition>
    <transition event="poked" target="got"/>
  </state>
  <state id="got"/>
</scxml>"""

ESCAPE = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript" initial="s">
  <state id="s">
    <invoke type="scxml" src="/etc/hostname"/>
    <transition event="error.execution" target="refused"/>
  </state>
  <state id="refused"/>
</scxml>"""

CALL = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript" initial="routing">
  <datamodel><data id="call"/></datamodel>
  <state id="routing">
    <transition event="call.routerequest">
      <send type="call" event="route"><param name="target" expr="'agent-' + call.data.ani"/></send>
    </transition>
    <transition event="route.done" target="routed"/>
  </state>
  <state id="routed"/>
</scxml>"""

# Written the way the vendor's strategies are: started by interaction.added, reading the call from
# _genesys.ixn.interactions.
VENDOR_CALL = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" profile="ecmascript" initial="start">
  <datamodel><data id="ixn" expr="''"/><data id="App" expr="({})"/></datamodel>
  <state id="start">
    <transition event="interaction.added" target="waiting"><assign location="ixn" expr="_event.data.interactionid"/></transition>
  </state>
  <state id="waiting">
    <transition event="interaction.onrouterequest" cond="_event.data.interactionid === ixn" target="onroute"/>
    <transition event="call.routerequest">
      <send type="call" event="route">
        <param name="target" expr="'agent-' + _genesys.ixn.interactions[ixn].voice.ani + '-' +
            _genesys.ixn.interactions[ixn].udata.lang + '-' + _genesys.ixn.interactions[ixn].parties[0].device"/>
        <param name="priority" expr="_genesys.session.getListItemValue('OPM', 'VIP', 'priority')"/>
        <param name="absent" expr="_genesys.session.getListItemValue('OPM', 'VIP', 'nothing')"/>
        <param name="item" expr="_genesys.session.getListItemValue('OPM', 'VIP')"/>
        <param name="tenant" expr="_genesys.session.tenant + '/' + _genesys.session.server.name"/>
        <param name="url" expr="_genesys.session.server.url"/>
        <param name="connid" expr="_genesys.ixn.interactions[ixn].voice.connid"/>
        <param name="options" expr="[_genesys.session.getConfigOption(ixn, 'routing/priority'),
            _genesys.session.getConfigOption(ixn, 'routing/priority', _genesys.session.lookupseq.StartFromCDN),
            _genesys.session.getConfigOption(_genesys.ixn.firstixnid, 'priority', _genesys.session.lookupseq.StartFromTenant),
            _genesys.session.getConfigOption(ixn, 'routing/nothing')].join()"/>
      </send>
    </transition>
    <!-- The queue and interaction modules: ask for a target, then send the call there. -->
    <transition event="call.queue" target="queued">
      <queue:submit xmlns:queue="http://www.genesyslab.com/modules/queue" requestid="App.submit"
          interactionid="ixn" queue="'VQ_sales'" priority="5" timeout="30">
        <queue:targets type="agentgroup"><queue:target name="'Sales'" type="agentgroup" weight="20 + 20"/></queue:targets>
      </queue:submit>
    </transition>
  </state>
  <state id="queued">
    <!-- Once acknowledged, asks where the request stands (query names the submit it is about). -->
    <transition event="queue.submit.requestid">
      <assign location="App.acked" expr="_event.data.requestid"/>
      <queue:query xmlns:queue="www.genesyslab.com/modules/queue" requestid="App.acked"/>
    </transition>
    <transition event="queue.query.done" cond="_event.data.requestid === App.submit">
      <assign location="App.position" expr="_event.data.positioninqueue"/>
    </transition>
    <transition event="queue.submit.done" target="redirecting"
        cond="_event.data.requestid === App.submit &amp;&amp; App.acked === App.submit &amp;&amp; App.position === 3">
      <ixn:redirect xmlns:ixn="www.genesyslab.com/modules/interaction" requestid="App.redirect"
          interactionid="ixn" from="_genesys.ixn.interactions[ixn].parties[0].device" to="_event.data.targetselected"
          type="_genesys.queue.rType.RouteTypeDefault"/>
    </transition>
  </state>
  <state id="redirecting">
    <transition event="interaction.redirect.done" cond="_event.data.requestid === App.redirect" target="redirected"/>
  </state>
  <state id="redirected">
    <transition event="interaction.partystatechanged" cond="_event.data.focusdeviceid === 'agent7'" target="answered"/>
  </state>
  <state id="answered">
    <transition event="interaction.deleted" cond="_event.data.interactionid === ixn" target="gone"/>
  </state>
  <state id="gone"/>
  <state id="onroute"/>
</scxml>"""

# A whole vendor-style flow for the call simulator: queue for a target, collect a digit, send
# the call to the target, end with the call.
VENDOR_FLOW = """<scxml xmlns="http://www.w3.org/2005/07/scxml" xmlns:queue="www.genesyslab.com/modules/queue"
    xmlns:ixn="http://www.genesyslab.com/modules/interaction" xmlns:dialog="www.genesyslab.com/modules/dialog"
    version="1.0" profile="ecmascript" initial="start">
  <datamodel><data id="ixn" expr="''"/><data id="App" expr="({})"/></datamodel>
  <state id="start">
    <transition event="interaction.added" target="waiting"><assign location="ixn" expr="_event.data.interactionid"/></transition>
  </state>
  <state id="waiting">
    <transition event="call.routerequest" target="collecting">
      <dialog:playandcollect requestid="App.collect" interactionid="ixn" language="'English (US)'">
        <dialog:prompts type="ann"><dialog:prompt text="'Press 1 for sales'"/></dialog:prompts>
        <dialog:input max_digits="1"/>
      </dialog:playandcollect>
    </transition>
  </state>
  <state id="collecting">
    <transition event="dialog.playandcollect.done" cond="_event.data.digits === '1'" target="queued">
      <queue:submit requestid="App.submit" interactionid="ixn" queue="'VQ_sales'">
        <queue:targets type="agentgroup"><queue:target name="'Sales'" statserver="'Stat_1'"/></queue:targets>
      </queue:submit>
    </transition>
  </state>
  <state id="queued">
    <transition event="queue.submit.done" target="redirecting">
      <ixn:redirect requestid="App.redirect" interactionid="ixn" to="_event.data.targetselected"/>
    </transition>
  </state>
  <state id="redirecting">
    <transition event="interaction.redirect.done" target="attaching">
      <script>_genesys.ixn.setuData({routed: 'yes', agent: _event.data.interactionid ? 'x' : ''}, ixn)</script>
    </transition>
  </state>
  <state id="attaching">
    <transition event="interaction.udata.changed" cond="_genesys.ixn.interactions[ixn].udata.routed === 'yes'" target="talking"/>
  </state>
  <state id="talking">
    <transition event="call.released" target="done"/>
  </state>
  <final id="done"/>
</scxml>"""

# A REST block as generated strategies write it (PEER: the web service's URL).
REST_BLOCK = """<scxml xmlns="http://www.w3.org/2005/07/scxml" xmlns:session="http://www.genesyslab.com/modules/session"
    version="1.0" profile="ecmascript" initial="fetching">
  <datamodel><data id="App_rest" expr="new Object()"/><data id="url" expr="'PEER'"/></datamodel>
  <state id="fetching">
    <onentry>
      <script>var customHeaders = new Object(); customHeaders["apiKey"] = 'k-1';</script>
      <session:fetch requestid="App_rest['requestid']" srcexpr="url" method="'get'"
          enctype="'application/x-www-form-urlencoded'" maxage="0" type="'application/json'" timeout="10"
          headers="customHeaders">
        <param name="number" expr="'555 0100'"/>
        <param name="ivr_menu" expr="''"/>
      </session:fetch>
    </onentry>
    <transition event="session.fetch.done" cond="_event.data.requestid == App_rest['requestid'] &amp;&amp;
        typeof _event.data.content === 'string' &amp;&amp; eval('(' + _event.data.content + ')').tier === 'gold'" target="gold"/>
    <transition event="*" target="failed"><log label="rest" expr="_event.toSource()"/></transition>
  </state>
  <state id="gold"/>
  <state id="failed"/>
</scxml>"""

# A wrapper shaped like a generated one, for serving over HTTP with its includes.
PROJECT_MAIN = """<scxml xmlns="http://www.w3.org/2005/07/scxml" xmlns:xi="http://www.w3.org/2001/XInclude"
    version="1.0" profile="ecmascript" initial="main">
  <script><xi:include href="include/lib.js" parse="text"/></script>
  <parallel id="main">
    <state id="ver" initial="pick">
      <state id="pick">
        <transition cond="version() === 'v1'" target="v1"/>
        <transition target="v2"/>
      </state>
      <state id="v1"/>
      <state id="v2"/>
    </state>
    <state id="wf" initial="wf._composer_entry">
      <xi:include href="flow.scxml" parse="xml" xpointer="_composer_entry" resolveid="wf"/>
    </state>
  </parallel>
</scxml>"""

PROJECT_FLOW = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0">
  <state id="_composer_entry"><transition event="$$_MY_PREFIX_$$.stop" target="_composer_entry"/></state>
</scxml>"""

BROKEN = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0">
  <state id="a">
    <transition target="nowhere"/>
  </state>
</scxml>"""


def free_port():
    """A loopback port nobody listens on (bound by the OS, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Orsd:
    """One orsd process on 127.0.0.1:<port the OS picked>, documents in a temporary folder."""

    def __init__(self, *settings):
        self.dir = tempfile.TemporaryDirectory()
        docs = self.docs = os.path.join(self.dir.name, "docs")
        os.makedirs(docs)
        data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")
        for name in ("starter.scxml", "started.scxml", "fetched.json"):
            with open(os.path.join(data, name)) as src, open(os.path.join(docs, name), "w") as dst:
                dst.write(src.read())
        for name, text in (("routing.scxml", ROUTING), ("parent.scxml", PARENT),
                           ("child.scxml", CHILD), ("broken.scxml", BROKEN),
                           ("sender.scxml", SENDER), ("escape.scxml", ESCAPE),
                           ("relay.scxml", RELAY), ("call.scxml", CALL), ("vendor-call.scxml", VENDOR_CALL),
                           ("vendor-flow.scxml", VENDOR_FLOW)):
            with open(os.path.join(docs, name), "w") as f:
                f.write(text)
        args = [ORSD, "--port", "0", "--address", "127.0.0.1",
                "--data-dir", os.path.join(self.dir.name, "data"),
                "--set", "orchestration/document-roots=" + docs]
        for s in settings:
            args += ["--set", s]
        self.log = os.path.join(self.dir.name, "stderr.log")
        self.err = open(self.log, "w")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.err, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError("orsd did not start: " + line + open(self.log).read())
        self.port = int(m.group(1))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        self.proc.stdout.close()
        self.err.close()
        self.dir.cleanup()
        return code

    def call(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            h = dict(headers or {})
            if isinstance(body, dict):
                body = json.dumps(body)
                h.setdefault("Content-Type", "application/json")
            elif isinstance(body, str):
                h.setdefault("Content-Type", "application/x-www-form-urlencoded")
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            data = r.read().decode()
            return r.status, dict(r.getheaders()), data
        finally:
            conn.close()

    def start(self, body="src=routing.scxml"):
        status, headers, data = self.call("POST", "/scxml/session/start", body)
        assert status == 200, (status, data)
        return json.loads(data)["sessionid"], headers

    def query(self, sid):
        status, _, data = self.call("GET", "/scxml/session/%s/query" % sid)
        return status, (json.loads(data) if data else None)

    def wait_for(self, predicate, what, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.01)
        raise AssertionError("timed out waiting for " + what)

    def raw(self, data, read=True):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(data)
            if not read:
                return b""
            out = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return out
                out += chunk


# An HTTP-served document that starts two others by a literal src, one of them with an include.
HTTP_PARENT = """<scxml xmlns="http://www.w3.org/2005/07/scxml" xmlns:session="http://www.genesyslab.com/modules/session"
    version="1.0" datamodel="ecmascript" initial="p">
  <datamodel><data id="got" expr="[]"/></datamodel>
  <state id="p">
    <onentry><session:start src="'kid.scxml'"/></onentry>
    <invoke src="child.scxml"/>
    <transition event="session.start.done"><script>got.push('kid')</script></transition>
    <transition event="done.invoke"><script>got.push('child:' + _event.data.v)</script></transition>
    <transition event="error.*" target="failed"><log label="failed" expr="JSON.stringify(_event)"/></transition>
    <transition cond="got.sort().join() === 'child:v2,kid'" target="both"/>
  </state>
  <state id="both"/>
  <state id="failed"/>
</scxml>"""
HTTP_CHILD = """<scxml xmlns="http://www.w3.org/2005/07/scxml" xmlns:xi="http://www.w3.org/2001/XInclude"
    version="1.0" datamodel="ecmascript" initial="f">
  <script><xi:include href="include/lib.js" parse="text"/></script>
  <final id="f"><donedata><param name="v" expr="version()"/></donedata></final>
</scxml>"""
HTTP_KID = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" initial="k"><final id="k"/></scxml>"""


class OrsdTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Orsd("orchestration/request-timeout=300", "orchestration/script-budget=200",
                     "http/max-body=4096", "http/max-header=2048", "routing-points/7001=call.scxml",
                     "routing-points/7002=vendor-call.scxml", "routing-points/7003=vendor-flow.scxml",
                     "list OPM/VIP/priority=5", "list OPM/VIP/skill=gold", "orchestration/tenant=Acme",
                     "annex strategy vendor-call.scxml/routing/priority=9", "annex dn 7002/routing/priority=7",
                     "annex tenant/routing/priority=1")

    @classmethod
    def tearDownClass(cls):
        code = cls.s.stop()
        assert code == 0, "orsd exited with %d after SIGTERM" % code

    def test_heartbeat_and_help(self):
        # HAProxy sends a bare HTTP/1.0 request without Host.
        reply = self.s.raw(b"GET /heartbeat HTTP/1.0\r\n\r\n")
        self.assertTrue(reply.startswith(b"HTTP/1.0 200"), reply)
        status, headers, data = self.s.call("GET", "/ors/help")
        self.assertEqual(status, 200)
        self.assertIn("/scxml/session/start", data)

    def test_call_events_start_the_strategy_and_its_actions_reach_the_replies(self):
        st, _, body = self.s.call("GET", "/ors/calls/replies?after=now")
        self.assertEqual(st, 200, body)
        after = json.loads(body)["last"]
        st, _, body = self.s.call("POST", "/ors/calls/events", json.dumps({"events": [
            {"call": "T1", "event": "call.ringing", "dn": "7001", "data": {"ani": "5550001"}},
            {"call": "T1", "event": "call.routerequest", "dn": "7001"},
            {"call": "T2", "event": "call.ringing", "dn": "8888"}]}), {"Content-Type": "application/json"})
        self.assertEqual(st, 200, body)
        self.assertEqual(len(json.loads(body)["ids"]), 3)
        st, _, body = self.s.call("GET", "/ors/calls/replies?after=%s&wait=10000" % after)
        self.assertEqual(st, 200, body)
        replies = json.loads(body)["replies"]
        self.assertEqual([(r["action"], r["call"], r["params"]) for r in replies],
                         [("route", "T1", {"target": "agent-5550001"})])  # T2 is at no routing point
        sid = replies[0]["session"]
        st, _, body = self.s.call("POST", "/ors/calls/events", json.dumps(
            {"call": "T1", "event": "route.done", "requestid": replies[0]["requestid"]}), {"Content-Type": "application/json"})
        self.assertEqual(st, 200, body)
        self.s.wait_for(lambda: self.s.query(sid)[1]["configuration"] == ["routed"], "the strategy to see route.done")

    def test_a_vendor_strategy_starts_on_interaction_added_and_reads_the_object_model(self):
        after = json.loads(self.s.call("GET", "/ors/calls/replies?after=now")[2])["last"]
        j = {"Content-Type": "application/json"}
        st, _, body = self.s.call("POST", "/ors/calls/events", json.dumps({"events": [
            {"call": "V1", "event": "call.ringing", "dn": "7002", "data": {"ani": "5550007", "userdata": {"lang": "fr"}}},
            {"call": "V1", "event": "call.routerequest", "dn": "7002"}]}), j)
        self.assertEqual(st, 200, body)
        st, _, body = self.s.call("GET", "/ors/calls/replies?after=%s&wait=10000" % after)
        replies = json.loads(body)["replies"]
        self.assertEqual([(r["call"], r["params"]) for r in replies],
                         [("V1", {"target": "agent-5550007-fr-7002", "priority": "5", "absent": "",
                                  "item": {"priority": "5", "skill": "gold"}, "tenant": "Acme/orsd-node1",
                                  "options": "9,7,1,", "url": "http://127.0.0.1:%d" % self.s.port,
                                  "connid": "V1"})])
        # The route request is the interaction's too (interaction.onrouterequest), after the call's.
        sid = replies[0]["session"]
        self.s.wait_for(lambda: self.s.query(sid)[1]["configuration"] == ["onroute"], "interaction.onrouterequest")

    def test_a_vendor_strategy_queues_and_redirects_through_the_reply_channel(self):
        after = json.loads(self.s.call("GET", "/ors/calls/replies?after=now")[2])["last"]
        j = {"Content-Type": "application/json"}

        def post(*events):
            st, _, body = self.s.call("POST", "/ors/calls/events", json.dumps({"events": list(events)}), j)
            self.assertEqual(st, 200, body)

        def replies():
            nonlocal after
            st, _, body = self.s.call("GET", "/ors/calls/replies?after=%s&wait=10000" % after)
            self.assertEqual(st, 200, body)
            after = json.loads(body)["last"]
            return json.loads(body)["replies"]
        post({"call": "V2", "event": "call.ringing", "dn": "7002", "data": {"ani": "5550008"}},
             {"call": "V2", "event": "call.queue", "dn": "7002"})
        got = replies()
        while len(got) < 2:
            got += replies()
        submit, query = got
        self.assertEqual((submit["action"], submit["call"]), ("queue.submit", "V2"))
        p = submit["params"]
        self.assertEqual((p["queue"], p["priority"], p["timeout"], p["interactionid"]), ("VQ_sales", 5, 30, "V2"))
        # Nested elements' attributes are values, `type` the token as written.
        self.assertEqual(p["children"], [{"element": "targets", "attrs": {"type": "agentgroup"},
                                          "children": [{"element": "target",
                                                        "attrs": {"type": "agentgroup", "name": "Sales", "weight": 40}}]}])
        # An action of its own (adapters drop a repeated id), naming the submit it is about.
        self.assertEqual((query["action"], query["params"]["requestid"]), ("queue.query", submit["requestid"]))
        self.assertNotEqual(query["requestid"], submit["requestid"])
        post({"call": "V2", "event": "queue.query.done", "requestid": submit["requestid"], "positioninqueue": 3})
        post({"call": "V2", "event": "queue.submit.done", "requestid": submit["requestid"],
              "targetselected": "agent7@stat.A"})
        [redirect] = replies()
        self.assertEqual(redirect["action"], "interaction.redirect")
        self.assertEqual((redirect["params"]["to"], redirect["params"]["from"], redirect["params"]["type"]),
                         ("agent7@stat.A", "7002", "RouteTypeDefault"))
        post({"call": "V2", "event": "interaction.redirect.done", "requestid": redirect["requestid"]})
        sid = redirect["session"]
        self.s.wait_for(lambda: self.s.query(sid)[1]["configuration"] == ["redirected"], "interaction.redirect.done")
        # The target answering is a party's change; the call's end is the interaction's end, as
        # the vendor's strategies wait for it.
        post({"call": "V2", "event": "call.established", "dn": "agent7"})
        self.s.wait_for(lambda: self.s.query(sid)[1]["configuration"] == ["answered"], "interaction.partystatechanged")
        post({"call": "V2", "event": "call.released", "dn": "agent7"})
        self.s.wait_for(lambda: self.s.query(sid)[1]["configuration"] == ["gone"], "interaction.deleted")

    def test_the_call_simulator_answers_a_whole_vendor_flow(self):
        before = self.session_ids()
        callsim = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "callsim.py")
        r = subprocess.run([sys.executable, callsim, "--servers", "http://127.0.0.1:%d" % self.s.port, "--calls", "20",
                            "--rate", "100", "--dn", "7003", "--hold-ms", "300", "--timeout", "30", "--prefix", "flow-",
                            "--json"], capture_output=True, text=True, timeout=120)
        report = json.loads(r.stdout)
        self.assertEqual((report["routed_once"], report["lost"], report["routed_twice"]), (20, 0, 0), r.stderr)
        # Every flow's session ended in its final state (call.released after interaction.redirect.done).
        self.s.wait_for(lambda: self.session_ids() <= before, "every flow's session to end")

    def session_ids(self):
        ids, offset = set(), 0
        while True:
            st, _, body = self.s.call("GET", "/scxml/sessions?offset=%d&limit=1000" % offset)
            self.assertEqual(st, 200, body)
            page = json.loads(body)["sessions"]
            ids.update(page)
            offset += len(page)
            if not page:
                return ids

    def test_call_events_bad_input(self):
        j = {"Content-Type": "application/json"}
        for bad, why in (({"event": "x"}, "'call'"), ({"call": "c"}, "'event'"), ({"call": "", "event": "x"}, "'call'"),
                         ({"call": "c", "event": "x", "dn": 7}, "'dn'"), ({"events": "no"}, "array"),
                         ({"events": [1]}, "object"), ({"events": []}, "between 1 and 1000")):
            st, _, body = self.s.call("POST", "/ors/calls/events", json.dumps(bad), j)
            self.assertEqual(st, 400, bad)
            self.assertIn(why, json.loads(body)["error"])
        self.assertEqual(self.s.call("GET", "/ors/calls/events")[0], 405)
        self.assertEqual(self.s.call("POST", "/ors/calls/replies")[0], 405)
        for bad, why in (({"subject": "x"}, "'media'"), ({"interactions": []}, "1 to 1000"), ({"interactions": [3]}, "object"),
                         ({"interactions": [{"media": ""}]}, "'media'")):
            st, _, body = self.s.call("POST", "/ors/interactions", json.dumps(bad), j)
            self.assertEqual(st, 400, bad)
            self.assertIn(why, json.loads(body)["error"])
        self.assertEqual(self.s.call("GET", "/ors/interactions")[0], 405)
        for q in ("after=12", "after=x-1", "limit=0", "limit=abc", "wait=-1"):
            st, _, body = self.s.call("GET", "/ors/calls/replies?" + q)
            self.assertEqual(st, 400, q)

    def test_start_sets_cookie_and_id_shape(self):
        sid, headers = self.s.start()
        self.assertRegex(sid, r"^[0-9A-V]{32}$")
        self.assertTrue(sid.startswith("0001"))  # node 1 encoded
        self.assertEqual(headers["Set-Cookie"], "ORSSESSIONID=%s.node1; Path=/" % sid)
        status, headers, data = self.s.call("POST", "/scxml/session/start", "src=routing.scxml",
                                            {"Accept": "text/plain"})
        self.assertEqual(status, 200)
        self.assertRegex(data, r"^[0-9A-V]{32}$")

    def test_start_data_and_events(self):
        sid, _ = self.s.start({"src": "routing.scxml", "vip": True})
        status, q = self.s.query(sid)
        self.assertEqual((status, q["configuration"]), (200, ["waiting"]))
        status, _, _ = self.s.call("POST", "/scxml/session/%s/event/call?vip=yes" % sid, "")
        self.assertEqual(status, 200)
        self.s.wait_for(lambda: self.s.query(sid)[1]["configuration"] == ["vipq"], "vipq: %s" % (self.s.query(sid),))
        sid2, _ = self.s.start()
        self.s.call("POST", "/scxml/session/%s/event/call" % sid2, {"vip": "no"})
        self.s.wait_for(lambda: self.s.query(sid2)[1]["configuration"] == ["queue"], "queue")

    def test_request_answered_by_ws_response(self):
        sid, _ = self.s.start({"src": "routing.scxml", "vip": 7})
        status, _, data = self.s.call("POST", "/scxml/session/%s/request/ask" % sid, "q=hello")
        self.assertEqual(status, 200, data)
        body = json.loads(data)
        self.assertEqual(body["type"], "positive")
        self.assertEqual(body["resultcode"], "OK")
        self.assertEqual(body["params"], {"echo": "hello", "vip": 7})

    def test_request_without_response_times_out(self):
        sid, _ = self.s.start()
        status, headers, data = self.s.call("POST", "/scxml/session/%s/request/nobody" % sid, "")
        self.assertEqual(status, 504, data)
        self.assertIn("error", json.loads(data))

    def test_terminate_and_unknown_sessions(self):
        sid, _ = self.s.start()
        status, _, _ = self.s.call("POST", "/scxml/session/%s/terminate" % sid)
        self.assertEqual(status, 200)
        self.assertEqual(self.s.query(sid)[0], 404)
        self.assertEqual(self.s.call("POST", "/scxml/session/%s/event/x" % sid)[0], 404)
        self.assertEqual(self.s.query("NOTANID")[0], 404)
        live, _ = self.s.start()
        self.assertEqual(self.s.call("POST", "/scxml/session/%s/event/bad%%20name" % live)[0], 400)
        self.assertEqual(self.s.call("POST", "/scxml/session/%s/event/.x" % live)[0], 400)
        self.assertEqual(self.s.call("GET", "/no/such/thing")[0], 404)

    def test_wrong_methods(self):
        for method, path in (("PUT", "/scxml/session/start"), ("GET", "/scxml/session/start"),
                             ("DELETE", "/scxml/session/00010000000000000000000000000000/terminate"),
                             ("POST", "/heartbeat")):
            status, headers, data = self.s.call(method, path)
            self.assertEqual(status, 405, (method, path))
            self.assertIn("Allow", headers)
            self.assertIn("error", json.loads(data))

    def test_head_is_get_without_the_body(self):
        # Load balancers' health checks often use HEAD; one connection serves both in turn.
        conn = http.client.HTTPConnection("127.0.0.1", self.s.port, timeout=20)
        try:
            conn.request("HEAD", "/heartbeat")
            r = conn.getresponse()
            self.assertEqual((r.status, r.read()), (200, b""))
            self.assertEqual(r.getheader("Content-Length"), "3")  # what GET would send: "OK\n"
            conn.request("GET", "/heartbeat")
            r = conn.getresponse()
            self.assertEqual((r.status, r.read()), (200, b"OK\n"))
        finally:
            conn.close()
        status, headers, _ = self.s.call("HEAD", "/scxml/session/start")
        self.assertEqual(status, 405)
        self.assertEqual(headers["Allow"], "POST")

    def test_bad_documents(self):
        status, _, data = self.s.call("POST", "/scxml/session/start", "")
        self.assertEqual(status, 400)
        self.assertIn("src", json.loads(data)["error"])
        status, _, data = self.s.call("POST", "/scxml/session/start", "src=broken.scxml")
        self.assertEqual(status, 400)
        self.assertRegex(json.loads(data)["errors"][0], r"broken\.scxml:3:5: error: unknown target state 'nowhere'")
        status, _, data = self.s.call("POST", "/scxml/session/start", "src=missing.scxml")
        self.assertEqual(status, 400)
        self.assertIn("missing.scxml", json.loads(data)["error"])
        status, _, data = self.s.call("POST", "/scxml/session/start", "src=/etc/passwd")
        self.assertEqual(status, 400)
        self.assertIn("outside the document roots", json.loads(data)["error"])
        status, _, data = self.s.call("POST", "/scxml/session/start", "src=../../../etc/passwd")
        self.assertEqual(status, 400)

    def test_malformed_requests_harm_no_one(self):
        status, _, _ = self.s.call("POST", "/scxml/session/start", "src=%zz")
        self.assertEqual(status, 400)
        status, _, _ = self.s.call("POST", "/scxml/session/start", "{not json", {"Content-Type": "application/json"})
        self.assertEqual(status, 400)
        status, _, _ = self.s.call("POST", "/scxml/session/start", "src=routing.scxml&x=" + "a" * 5000)
        self.assertEqual(status, 413)
        reply = self.s.raw(b"GET /heartbeat HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 4000 + b"\r\n\r\n")
        self.assertTrue(reply.startswith(b"HTTP/1.1 431"), reply[:40])
        reply = self.s.raw(b"GARBAGE\r\n\r\n")
        self.assertTrue(reply.startswith(b"HTTP/1.1 400"), reply[:40])
        # A half-sent body keeps only its own connection waiting.
        half = socket.create_connection(("127.0.0.1", self.s.port), timeout=10)
        try:
            half.sendall(b"POST /scxml/session/start HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nsrc=rout")
            sid, _ = self.s.start()
            self.assertEqual(self.s.query(sid)[0], 200)
        finally:
            half.close()

    def test_runaway_script_is_stopped_and_server_goes_on(self):
        sid, _ = self.s.start()
        other, _ = self.s.start()
        self.s.call("POST", "/scxml/session/%s/event/spin" % sid, "")
        self.s.wait_for(lambda: self.s.query(sid)[1]["configuration"] == ["recovered"], "error.execution")
        self.assertEqual(self.s.query(other)[1]["configuration"], ["waiting"])

    def test_sessions_send_to_each_other_across_workers(self):
        # Sessions are spread over the workers by id, so a chain of 8, each poking its
        # predecessor with <send target="#_scxml_<id>">, crosses workers.
        ring = [self.s.start("src=relay.scxml")[0]]
        for _ in range(7):
            ring.append(self.s.start({"src": "relay.scxml", "peer": ring[-1]})[0])
        for sid in ring[1:]:
            self.assertEqual(self.s.call("POST", "/scxml/session/%s/event/poke" % sid, "")[0], 200)
        for sid in ring[:-1]:
            self.s.wait_for(lambda sid=sid: self.s.query(sid)[1]["configuration"] == ["got"], "poked " + sid)

    def test_orsctl_talks_to_the_server(self):
        if not ORSCTL:
            self.skipTest("no orsctl given")
        server = ["--server", "http://127.0.0.1:%d" % self.s.port]
        run = lambda *a: subprocess.run([ORSCTL] + server + list(a), capture_output=True, text=True, timeout=30)
        r = run("start", "routing.scxml", "vip=1")
        self.assertEqual(r.returncode, 0, r.stderr)
        sid = json.loads(r.stdout)["sessionid"]
        self.assertEqual(run("event", sid, "call", "vip=yes").returncode, 0)
        self.s.wait_for(lambda: "vipq" in run("query", sid).stdout, "vipq")
        self.assertIn(sid, run("list", "0", "1000").stdout)
        self.assertEqual(run("terminate", sid).returncode, 0)
        r = run("query", sid)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no session", r.stdout)
        # What an adapter posts: call events (the VALUE as JSON), and an interaction.
        after = json.loads(self.s.call("GET", "/ors/calls/replies?after=now")[2])["last"]
        self.assertEqual(run("call-event", "CTL1", "call.ringing", "7001", 'data={"ani": "5550042"}').returncode, 0)
        r = run("call-event", "CTL1", "call.routerequest", "7001")
        self.assertEqual((r.returncode, len(json.loads(r.stdout)["ids"])), (0, 1), r.stderr)
        st, _, body = self.s.call("GET", "/ors/calls/replies?after=%s&wait=10000" % after)
        self.assertEqual([(x["call"], x["params"]) for x in json.loads(body)["replies"]],
                         [("CTL1", {"target": "agent-5550042"})])
        r = run("submit", "email", "subject=hello", "priority=3")
        self.assertEqual((r.returncode, len(json.loads(r.stdout)["ids"])), (0, 1), r.stderr)
        r = run("submit", "email", "no-equals-sign")
        self.assertEqual(r.returncode, 1)
        self.assertIn("NAME=VALUE", r.stderr)

    def test_invoked_child_runs_in_process(self):
        sid, _ = self.s.start("src=parent.scxml")
        self.s.wait_for(lambda: self.s.query(sid)[1]["configuration"] == ["greeted"], "child's event")

    def test_list_sessions_and_metrics(self):
        sid, _ = self.s.start()
        status, _, data = self.s.call("GET", "/scxml/sessions?limit=1000")
        self.assertEqual(status, 200, data)
        self.assertIn(sid, json.loads(data)["sessions"])
        self.assertEqual(self.s.call("GET", "/scxml/sessions?limit=0")[0], 400)
        status, headers, data = self.s.call("GET", "/metrics")
        self.assertEqual(status, 200)
        m = re.search(r"^ors_sessions_created_total (\d+)$", data, re.M)
        self.assertTrue(m and int(m.group(1)) >= 1)
        for name in ("ors_active_sessions", "ors_pending_sessions", "ors_create_session_time_seconds_count",
                     "ors_document_processing_time_seconds_count", "ors_scxml_event_queuing_time_seconds_count",
                     "ors_http_fetch_time_seconds_count", "ors_func_execution_time_seconds_count",
                     "ors_redirect_time_seconds_count", "ors_fetch_total", "ors_state_transitions_total"):
            self.assertRegex(data, r"(?m)^%s " % name)

    def test_idealtime_schedules_the_start(self):
        ideal = int(time.time() * 1000) + 300
        sid, _ = self.s.start("src=routing.scxml&idealtime=%d" % ideal)
        self.s.wait_for(lambda: self.s.query(sid)[0] == 200, "the scheduled start")
        self.assertGreaterEqual(time.time() * 1000, ideal - 5)
        self.assertEqual(self.s.call("POST", "/scxml/session/start", "src=routing.scxml&idealtime=soon")[0], 400)


    def logged(self, text):
        with open(self.s.log) as f:
            return text in f.read()

    def test_vendor_session_actions_and_done_scxml(self):
        sid, _ = self.s.start("src=starter.scxml")
        self.s.wait_for(lambda: self.logged(sid + " Outcome: pass") or self.logged(sid + " Outcome: fail"), "a verdict")
        self.assertTrue(self.logged(sid + " Outcome: pass"))

    def test_a_generated_rest_block_fetches_as_the_vendor_does(self):
        # As the authoring tool's web-service block writes it: the request id's location in
        # `requestid`, the method in lower case, headers as an object, <param>s as the query of
        # a GET, the answer's content as text (the block evals it).
        import http.server
        import threading
        seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                seen.append((self.path, self.headers.get("apiKey")))
                body = b'{"tier": "gold"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        peer = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=peer.serve_forever, daemon=True).start()
        try:
            doc = os.path.join(self.s.docs, "rest.scxml")
            with open(doc, "w") as f:
                f.write(REST_BLOCK.replace("PEER", "http://127.0.0.1:%d/profile" % peer.server_address[1]))
            sid, _ = self.s.start("src=rest.scxml")
            self.s.wait_for(lambda: self.s.query(sid)[1]["configuration"] in (["gold"], ["failed"]), "the fetch's answer")
            self.assertEqual(self.s.query(sid)[1]["configuration"], ["gold"])
            self.assertEqual(seen, [("/profile?number=555+0100&ivr_menu=", "k-1")])
        finally:
            peer.shutdown()
            peer.server_close()

    def test_documents_refer_only_inside_the_roots(self):
        status, _, data = self.s.call("POST", "/scxml/session/start", "src=escape.scxml")
        self.assertEqual(status, 200, data)
        sid = json.loads(data)["sessionid"]
        self.s.wait_for(lambda: self.s.query(sid)[1]["configuration"] == ["refused"], "error.execution")

    def test_basichttp_over_the_network(self):
        import http.server
        import threading
        received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                received.append((self.path, self.rfile.read(int(self.headers["Content-Length"])).decode()))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        peer = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=peer.serve_forever, daemon=True)
        thread.start()
        try:
            url = "http://127.0.0.1:%d/inbox" % peer.server_address[1]
            sid, _ = self.s.start({"src": "sender.scxml", "target": url})
            self.s.wait_for(lambda: received, "the POST")
            self.assertEqual(received[0][0], "/inbox")
            self.assertEqual(sorted(received[0][1].split("&")), ["_scxmleventname=ping", "x=1"])
            self.assertEqual(self.s.query(sid)[1]["configuration"], ["s"])
            # The session's own location receives events (W3C C.2), here from outside.
            status, _, _ = self.s.call("POST", "/scxml/session/%s/basichttp" % sid, "_scxmleventname=pong")
            self.assertEqual(status, 200)
            self.s.wait_for(lambda: self.s.query(sid)[1]["configuration"] == ["answered"], "pong")
        finally:
            peer.shutdown()
            peer.server_close()
        # A peer that is not there: error.communication.
        port = free_port()
        sid, _ = self.s.start({"src": "sender.scxml", "target": "http://127.0.0.1:%d/x" % port})
        self.s.wait_for(lambda: self.s.query(sid)[1]["configuration"] == ["unreachable"], "error.communication")


    def test_http_documents(self):
        import functools
        import http.server
        import threading
        served = tempfile.TemporaryDirectory()
        doc = os.path.join(served.name, "remote.scxml")
        with open(doc, "w") as f:
            f.write(ROUTING)
        hits = []

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):
                hits.append(self.headers.get("If-Modified-Since"))
                super().do_GET()

            def log_message(self, *args):
                pass

        peer = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=served.name))
        thread = threading.Thread(target=peer.serve_forever, daemon=True)
        thread.start()
        try:
            base = "http://127.0.0.1:%d/" % peer.server_address[1]
            sid, _ = self.s.start("src=" + base + "remote.scxml")
            self.assertEqual(self.s.query(sid)[1]["configuration"], ["waiting"])
            status, _, data = self.s.call("POST", "/scxml/session/start", "src=" + base + "missing.scxml")
            self.assertEqual(status, 400)
            self.assertIn("missing.scxml", json.loads(data)["error"])
            with open(doc, "w") as f:
                f.write(BROKEN)
            os.utime(doc, (time.time() + 5, time.time() + 5))
            # Revalidated (at most once a second): the changed document is compiled for new sessions.
            def broken_now():
                status, _, data = self.s.call("POST", "/scxml/session/start", "src=" + base + "remote.scxml")
                return status == 400 and "errors" in json.loads(data)
            self.s.wait_for(broken_now, "the changed document")
            self.assertTrue(any(h for h in hits), "a conditional GET (If-Modified-Since) was expected")
            # A generated project served over HTTP: the wrapper's includes (its script library as
            # text, its workflow under a prefix) are fetched from beside it; a change to the
            # library alone is seen by new sessions.
            os.makedirs(os.path.join(served.name, "app", "include"))
            for name, text in (("app/main.scxml", PROJECT_MAIN), ("app/flow.scxml", PROJECT_FLOW),
                               ("app/include/lib.js", "function version() { return 'v1'; }")):
                with open(os.path.join(served.name, name), "w") as f:
                    f.write(text)
            sid, _ = self.s.start("src=" + base + "app/main.scxml")
            self.assertEqual(self.s.query(sid)[1]["configuration"], ["v1", "wf._composer_entry"])
            with open(os.path.join(served.name, "app/include/lib.js"), "w") as f:
                f.write("function version() { return 'v2'; }")
            os.utime(os.path.join(served.name, "app/include/lib.js"), (time.time() + 5, time.time() + 5))
            def v2_now():
                sid, _ = self.s.start("src=" + base + "app/main.scxml")
                return self.s.query(sid)[1]["configuration"] == ["v2", "wf._composer_entry"]
            self.s.wait_for(v2_now, "the changed library")
            # Documents it starts by a literal src come with it, with their own includes: an
            # <invoke src> and a <session:start src> of a document served beside it.
            for name, text in (("app/parent.scxml", HTTP_PARENT), ("app/child.scxml", HTTP_CHILD),
                               ("app/kid.scxml", HTTP_KID)):
                with open(os.path.join(served.name, name), "w") as f:
                    f.write(text)
            sid, _ = self.s.start("src=" + base + "app/parent.scxml")
            self.s.wait_for(lambda: self.s.query(sid)[1]["configuration"] == ["both"], "the children served beside it")
            os.remove(os.path.join(served.name, "app/flow.scxml"))
            def flow_gone():
                status, _, data = self.s.call("POST", "/scxml/session/start", "src=" + base + "app/main.scxml")
                return status == 400 and any("flow.scxml" in e and "404" in e for e in json.loads(data).get("errors", []))
            self.s.wait_for(flow_gone, "the missing include, named with its place")
        finally:
            peer.shutdown()
            peer.server_close()
            served.cleanup()
        port = free_port()
        status, _, data = self.s.call("POST", "/scxml/session/start", "src=http://127.0.0.1:%d/x.scxml" % port)
        self.assertEqual(status, 400)
        self.assertIn("127.0.0.1:%d" % port, json.loads(data)["error"])


class LimitsTest(unittest.TestCase):
    def test_http_allow_list(self):
        s = Orsd("orchestration/http-allow=docs.example")
        try:
            status, _, data = s.call("POST", "/scxml/session/start", "src=http://127.0.0.1:9/x.scxml")
            self.assertEqual(status, 400)
            self.assertIn("not an allowed document host", json.loads(data)["error"])
        finally:
            self.assertEqual(s.stop(), 0)

    def test_too_many_sessions(self):
        s = Orsd("orchestration/max-sessions=1")
        try:
            s.start()
            status, headers, data = s.call("POST", "/scxml/session/start", "src=routing.scxml")
            self.assertEqual(status, 503)
            self.assertIn("Retry-After", headers)
        finally:
            self.assertEqual(s.stop(), 0)


if __name__ == "__main__":
    ORSD = sys.argv.pop(1)
    if len(sys.argv) > 1 and os.path.isfile(sys.argv[1]):  # optional second path: orsctl
        ORSCTL = sys.argv.pop(1)
    unittest.main(verbosity=2)
