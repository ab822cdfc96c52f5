// A small, synchronous Redis Cluster client on hiredis (Debian's libhiredis 0.14, which knows no
// cluster): keys go to the master of their hash slot (CRC16 of the key or of its {hash tag}),
// MOVED and ASK answers and lost connections refresh the slot map (CLUSTER SLOTS) and retry.
// Commands for one slot are sent as one pipeline, so MULTI ... EXEC is a transaction.
// Threading: one thread at a time (the store's writer); it may block, so never a worker's.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

struct redisContext;

namespace ors::store {

struct RedisReply {
  enum class Type : uint8_t { kString, kStatus, kInteger, kArray, kNil, kError };
  Type type = Type::kNil;
  std::string str;  // string, status or error text
  long long integer = 0;
  std::vector<RedisReply> elements;
};

class RedisCluster {
 public:
  struct Address {
    std::string host;
    int port = 0;
    std::string str() const { return host + ":" + std::to_string(port); }
  };
  // `seeds`: some nodes of the cluster ("host:port,host:port"); the rest is learnt from them.
  static Result<std::unique_ptr<RedisCluster>> connect(const std::string& seeds, std::chrono::milliseconds timeout);
  ~RedisCluster();
  RedisCluster(const RedisCluster&) = delete;
  RedisCluster& operator=(const RedisCluster&) = delete;

  using Command = std::vector<std::string>;
  // Sends `commands` (all for the slot of `key`) as one pipeline to that slot's master; the
  // replies, one per command (a Redis error is a reply of type kError, not a failure). Fails when
  // no master of the slot can be reached within the retry budget.
  Result<std::vector<RedisReply>> pipeline(std::string_view key, const std::vector<Command>& commands);
  Result<RedisReply> command(std::string_view key, const Command& command);

  static uint16_t slot(std::string_view key);

 private:
  RedisCluster(std::vector<Address> seeds, std::chrono::milliseconds timeout)
      : seeds_(std::move(seeds)), timeout_(timeout) {}
  // Stops asking once past deadline (each node that does not answer costs a timeout).
  Status refreshSlots(std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max());
  redisContext* connection(const std::string& address, std::string* error);
  void drop(const std::string& address);

  std::vector<Address> seeds_;
  std::chrono::milliseconds timeout_;
  std::vector<std::string> slots_;  // 16384 entries: the master's "host:port"
  std::map<std::string, redisContext*> connections_;
};

}  // namespace ors::store
