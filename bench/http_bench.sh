#!/usr/bin/env bash
# HTTP benchmarks of orsd with wrk (Debian package): session starts/s, events/s on keep-alive
# connections, latency of requests answered by <ws:response>, and resident KiB per idle session.
# Usage: bench/http_bench.sh [BUILD_DIR]   (orsd and wrk on this machine, loopback only)
# EXTRA="--set persistence/type=memory" runs orsd with sessions in memory only (the default
# configuration stores them durably).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
shared=$here/../../shared/bench
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
"$build/orsd" --port 0 --address 127.0.0.1 --data-dir "$tmp/data" \
  --set "orchestration/document-roots=$shared,$here/docs" ${EXTRA:-} >"$tmp/log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q listening "$tmp/log" && break; sleep 0.05; done
port=$(grep -o 'listening on [0-9.]*:[0-9]*' "$tmp/log" | sed 's/.*://')
url=http://127.0.0.1:$port
start() { curl -s -X POST "$url/scxml/session/start" -d "src=$1" | sed 's/.*"sessionid":"\([^"]*\)".*/\1/'; echo; }
rss() { awk '/VmRSS/ {print $2}' /proc/$pid/status; }

echo "== session starts/s (w3_small.scxml, wrk -t2 -c32 -d5s)"
wrk -t2 -c32 -d5s -s "$here/wrk/start.lua" "$url/scxml/session/start" | grep -E "Requests/sec|Latency|Non-2xx"

echo "== events/s (w2_external.scxml, 64 sessions, keep-alive, wrk -t2 -c64 -d5s, three runs: this"
echo "   machine's speed moves between runs; bench/orsd_callgrind.sh gives a figure it does not move)"
for _ in $(seq 64); do start w2_external.scxml; done >"$tmp/ids"
for _ in 1 2 3; do
  IDS=$tmp/ids wrk -t2 -c64 -d5s -s "$here/wrk/event.lua" "$url" | grep -E "Requests/sec|Latency|Non-2xx"
done

echo "== requests answered by <ws:response> (echo.scxml, 16 sessions)"
for _ in $(seq 16); do start echo.scxml; done >"$tmp/rids"
echo "-- at full rate (wrk -t2 -c32)"
IDS=$tmp/rids VERB=request/ask wrk -t2 -c32 -d5s --latency -s "$here/wrk/event.lua" "$url" | grep -E "Requests/sec|50%|99%|Non-2xx"
echo "-- lighter load (wrk -t1 -c4)"
IDS=$tmp/rids VERB=request/ask wrk -t1 -c4 -d5s --latency -s "$here/wrk/event.lua" "$url" | grep -E "Requests/sec|50%|99%|Non-2xx"

echo "== resident memory per idle session (100,000 sessions of w3_small.scxml)"
before=$(curl -s "$url/metrics" | awk '/^ors_active_sessions / {print $2}')
rss0=$(rss)
wrk -t2 -c32 -d60s -s "$here/wrk/start.lua" "$url/scxml/session/start" >/dev/null &
wpid=$!
while :; do
  n=$(curl -s "$url/metrics" | awk '/^ors_active_sessions / {print $2}')
  [ "$n" -ge $((before + 100000)) ] && break
  sleep 0.2
done
kill $wpid; wait $wpid 2>/dev/null || true
n=$(curl -s "$url/metrics" | awk '/^ors_active_sessions / {print $2}')
rss1=$(rss)
echo "sessions: $before -> $n; RSS: ${rss0} KiB -> ${rss1} KiB; $(( (rss1 - rss0) * 1024 / (n - before) )) bytes per session"
