#!/usr/bin/env bash
# A local Redis Cluster on 127.0.0.1 for trying orsd's Redis store and for tests: MASTERS masters
# (default 3), each with REPLICAS replicas (default 1), ports picked free by the OS, AOF on
# (appendfsync always), cluster-node-timeout 1000 ms so that a replica replaces a dead master fast;
# it returns once the cluster is up and every replica is in sync.
#
#   scripts/redis-cluster.sh start DIR [MASTERS] [REPLICAS]   prints "redis-nodes = host:port,..."
#   scripts/redis-cluster.sh stop DIR
#   scripts/redis-cluster.sh restart DIR                      the stopped servers again, with their data
#
# Each server runs in DIR/<port>/ (its config, AOF, nodes.conf, log), its pid in DIR/<port>.pid.
set -euo pipefail
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { sed -n 2,11p "$0" | sed 's/^# \{0,1\}//'; exit 2; }

case "$cmd" in
start)
  masters=${3:-3}
  replicas=${4:-1}
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  # Every node's port at once, each with its cluster bus (port + 10000) free too.
  read -r -a free <<<"$(python3 "$(dirname "$0")/free-ports.py" $((masters * (replicas + 1))) --bus 10000)"
  ports=()
  for port in "${free[@]}"; do
    ports+=("$port")
    mkdir -p "$dir/$port"
    cat >"$dir/$port/redis.conf" <<EOF
port $port
bind 127.0.0.1
dir $dir/$port
cluster-enabled yes
cluster-config-file nodes.conf
cluster-node-timeout 1000
appendonly yes
appendfsync always
save ""
repl-diskless-sync-delay 0
daemonize no
logfile $dir/$port/redis.log
EOF
    redis-server "$dir/$port/redis.conf" >/dev/null 2>&1 &
    echo $! >"$dir/$port.pid"
  done
  for port in "${ports[@]}"; do
    for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
  done
  addrs=$(printf '127.0.0.1:%s ' "${ports[@]}")
  # shellcheck disable=SC2086
  redis-cli --cluster create $addrs --cluster-replicas "$replicas" --cluster-yes >"$dir/create.log" 2>&1 ||
    { cat "$dir/create.log"; exit 1; }
  for _ in $(seq 200); do
    [ "$(redis-cli -p "${ports[0]}" cluster info | tr -d '\r' | awk -F: '/cluster_state/ {print $2}')" = ok ] && break
    sleep 0.05
  done
  # Replicas in sync with their masters (a replica that never synced cannot replace its master).
  for port in "${ports[@]}"; do
    for _ in $(seq 200); do
      info=$(redis-cli -p "$port" info replication | tr -d '\r')
      grep -q '^role:master' <<<"$info" && break
      grep -q '^master_link_status:up' <<<"$info" && break
      sleep 0.05
    done
  done
  echo "redis-nodes = $(printf '127.0.0.1:%s,' "${ports[@]}" | sed 's/,$//')"
  ;;
restart)
  # The servers of an existing DIR again, with their data (AOF) and cluster configuration.
  dir=$(cd "$dir" && pwd)
  ports=()
  for conf in "$dir"/*/redis.conf; do
    port=$(basename "$(dirname "$conf")")
    ports+=("$port")
    redis-server "$conf" >/dev/null 2>&1 &
    echo $! >"$dir/$port.pid"
  done
  for port in "${ports[@]}"; do
    for _ in $(seq 200); do
      [ "$(redis-cli -p "$port" cluster info 2>/dev/null | tr -d '\r' | awk -F: '/cluster_state/ {print $2}')" = ok ] && break
      sleep 0.05
    done
  done
  ;;
stop)
  for pidfile in "$dir"/*.pid; do
    [ -f "$pidfile" ] || continue
    kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  for pidfile in "$dir"/*.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
  ;;
*)
  echo "unknown command '$cmd' (start, stop, restart)"; exit 2 ;;
esac
