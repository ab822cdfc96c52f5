"""Helpers shared by the integration tests (imported from the tests' own folder)."""
import time

# A session that records the numbers of its `n` events and reports them with <ws:response>.
COUNTER = """<scxml xmlns="http://www.w3.org/2005/07/scxml" xmlns:ws="www.genesyslab.com/modules/ws"
    version="1.0" datamodel="ecmascript" initial="run">
  <datamodel><data id="seen" expr="[]"/></datamodel>
  <state id="run">
    <transition event="n"><script>seen.push(_event.data.n)</script></transition>
    <transition event="report">
      <ws:response requestid="_event.sendid"><param name="seen" expr="seen"/></ws:response>
    </transition>
  </state>
</scxml>"""


def wait_for(cond, what, timeout=15.0):
    """Polls cond() until it returns something true (which is returned), or fails after timeout
    seconds naming what was awaited: the tests' only way to wait, never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.01)
    raise AssertionError("timed out waiting for " + what)
