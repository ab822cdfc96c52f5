// Health of the other instances of the cluster, as routing needs it: every instance asks each
// other one for GET /heartbeat periodically (the way balancers do) and remembers the answer; an
// instance is down after two checks in a row without one.
// liveness() is thread-safe; the checks run on the io_context given.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "cluster/cluster.h"

namespace ors::cluster {

class HealthMonitor {
 public:
  // Checks every instance of the other nodes of `map` every `period` (this instance's own node
  // is known from its lock).
  HealthMonitor(boost::asio::io_context& ioc, const ClusterMap& map, uint32_t selfNode,
                std::chrono::milliseconds period);
  void start();
  void stop();
  Liveness liveness(const Instance& instance) const;

 private:
  void round();
  boost::asio::io_context& ioc_;
  const ClusterMap& map_;
  uint32_t self_;
  std::chrono::milliseconds period_;
  boost::asio::steady_timer timer_;
  mutable std::mutex mu_;
  struct State {
    Liveness liveness = Liveness::kUnknown;
    int failures = 0;  // checks without an answer in a row
  };
  std::map<std::string, State> state_;  // by instance URL
  bool stopped_ = false;
};

}  // namespace ors::cluster
