#!/usr/bin/env bash
# Calls the cluster routes on this machine, and their routing latency: a local cluster
# (scripts/cluster.sh: Redis Cluster, 3 nodes x primary + backup) with a routing point, and
# scripts/callsim.py offering CALLS calls at each RATE (calls/s), 100 ms of talk time each.
# The latency is from the route request posted to the routing action read by the simulator.
# Usage: bench/calls_bench.sh [BUILD_DIR] [CALLS] [RATE...]   (default: build 5000 250 500 1000)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
calls=${2:-5000}
shift $(($# > 2 ? 2 : $#))
rates=("$@")
[ ${#rates[@]} -gt 0 ] || rates=(250 500 1000)
tmp=$(mktemp -d)
trap '"$here/../scripts/cluster.sh" stop "$tmp" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/docs"
cat >"$tmp/docs/route.scxml" <<'DOC'
<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript" initial="routing">
  <datamodel><data id="call"/></datamodel>
  <state id="routing">
    <transition event="call.routerequest">
      <send type="call" event="route"><param name="target" expr="'agent-' + call.data.ani"/></send>
    </transition>
    <transition event="route.done" target="routed"/>
  </state>
  <state id="routed"><transition event="call.released" target="done"/></state>
  <final id="done"/>
</scxml>
DOC
"$here/../scripts/cluster.sh" start "$tmp" 3 "$build" --set routing-points/7001=route.scxml >"$tmp/cluster.out"
urls=$(awk '/ primary / {print $1}' "$tmp/cluster.out" | paste -sd,)
printf '%10s %10s %8s %8s %8s %8s  %s\n' offered/s routed/s p50_ms p99_ms lost twice per-node
for rate in "${rates[@]}"; do
  python3 "$here/../scripts/callsim.py" --servers "$urls" --calls "$calls" --rate "$rate" --hold-ms 100 \
    --timeout 300 --prefix "b$rate-" --json |
    python3 -c 'import json, sys; r = json.load(sys.stdin); l = r["latency_ms"]
print("%10s %10.0f %8.1f %8.1f %8d %8d  %s" % (sys.argv[1], r["calls_per_s"], l["p50"] or 0, l["p99"] or 0, r["lost"], r["routed_twice"],
      " ".join("%s:%d" % kv for kv in sorted(r["per_node"].items()))))' "$rate"
done
