#!/usr/bin/env bash
# Installs every Debian 12 package the project builds, tests and benchmarks with. Idempotent.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
# apache2 and haproxy are installed for the load-balancer tests, which start their own instances:
# keep Debian from starting the system services on install (policy-rc.d 101 = "not allowed").
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
# A mirror that fails now and then gets three tries.
retry() {
  local try
  for try in 1 2 3; do
    "$@" && return 0
    [ "$try" = 3 ] || sleep $((try * 5))
  done
  return 1
}
retry $SUDO apt-get update -qq
retry $SUDO apt-get install -y -qq --no-install-recommends \
  g++ cmake ninja-build pkg-config git ca-certificates \
  libmozjs-102-dev libexpat1-dev \
  libboost1.81-dev libboost-json1.81-dev python3 \
  libgtest-dev libgmock-dev libbenchmark-dev libsqlite3-dev \
  redis-server redis-tools libhiredis-dev \
  haproxy apache2 wrk curl
