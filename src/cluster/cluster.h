// The cluster: its description (one file every instance reads), and the one decision every
// instance makes for every call that names a session: serve it here, or send the caller where it
// is served (ORS contract sections 2 and 4).
//
// The cluster file, INI like orsd's configuration:
//   [cluster]
//   name = demo                        # Redis keys live under ORS:<name>
//   [node 1]
//   primary = 127.0.0.1:7210           # host:port of each instance of the node
//   backup = 127.0.0.1:7211            # optional
//   external-url = http://lb:8080      # optional: where clients reach this node (a balancer)
// Plain data; thread-compatible.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ors::cluster {

struct Instance {
  std::string host;
  uint16_t port = 0;
  std::string url() const { return "http://" + host + ":" + std::to_string(port); }
  bool operator==(const Instance&) const = default;
};

struct Node {
  uint32_t id = 0;
  Instance primary;
  std::optional<Instance> backup;
  std::string externalUrl;  // without a trailing slash; "" when none
};

struct ClusterMap {
  std::string name = "ors";
  std::map<uint32_t, Node> nodes;

  const Node* find(uint32_t id) const {
    auto it = nodes.find(id);
    return it == nodes.end() ? nullptr : &it->second;
  }
  // Parses the text of a cluster file; errors name `file:line`.
  static Result<ClusterMap> parse(std::string_view text, const std::string& file);
  static Result<ClusterMap> load(const std::string& file);
};

// How an instance answered its last health check (GET /heartbeat).
enum class Liveness : uint8_t {
  kUnknown,  // not checked yet
  kPrimary,  // 200
  kBackup,   // answered, not 200 (heartbeat-backup-status)
  kDown,     // no answer
};

struct Decision {
  enum class Kind : uint8_t { kServeHere, kRedirectExternal, kRedirectPrimary, kRedirectAdopter, kOwnerUnknown, kOwnerDown };
  Kind kind = Kind::kServeHere;
  std::string location;  // base URL of a redirect (the original path and query go after it)
};

// Where a call is served, from this instance's point of view. `owner` is the node that owns the
// session the call names (the node encoded in its id), or this instance's node for a call that
// names none (a start). Every outcome:
//   - serve here: this instance is the primary of the owning node;
//   - redirect to external-url: the owner is another node and has an external-url (a balancer
//     or a name in front of it), so the caller goes there (contract 4.1);
//   - redirect to primary: the owner is another node without external-url, or this instance is a
//     backup: the caller goes to the owning node's primary instance (contract 4.2) — the one that
//     answers its heartbeat with 200 now, which is the configured backup after a failover; for
//     this instance's own node, the primary it knows from the node's lock (`ownPrimaryUrl`);
//   - redirect to the adopter: both instances of the owning node were gone long enough that an
//     instance of another node adopted it (server/adoption.h): `adopter` is that instance's URL,
//     as the owner's lease says; the caller goes straight there (not to the owner's external-url,
//     whose balancer may have no live member for it);
//   - owner unknown: the id names a node that is not in the cluster (404: there is no such
//     session anywhere);
//   - owner down: no instance of the owning node is known to be primary, and no adopter is
//     known (503 with Retry-After).
Decision route(const ClusterMap& map, uint32_t self, bool selfIsPrimary, const std::optional<std::string>& ownPrimaryUrl,
               uint32_t owner, const std::function<Liveness(const Instance&)>& liveness,
               const std::optional<std::string>& adopter = std::nullopt);

}  // namespace ors::cluster
