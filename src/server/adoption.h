// Adopting a node whose instances are all gone (Redis store only; docs/interactions.md).
//
// Both instances of a node may die (its host lost, say). Its sessions are in Redis, and so are the
// interactions it pulled and the calls it claimed, but nobody else restores them: they would wait
// for the node to come back. Every primary therefore watches the other nodes' leases. When a node's
// lease has been free for `orchestration/node-takeover-timeout` and the node has something to serve
// (stored sessions, or interactions it holds), a serving primary takes that node's lease (set only
// where none is, so one instance wins) and runs a second Primary for the node in its own process:
// the node's sessions restored (not started again), the call feed read on from the node's saved
// position, its held interactions resumed; no new calls and no new interactions for it. Its store
// writes carry the adopted lease's fencing token, as the node's own instances' would.
//
// Calls for the adopted node's sessions reach it: the lease names the adopter (its URL and node),
// so the other instances redirect there (cluster::route), and an instance of the node that comes
// back finds the lease taken, is a backup, and redirects there too. Once an instance of the node
// answers its health checks again, the adopter hands the node back: it drains the adopted primary
// (as a SIGTERM would: the call service's position saved, every write flushed), then frees the
// lease, which that instance takes at its next poll (100 ms). A clean stop of the adopter hands
// back the same way.
//
// Threading: one thread of its own (Redis round trips, and starting a primary, block); the
// queries may come from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "calls/feed.h"
#include "cluster/cluster.h"
#include "common/status.h"
#include "server/config.h"
#include "server/primary.h"
#include "server/standby.h"
#include "store/redis_cluster.h"

namespace ors::server {

class Adoption {
 public:
  struct Hooks {
    // Starts a primary for `node`, its store writes fenced by `fence` (blocks).
    std::function<Result<std::unique_ptr<Primary>>(uint32_t node, std::function<std::string()> fence)> start;
    // This instance is its own node's primary and serves (only such an instance adopts).
    std::function<bool()> serving;
    // Some instance of `node` answered its last health check (it is back: hand the node over).
    std::function<bool(uint32_t node)> nodeAnswers;
  };
  // `config`: this instance's (its node, the Redis nodes, the lease and the timeout).
  Adoption(const Config& config, const cluster::ClusterMap& map, std::string clusterName, Hooks hooks);
  ~Adoption();
  Adoption(const Adoption&) = delete;
  Adoption& operator=(const Adoption&) = delete;

  // `selfUrl`: where this instance serves (what an adopted node's lease names).
  void start(std::string selfUrl);
  // Hands every adopted node back (drained, its lease freed), then stops watching.
  void stop();

  // The primary this instance runs for `node`, or null (not adopted here, or its lease ran out
  // by this instance's clock). The caller holds it only while it hands a call to it.
  std::shared_ptr<Primary> primaryOf(uint32_t node) const;
  // Where another instance serves `node` it adopted, as the node's lease says; or nothing.
  std::optional<std::string> adopterOf(uint32_t node) const;

 private:
  struct Watch {
    std::unique_ptr<Arbiter> lease;  // the node's, held by this instance while adopted here
    std::optional<std::chrono::steady_clock::time_point> freeSince;
    std::shared_ptr<Primary> primary;    // adopted here (read by other threads under mu_)
    std::optional<std::string> adopter;  // adopted by another instance (read under mu_)
  };
  void loop();
  void watch(uint32_t node, Watch& w);
  bool hasWork(uint32_t node);
  void adopt(uint32_t node, Watch& w);
  void handBack(uint32_t node, Watch& w, bool freeLease, const std::string& why);

  const Config& config_;
  const cluster::ClusterMap& map_;
  std::string clusterName_, selfUrl_;
  Hooks hooks_;
  std::unique_ptr<store::RedisCluster> redis_;  // the loop's: what a node has
  std::unique_ptr<calls::Feed> feed_;           // the loop's: what a node holds of the interactions
  std::map<uint32_t, Watch> watches_;           // every other node; the map itself never changes
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace ors::server
