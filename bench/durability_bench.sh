#!/usr/bin/env bash
# Durability benchmarks of orsd (docs/durability.md), with wrk and curl on this machine:
#   1. events/s and starts/s with the SQLite store (sync=full, sync=normal) against in memory, one run;
#   2. failover: kill -9 of the primary -> first 200 from the backup's /heartbeat (median of 10);
#   3. restart time with 100,000 stored sessions;
#   4. resident memory with those sessions loaded, and after persistence/unload-after took them out.
# Usage: bench/durability_bench.sh [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
shared=$here/../../shared/bench
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

# start_orsd NAME DATA-DIR [--set ...]: starts an instance, sets $pid and $port.
start_orsd() {
  local name=$1 data=$2
  shift 2
  "$build/orsd" --port 0 --address 127.0.0.1 --data-dir "$data" \
    --set "orchestration/document-roots=$shared,$here/docs" "$@" >"$tmp/$name.log" 2>&1 &
  pid=$!
  disown "$pid"  # no "Killed" notices from kill -9
  pids+=("$pid")
  for _ in $(seq 500); do grep -q listening "$tmp/$name.log" && break; sleep 0.02; done
  port=$(grep -o 'listening on [0-9.]*:[0-9]*' "$tmp/$name.log" | sed 's/.*://')
}
now_ms() { date +%s%3N; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
count() { curl -s "http://127.0.0.1:$1/metrics" | awk '/^ors_active_sessions / {print $2}'; }

echo "== 1. events/s and starts/s: store against memory (wrk -t2, 5 s each)"
for mode in "persistence/type=memory" "persistence/sync=full" "persistence/sync=normal"; do
  start_orsd rate "$tmp/rate-$RANDOM" --set "$mode"
  url=http://127.0.0.1:$port
  for _ in $(seq 64); do
    curl -s -X POST "$url/scxml/session/start" -d src=w2_external.scxml | sed 's/.*"sessionid":"\([^"]*\)".*/\1/'
    echo
  done >"$tmp/ids"
  ev=$(IDS=$tmp/ids wrk -t2 -c64 -d5s -s "$here/wrk/event.lua" "$url" | awk '/Requests\/sec/ {print $2}')
  st=$(wrk -t2 -c32 -d5s -s "$here/wrk/start.lua" "$url/scxml/session/start" | awk '/Requests\/sec/ {print $2}')
  printf '%-26s events/s %9s   starts/s %9s\n' "$mode" "$ev" "$st"
  kill "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
done

echo "== 2. failover: kill -9 of the primary -> backup /heartbeat 200 (10 rounds)"
data=$tmp/pair
start_orsd a "$data"; a_pid=$pid; a_port=$port
for _ in $(seq 20); do curl -s -X POST "http://127.0.0.1:$a_port/scxml/session/start" -d src=w3_small.scxml >/dev/null; done
start_orsd b "$data"; b_pid=$pid; b_port=$port
times=()
for round in $(seq 10); do
  kill -9 "$a_pid"; t0=$(now_ms)
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$b_port/heartbeat")" = 200 ]; do sleep 0.005; done
  times+=($(( $(now_ms) - t0 )))
  start_orsd "a$round" "$data"; a_pid=$b_pid; a_port=$b_port; b_pid=$pid; b_port=$port
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n | tr '\n' ' ')
echo "ms: $sorted; median $(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR] = $1} END {print (a[5] + a[6]) / 2}')"
kill "$a_pid" "$b_pid"; while kill -0 "$a_pid" 2>/dev/null || kill -0 "$b_pid" 2>/dev/null; do sleep 0.05; done

echo "== 3. restart with 100,000 stored sessions (w3_small.scxml)"
data=$tmp/many
start_orsd many "$data"
r0=$(rss "$pid")
wrk -t2 -c32 -d120s -s "$here/wrk/start.lua" "http://127.0.0.1:$port/scxml/session/start" >/dev/null &
wpid=$!
until [ "$(count "$port")" -ge 100000 ]; do sleep 0.2; done
kill "$wpid"; wait "$wpid" 2>/dev/null || true
n=$(count "$port")
r1=$(rss "$pid")
kill "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
echo "stored $n sessions; store $(du -m "$data/sessions.db" | cut -f1) MiB; RSS ${r0} -> ${r1} KiB"
start_orsd many2 "$data"
until grep -q 'restored' "$tmp/many2.log"; do sleep 0.1; done
echo "eager restart: $(grep -o 'restored .*' "$tmp/many2.log"); RSS $(rss "$pid") KiB"
kill "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
start_orsd many3 "$data" --set persistence/unload-after=60000
until grep -q 'restored' "$tmp/many3.log"; do sleep 0.1; done
echo "lazy restart (unload-after set: sessions stay in the store until needed): $(grep -o 'restored .*' "$tmp/many3.log"); RSS $(rss "$pid") KiB"
kill "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done

echo "== 4. memory follows active sessions: 100,000 starts with persistence/unload-after=3000"
start_orsd unload "$tmp/unload" --set persistence/unload-after=3000
wrk -t2 -c32 -d120s -s "$here/wrk/start.lua" "http://127.0.0.1:$port/scxml/session/start" >/dev/null &
wpid=$!
until [ "$(count "$port")" -ge 100000 ]; do sleep 0.2; done
kill "$wpid"; wait "$wpid" 2>/dev/null || true
n=$(count "$port")
echo "$n sessions, $(curl -s "http://127.0.0.1:$port/metrics" | awk '/^ors_sessions_unloaded_total / {print $2}') unloaded so far: RSS $(rss "$pid") KiB"
t0=$(now_ms)
until curl -s "http://127.0.0.1:$port/metrics" | awk '/^ors_sessions_unloaded_total / {exit !($2 >= '"$n"')}'; do
  sleep 0.5
  [ $(( $(now_ms) - t0 )) -lt 120000 ] || { echo "sessions were not unloaded within 2 minutes"; exit 1; }
done
echo "all unloaded: RSS $(rss "$pid") KiB"
kill "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
