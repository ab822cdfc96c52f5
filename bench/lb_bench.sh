#!/usr/bin/env bash
# Events through each real load balancer against straight to the owning node, in the same run:
# a local cluster (scripts/cluster.sh: Redis Cluster, 3 nodes x primary + backup), HAProxy and
# Apache started with `orsctl lb-config` configurations, 32 sessions on node 1, and wrk (one
# thread, 16 connections, DURATION seconds) posting events to them with their cookies: requests/s,
# latency p50/p99 and the count of non-2xx answers (a redirect would be one).
# Everything shares one machine: the balancer takes CPU from the nodes it fronts.
# Usage: bench/lb_bench.sh [BUILD_DIR] [DURATION]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
duration=${2:-10}
for t in wrk haproxy apache2 curl; do command -v "$t" >/dev/null || [ -x "/usr/sbin/$t" ] || { echo "$t is not installed (scripts/install-deps.sh)"; exit 1; }; done
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  "$here/../scripts/cluster.sh" stop "$tmp/c" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/c/docs" "$tmp/haproxy" "$tmp/apache"
cp "$here/../../shared/bench/w2_external.scxml" "$tmp/c/docs/"
"$here/../scripts/cluster.sh" start "$tmp/c" 3 "$build" >"$tmp/cluster.out"
owner=$(awk '/ node 1 primary/ {print $1}' "$tmp/cluster.out")
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
declare -A lb
for kind in haproxy apache; do
  port=$(free_port)
  "$build/orsctl" lb-config "$kind" "$tmp/c/cluster.ini" --listen "127.0.0.1:$port" --run-dir "$tmp/$kind" >"$tmp/$kind/$kind.cfg"
  if [ "$kind" = haproxy ]; then
    PATH=$PATH:/usr/sbin haproxy -f "$tmp/$kind/$kind.cfg" -db >"$tmp/$kind/out.log" 2>&1 &
  else
    PATH=$PATH:/usr/sbin apache2 -f "$tmp/$kind/$kind.cfg" -DFOREGROUND >"$tmp/$kind/out.log" 2>&1 &
  fi
  pids+=($!)
  lb[$kind]=http://127.0.0.1:$port
  # Ready once the health checks took the backups out: 12 heartbeats in a row answered 200.
  ok=0
  for _ in $(seq 600); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "${lb[$kind]}/heartbeat")" = 200 ]; then ok=$((ok + 1)); else ok=0; fi
    [ "$ok" -ge 12 ] && break
    sleep 0.05
  done
  [ "$ok" -ge 12 ] || { echo "$kind did not become ready"; cat "$tmp/$kind/out.log"; exit 1; }
done
for _ in $(seq 32); do
  curl -s -X POST "$owner/scxml/session/start" -d src=w2_external.scxml | sed 's/.*"sessionid":"\([^"]*\)".*/\1/'
  echo
done >"$tmp/ids"
printf '%-16s %10s %10s %10s %8s\n' path "events/s" "p50" "p99" "non-2xx"
for target in direct haproxy apache; do
  url=$owner
  [ "$target" = direct ] || url=${lb[$target]}
  IDS=$tmp/ids NODE=1 wrk -t1 -c16 -d"${duration}s" --latency -s "$here/wrk/event.lua" "$url" >"$tmp/wrk.$target"
  rps=$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk.$target")
  p50=$(awk '$1 == "50%" {print $2}' "$tmp/wrk.$target")
  p99=$(awk '$1 == "99%" {print $2}' "$tmp/wrk.$target")
  bad=$(awk '/Non-2xx/ {print $NF}' "$tmp/wrk.$target")
  printf '%-16s %10.0f %10s %10s %8s\n' "$target" "$rps" "$p50" "$p99" "${bad:-0}"
done
