// What an instance runs while it is the primary of a node: the session store, the workers with the
// node's sessions, the call service, and the API over them. orsd makes one for its own node when it
// gets the role; with the Redis store it may also make one for another node whose instances are all
// gone (server/adoption.h).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "calls/service.h"
#include "common/status.h"
#include "scxml/event.h"
#include "server/api.h"
#include "server/config.h"
#include "server/documents.h"
#include "server/metrics.h"
#include "server/worker.h"
#include "store/store.h"

namespace ors::server {

struct Primary {
  Config config;  // the node's: its id, its options (what the parts below refer to)
  std::unique_ptr<store::SessionStore> store;
  std::unique_ptr<calls::Service> calls;
  std::vector<std::unique_ptr<Worker>> workers;
  std::unique_ptr<Api> api;
  size_t restored = 0;

  explicit Primary(Config c) : config(std::move(c)) {}
  Primary(const Primary&) = delete;
  Primary& operator=(const Primary&) = delete;
  // The call service, then the store (its last answers go out), then the workers; the same order
  // as a SIGTERM's drain (stop()).
  ~Primary();
  // Stops taking work and flushes what was taken: the call service (its read position saved), the
  // store (every submitted write done), the workers' loops.
  void stop();
};

// Delivers an SCXML event to a session this primary does not hold (another node's); false when
// there is no way to reach it.
using RemoteDelivery = std::function<bool(const std::string& sessionId, scxml::Event event)>;

// Becomes the primary of `config.nodeId`: opens the store (its writes fenced by `fence`, for Redis),
// starts `workers` workers, restores the node's sessions, then reads the call feed on from the
// node's saved position. Blocks (seconds with many sessions); any thread.
Result<std::unique_ptr<Primary>> startPrimary(Config config, Metrics& metrics, DocumentCache& documents, unsigned workers,
                                              RemoteDelivery remote, const std::string& clusterName,
                                              std::function<std::string()> fence,
                                              std::function<std::vector<uint32_t>()> liveNodes);

}  // namespace ors::server
