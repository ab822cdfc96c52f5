"""Helpers shared by the integration tests (imported from the tests' own folder)."""
import time


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
