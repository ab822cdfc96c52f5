#!/usr/bin/env bash
# A whole local ORS cluster on 127.0.0.1, for trying it out and for tests (in the spirit of Redis's
# utils/create-cluster): 3 nodes, each a primary and a backup orsd sharing the node's data
# directory, and the cluster file they all read.
#
#   scripts/cluster.sh start DIR [NODES] [BUILD_DIR]   writes DIR/cluster.ini, starts 2 x NODES orsd
#   scripts/cluster.sh status DIR                      each instance: URL, node, role (heartbeat)
#   scripts/cluster.sh stop DIR                        SIGTERM to every instance, waits
#
# Ports are picked free by the OS. Documents are served from DIR/docs (and the repo's
# examples/). Each instance logs to DIR/node<N>-<a|b>.log; its pid is in DIR/node<N>-<a|b>.pid.
# Sessions are stored in each node's DIR/node<N>/sessions.db (SQLite; Redis Cluster comes with
# persistence/type=redis).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { sed -n 2,13p "$0" | sed 's/^# \{0,1\}//'; exit 2; }

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

case "$cmd" in
start)
  nodes=${3:-3}
  build=${4:-$here/build}
  mkdir -p "$dir/docs"
  dir=$(cd "$dir" && pwd)
  {
    echo "# written by scripts/cluster.sh"
    echo "[cluster]"
    echo "name = local"
    for n in $(seq "$nodes"); do
      echo "[node $n]"
      echo "primary = 127.0.0.1:$(free_port)"
      echo "backup = 127.0.0.1:$(free_port)"
    done
  } >"$dir/cluster.ini"
  echo "cluster file: $dir/cluster.ini"
  for n in $(seq "$nodes"); do
    for role in primary backup; do
      port=$(awk -v s="[node $n]" -v k="$role" '$0 == s {f = 1; next} /^\[/ {f = 0} f && $1 == k {split($3, a, ":"); print a[2]}' "$dir/cluster.ini")
      tag=node$n-$([ "$role" = primary ] && echo a || echo b)
      "$build/orsd" --port "$port" --address 127.0.0.1 --node-id "$n" --data-dir "$dir/node$n" \
        --set "orchestration/cluster-file=$dir/cluster.ini" \
        --set "orchestration/document-roots=$dir/docs,$here/examples" >"$dir/$tag.log" 2>&1 &
      echo $! >"$dir/$tag.pid"
      # The primary first: it takes the node's lock; the backup then finds it taken.
      for _ in $(seq 200); do grep -q listening "$dir/$tag.log" && break; sleep 0.05; done
      grep -q listening "$dir/$tag.log" || { echo "$tag did not start:"; cat "$dir/$tag.log"; exit 1; }
      echo "http://127.0.0.1:$port node $n $(grep -o 'primary$\|backup$' "$dir/$tag.log" | head -1) (pid $(cat "$dir/$tag.pid"))"
    done
  done
  ;;
status)
  for pidfile in "$dir"/node*-?.pid; do
    tag=$(basename "$pidfile" .pid)
    url=$(grep -o 'listening on [0-9.]*:[0-9]*' "$dir/$tag.log" | head -1 | sed 's/listening on /http:\/\//')
    code=$(curl -s -o /dev/null -w '%{http_code}' "$url/heartbeat" || true)
    role=$([ "$code" = 200 ] && echo primary || { [ "$code" = 000 ] && echo down || echo "backup ($code)"; })
    echo "$url ${tag%-?} $role"
  done
  ;;
stop)
  for pidfile in "$dir"/node*-?.pid; do
    [ -f "$pidfile" ] || continue
    kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  for pidfile in "$dir"/node*-?.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    for _ in $(seq 400); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
  ;;
*)
  echo "unknown command '$cmd' (start, status, stop)"; exit 2 ;;
esac
