#!/usr/bin/env bash
# Instructions per keep-alive event in orsd's user space, a figure that does not move with the
# machine's speed: orsd (one worker, sessions in memory) under callgrind, 16 sessions of
# w2_external.scxml, wrk -t1 -c4 for 10 s; the engine's start-up and the call feed's periodic
# poll are left out of the count.
# Usage: bench/orsd_callgrind.sh [BUILD_DIR] [OUT.cg]   (needs valgrind and wrk)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
out=${2:-$(mktemp --suffix=.cg)}
shared=$here/../../shared/bench
for tool in valgrind callgrind_annotate wrk; do
  command -v $tool >/dev/null || { echo "$tool is not installed"; exit 1; }
done
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
valgrind --tool=callgrind --callgrind-out-file="$out" "$build/orsd" --port 0 --address 127.0.0.1 \
  --data-dir "$tmp/data" --set persistence/type=memory --set orchestration/workers=1 \
  --set "orchestration/document-roots=$shared,$here/docs" >"$tmp/log" 2>&1 &
pid=$!
for _ in $(seq 600); do grep -q listening "$tmp/log" && break; sleep 0.1; done
port=$(grep -o 'listening on [0-9.]*:[0-9]*' "$tmp/log" | sed 's/.*://')
url=http://127.0.0.1:$port
for _ in $(seq 16); do
  curl -s -X POST "$url/scxml/session/start" -d src=w2_external.scxml | sed 's/.*"sessionid":"\([^"]*\)".*/\1/'
  echo
done >"$tmp/ids"
IDS=$tmp/ids wrk -t1 -c4 -d10s -s "$here/wrk/event.lua" "$url" >/dev/null
events=$(curl -s "$url/metrics" | awk '/^ors_events_total / {print $2}')
kill $pid; wait $pid 2>/dev/null || true
count() { callgrind_annotate --inclusive=yes "$out" 2>/dev/null | grep -E "$1" | head -1 | awk '{gsub(",", "", $1); print $1}' || true; }
total=$(count "PROGRAM TOTALS")
init=$(count "EcmaEngine::init\(\) \[")
poll=$(count "LazyFeed::read\(.*\) \[")
echo "events: $events; instructions per event: $(( (total - init - ${poll:-0}) / events )) (profile: $out)"
