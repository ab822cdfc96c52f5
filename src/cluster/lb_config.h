// Load-balancer configurations for a cluster, written from its cluster file (`orsctl lb-config`):
// HAProxy 2.6, Apache 2.4 with mod_proxy_balancer, and the F5 BIG-IP monitor and pool settings.
// Each one puts every instance of every node behind the balancer, keeps backups out of rotation by
// the health check alone (GET /heartbeat: 200 on a primary only), sends a session's calls to the
// instance of its node that passes the check, and lets session starts spread round-robin.
// docs/deployment.md explains them line by line; ../shared/reference/load-balancers.md records
// the behaviour of the real balancers they rely on. Pure functions of their arguments.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cluster/cluster.h"
#include "common/status.h"

namespace ors::cluster {

struct LbOptions {
  // Where the balancer listens: "PORT", "HOST:PORT" or "*:PORT".
  std::string listen = "80";
  // "" writes a configuration for the system's service (Debian's paths and users). A directory
  // writes a standalone one that keeps its pid, sockets, logs and runtime files there and runs in
  // the foreground as the user who starts it: for trying the cluster out and for tests.
  std::string runDir;
  // Health-check period (the balancer notices a dead primary or a promoted backup within about
  // two of them).
  unsigned checkIntervalMs = 1000;
};

enum class Balancer : uint8_t { kHaproxy, kApache, kF5 };

// The balancer's name as `orsctl lb-config` takes it ("haproxy", "apache", "f5"), or nothing.
std::optional<Balancer> balancerNamed(std::string_view name);

// The configuration text; errors (a bad `listen`, an empty cluster) in the Result.
Result<std::string> lbConfig(Balancer balancer, const ClusterMap& map, const LbOptions& options);

}  // namespace ors::cluster
