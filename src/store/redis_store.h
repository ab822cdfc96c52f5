// The shared session store: Redis Cluster (persistence/type = redis, persistence/redis-nodes),
// for clusters whose nodes run on several machines. Keys live under ORS:<cluster name>; all the
// keys of one ORS node share the hash tag {n<node>}, so one node's sessions are in one slot and a
// round of writes is one MULTI/EXEC transaction on one Redis master:
//   ORS:<cluster>:{n<node>}:s:<session id>   hash: doc (document hash), state (the record)
//   ORS:<cluster>:{n<node>}:sessions         set: the node's session ids
//   ORS:<cluster>:{docs}:<hash>              hash: url, source (every document a session runs)
//   ORS:<cluster>:{docs}                     set: the document hashes
// Redis keeps them as durably as it is configured to (AOF with appendfsync always or everysec);
// a write also waits (WAIT) until `replicas` replicas have it, so that a master's failover loses
// nothing that was acknowledged.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "store/store.h"

namespace ors::store {

struct RedisOptions {
  std::string nodes;        // "host:port,host:port": some nodes of the Redis Cluster
  std::string clusterName;  // the ORS cluster's name (ORS:<name>)
  uint32_t orsNode = 1;     // whose sessions this store reads at start-up
  std::chrono::milliseconds timeout{2000};
  // Replicas that must have a write (Redis WAIT) before it counts as durable: a master's replica
  // that replaces it then has everything acknowledged. 0 for a cluster without replicas.
  int replicas = 1;
  // The lease value (fencing token) this instance holds for `orsNode`, when the role is decided
  // by a Redis lease: every write then checks the lease still holds it, in the same script.
  std::function<std::string()> fence;
};

Result<std::unique_ptr<SessionStore>> openRedisStore(const RedisOptions& options);

// The set of an ORS node's stored session ids, `ORS:<cluster>:{n<node>}:sessions` (its keys share
// the node's hash tag, and its lease's slot).
std::string redisSessionIndex(const std::string& clusterName, uint32_t node);

}  // namespace ors::store
