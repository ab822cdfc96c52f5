"""A network namespace for one process under test, joined to the host's 127.0.0.1 by forwarders
the test controls, so that a test can cut that process off from some ports (a network partition)
while everything stays on 127.0.0.1.

Inside the namespace, each forwarded port listens on the namespace's own 127.0.0.1 with the same
number as on the host, so the process reaches the host's services at their real addresses (Redis
Cluster's MOVED answers and slot maps name them). partition() stalls those forwarders as a cut
network would: bytes in flight stay unsent and new connections hang; heal() lets them through.
expose() makes a port of the process inside reachable from the host.

Needs CAP_SYS_ADMIN (unshare, setns) and CAP_NET_ADMIN (bringing up the namespace's loopback);
Namespace.available() says whether this machine allows it.
"""
import ctypes
import os
import socket
import subprocess
import threading

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _in_thread(fn):
    """Runs fn on a new thread and returns its result (a thread may switch namespaces alone)."""
    out = {}

    def run():
        try:
            out["v"] = fn()
        except BaseException as e:  # handed to the caller
            out["e"] = e
    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "e" in out:
        raise out["e"]
    return out["v"]


class Namespace:
    @staticmethod
    def available():
        if not hasattr(os, "geteuid") or os.geteuid() != 0:
            return False
        r = subprocess.run(["unshare", "--net", "ip", "link", "set", "lo", "up"], capture_output=True)
        return r.returncode == 0

    def __init__(self):
        # A process holds the namespace open; its /proc entry names it.
        self.holder = subprocess.Popen(["unshare", "--net", "sh", "-c", "ip link set lo up && echo up && exec cat"],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self.holder.stdout.readline().strip() != "up":
            self.holder.kill()
            raise RuntimeError("cannot set up a network namespace")
        self.path = "/proc/%d/ns/net" % self.holder.pid
        self.fd = os.open(self.path, os.O_RDONLY)
        self.open = threading.Event()
        self.open.set()
        self.listeners = []
        self.conns = []
        self.lock = threading.Lock()

    def command(self, argv):
        """argv run inside the namespace (nsenter execs it: the pid is the program's)."""
        return ["nsenter", "--net=" + self.path, "--"] + argv

    def _socket_inside(self):
        def make():
            if _libc.setns(self.fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
            return socket.socket()
        return _in_thread(make)

    def forward(self, port):
        """The host's 127.0.0.1:port reachable inside as 127.0.0.1:port, through a forwarder
        that partition() stalls."""
        s = self._socket_inside()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(64)
        self._serve(s, lambda: socket.create_connection(("127.0.0.1", port)), cut=True)

    def expose(self, port):
        """The process's 127.0.0.1:port inside, reachable from the host at the port returned
        (never cut)."""
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(64)

        def connect():
            c = self._socket_inside()
            c.connect(("127.0.0.1", port))
            return c
        self._serve(s, connect, cut=False)
        return s.getsockname()[1]

    def partition(self):
        self.open.clear()

    def heal(self):
        self.open.set()

    def _serve(self, listener, connect, cut):
        self.listeners.append(listener)

        def accept():
            while True:
                try:
                    a, _ = listener.accept()
                except OSError:
                    return
                threading.Thread(target=self._pair, args=(a, connect, cut), daemon=True).start()
        threading.Thread(target=accept, daemon=True).start()

    def _pair(self, a, connect, cut):
        if cut:
            self.open.wait()
        try:
            b = connect()
        except OSError:
            a.close()
            return
        with self.lock:
            self.conns += [a, b]
        for src, dst in ((a, b), (b, a)):
            threading.Thread(target=self._pump, args=(src, dst, cut), daemon=True).start()

    def _pump(self, src, dst, cut):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if cut:
                self.open.wait()
            try:
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                dst.sendall(data)
            except OSError:
                return

    def close(self):
        self.heal()
        for s in self.listeners:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        with self.lock:
            for c in self.conns:
                c.close()
        os.close(self.fd)
        self.holder.stdin.close()
        self.holder.wait(timeout=10)
        self.holder.stdout.close()
