#!/usr/bin/env python3
"""free-ports: prints N distinct TCP ports that are free on 127.0.0.1 now, for processes that are
given their port in advance (a cluster's instances, Redis nodes).

All N are held open until they are printed, so that no two are the same; they are taken below
the kernel's range of ephemeral ports when there is room there, so that a client connection
made meanwhile cannot take one. With --bus OFFSET, PORT + OFFSET is free as well (Redis's
cluster bus).

Usage: free-ports.py N [--bus OFFSET]
"""
import random
import socket
import sys


def main():
    args = sys.argv[1:]
    if not args or not args[0].isdigit():
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    count = int(args[0])
    bus = int(args[args.index("--bus") + 1]) if "--bus" in args else 0
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            ephemeral_low = int(f.read().split()[0])
    except OSError:
        ephemeral_low = 32768
    high = min(ephemeral_low, 65536 - bus) - 1
    held, ports = [], []

    def take(port):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            s.close()
            return None
        held.append(s)
        return s.getsockname()[1]

    tries = 0
    while len(ports) < count:
        tries += 1
        # Below the ephemeral range while there is room there; the OS's choice otherwise.
        port = take(random.randint(10000, high) if high > 10000 and tries < 10000 else 0)
        if port is None or port in ports or port + bus > 65535:
            continue
        if bus and take(port + bus) is None:
            continue
        ports.append(port)
    print(" ".join(str(p) for p in ports))
    for s in held:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
