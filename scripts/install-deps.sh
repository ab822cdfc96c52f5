#!/usr/bin/env bash
# Installs every Debian 12 package the project builds, tests and benchmarks with. Idempotent.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  g++ cmake ninja-build pkg-config git ca-certificates \
  libmozjs-102-dev libexpat1-dev \
  libboost1.81-dev libboost-json1.81-dev python3 \
  libgtest-dev libgmock-dev libbenchmark-dev libsqlite3-dev \
  redis-server redis-tools libhiredis-dev \
  haproxy apache2 wrk curl
