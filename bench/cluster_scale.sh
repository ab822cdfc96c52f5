#!/usr/bin/env bash
# Session starts/s and events/s over 1, 2 and 3 nodes of a local cluster (scripts/cluster.sh, each
# node a primary and a backup, SQLite store), wrk on the same machine: one wrk per node, run
# together, their rates summed. On one 2-core machine this measures the machine, not the design.
# Usage: bench/cluster_scale.sh [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }
tmp=$(mktemp -d)
trap '"$here/../scripts/cluster.sh" stop "$tmp" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/docs"
cp "$here/../../shared/bench/w3_small.scxml" "$here/../../shared/bench/w2_external.scxml" "$tmp/docs/"
"$here/../scripts/cluster.sh" start "$tmp" 3 "$build" --store sqlite >"$tmp/cluster.out"
mapfile -t urls < <(awk '/ primary / {print $1}' "$tmp/cluster.out")
for i in 0 1 2; do
  for _ in $(seq 32); do
    curl -s -X POST "${urls[$i]}/scxml/session/start" -d src=w2_external.scxml | sed 's/.*"sessionid":"\([^"]*\)".*/\1/'
    echo
  done >"$tmp/ids$i"
done
for k in 1 2 3; do
  starts=0 events=0
  for i in $(seq 0 $((k - 1))); do
    wrk -t1 -c$((32 / k)) -d5s -s "$here/wrk/start.lua" "${urls[$i]}/scxml/session/start" >"$tmp/s$i" &
  done
  wait
  for i in $(seq 0 $((k - 1))); do starts=$(awk -v a="$starts" '/Requests\/sec/ {print a + $2}' "$tmp/s$i"); done
  for i in $(seq 0 $((k - 1))); do
    IDS=$tmp/ids$i wrk -t1 -c$((64 / k)) -d5s -s "$here/wrk/event.lua" "${urls[$i]}" >"$tmp/e$i" &
  done
  wait
  for i in $(seq 0 $((k - 1))); do events=$(awk -v a="$events" '/Requests\/sec/ {print a + $2}' "$tmp/e$i"); done
  printf '%d node(s): starts/s %8.0f   events/s %8.0f\n' "$k" "$starts" "$events"
done
