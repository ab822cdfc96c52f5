#!/usr/bin/env bash
# A whole local ORS cluster on 127.0.0.1, for trying it out and for tests (in the spirit of Redis's
# utils/create-cluster): a Redis Cluster (3 masters, 1 replica each) and NODES orsd nodes (default
# 3), each a primary and a backup, and the cluster file they all read.
#
#   scripts/cluster.sh start DIR [NODES] [BUILD_DIR] [--store redis|sqlite] [--set SECTION/OPTION=VALUE]...
#                        [--node-set N SECTION/OPTION=VALUE]...
#                                       writes DIR/cluster.ini, starts Redis and 2 x NODES orsd
#                                       (each --set goes to every orsd, e.g. routing-points/7001=x.scxml;
#                                       each --node-set to both instances of node N)
#   scripts/cluster.sh restart DIR TAG  starts instance TAG (node<N>-a or node<N>-b) again, as before
#   scripts/cluster.sh status DIR       each instance: URL, node, role (from its /heartbeat)
#   scripts/cluster.sh stop DIR         SIGTERM to every instance, waits; then stops Redis
#
# --store redis (the default): sessions in the Redis Cluster (DIR/redis, scripts/redis-cluster.sh),
# the primary of each node chosen by a lease in Redis; each instance has its own data directory.
# --store sqlite: no Redis; each node's pair shares DIR/node<N>/sessions.db and a file lock, and
# every node the call feed DIR/calls.db.
# Ports are picked free by the OS. Documents are served from DIR/docs and the repo's examples/.
# Each instance logs to DIR/node<N>-<a|b>.log; its pid is in DIR/node<N>-<a|b>.pid.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
store=redis
args=()
extra=()
nodeset=()
while [ $# -gt 0 ]; do
  case "$1" in
  --store) store=${2:-}; shift 2 ;;
  --store=*) store=${1#--store=}; shift ;;
  --set) extra+=(--set "${2:-}"); shift 2 ;;
  --node-set) nodeset+=("${2:-}" "${3:-}"); shift 3 ;;
  *) args+=("$1"); shift ;;
  esac
done
set -- "${args[@]}"
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { sed -n 2,22p "$0" | sed 's/^# \{0,1\}//'; exit 2; }
case "$store" in redis | sqlite) ;; *) echo "--store must be redis or sqlite"; exit 2 ;; esac


case "$cmd" in
start)
  nodes=${3:-3}
  build=${4:-$here/build}
  mkdir -p "$dir/docs"
  dir=$(cd "$dir" && pwd)
  store_settings=()
  if [ "$store" = redis ]; then
    redis_nodes=$("$here/scripts/redis-cluster.sh" start "$dir/redis" 3 1 | sed -n 's/^redis-nodes = //p')
    [ -n "$redis_nodes" ] || { echo "the Redis Cluster did not start"; exit 1; }
    echo "redis-nodes = $redis_nodes"
    store_settings=(--set persistence/type=redis --set "persistence/redis-nodes=$redis_nodes")
  else
    store_settings=(--set "persistence/call-feed=$dir/calls.db")
  fi
  # Every instance's port at once (distinct, and clear of the ports clients get from the kernel).
  read -r -a ports <<<"$(python3 "$here/scripts/free-ports.py" $((2 * nodes)))"
  {
    echo "# written by scripts/cluster.sh"
    echo "[cluster]"
    echo "name = local"
    for n in $(seq "$nodes"); do
      echo "[node $n]"
      echo "primary = 127.0.0.1:${ports[2 * n - 2]}"
      echo "backup = 127.0.0.1:${ports[2 * n - 1]}"
    done
  } >"$dir/cluster.ini"
  echo "cluster file: $dir/cluster.ini"
  for n in $(seq "$nodes"); do
    for role in primary backup; do
      port=$(awk -v s="[node $n]" -v k="$role" '$0 == s {f = 1; next} /^\[/ {f = 0} f && $1 == k {split($3, a, ":"); print a[2]}' "$dir/cluster.ini")
      tag=node$n-$([ "$role" = primary ] && echo a || echo b)
      data=$dir/node$n
      [ "$store" = redis ] && data=$dir/$tag
      mine=()
      for ((i = 0; i < ${#nodeset[@]}; i += 2)); do
        [ "${nodeset[i]}" = "$n" ] && mine+=(--set "${nodeset[i + 1]}")
      done
      command=("$build/orsd" --port "$port" --address 127.0.0.1 --node-id "$n" --data-dir "$data"
        --set "orchestration/cluster-file=$dir/cluster.ini"
        --set "orchestration/document-roots=$dir/docs,$here/examples" "${store_settings[@]}" ${extra[@]+"${extra[@]}"} ${mine[@]+"${mine[@]}"})
      printf '%q ' "${command[@]}" >"$dir/$tag.cmd"  # for `restart`
      "${command[@]}" >"$dir/$tag.log" 2>&1 &
      echo $! >"$dir/$tag.pid"
      # The primary first: it takes the node's lock or lease; the backup then finds it taken. A
      # primary says it listens once it serves (its sessions restored).
      for _ in $(seq 600); do grep -q listening "$dir/$tag.log" && break; sleep 0.05; done
      grep -q listening "$dir/$tag.log" || { echo "$tag did not start:"; cat "$dir/$tag.log"; exit 1; }
      if [ "$role" = primary ]; then
        for _ in $(seq 200); do
          [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/heartbeat")" = 200 ] && break
          sleep 0.05
        done
      fi
      echo "http://127.0.0.1:$port node $n $(grep -o 'primary$\|backup$' "$dir/$tag.log" | head -1) (pid $(cat "$dir/$tag.pid"))"
    done
  done
  ;;
restart)
  # Starts an instance again (after a kill, say) as it was started: TAG is node<N>-a or node<N>-b.
  tag=${3:-}
  [ -f "$dir/$tag.cmd" ] || { echo "no instance '$tag' in $dir"; exit 2; }
  if [ -f "$dir/$tag.pid" ] && kill -0 "$(cat "$dir/$tag.pid")" 2>/dev/null; then echo "$tag is running"; exit 1; fi
  before=$(grep -c listening "$dir/$tag.log" || true)
  (eval "exec $(cat "$dir/$tag.cmd")") >>"$dir/$tag.log" 2>&1 &
  echo $! >"$dir/$tag.pid"
  for _ in $(seq 600); do [ "$(grep -c listening "$dir/$tag.log")" -gt "$before" ] && break; sleep 0.05; done
  [ "$(grep -c listening "$dir/$tag.log")" -gt "$before" ] || { echo "$tag did not start:"; tail -20 "$dir/$tag.log"; exit 1; }
  url=$(grep -o 'listening on [0-9.]*:[0-9]*' "$dir/$tag.log" | tail -1 | sed 's/listening on /http:\/\//')
  echo "$url ${tag%-?} $(grep -o 'primary$\|backup$' "$dir/$tag.log" | tail -1) (pid $(cat "$dir/$tag.pid"))"
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
  [ -d "$dir/redis" ] && "$here/scripts/redis-cluster.sh" stop "$dir/redis"
  true
  ;;
*)
  echo "unknown command '$cmd' (start, restart, status, stop)"; exit 2 ;;
esac
