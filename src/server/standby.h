// Primary and backup on one host (two orsd instances of one node sharing a data directory).
// On one host (SQLite store) the primary is whoever holds an exclusive lock on `<data-dir>/lock`;
// the kernel releases it when that process dies, however it dies, and the backup, polling, takes
// it within its poll period. The primary publishes the URL it serves at in `<data-dir>/primary`,
// which is where a backup redirects every call. Across hosts (Redis store) the role is a lease
// in Redis with a fencing token (RedisLease).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "cluster/cluster.h"
#include "http/server.h"
#include "server/config.h"

namespace ors::server {

// Who of a node's instances is the primary. The one that holds the role serves; the others are
// backups that redirect to it and try to take the role over.
class Arbiter {
 public:
  virtual ~Arbiter() = default;
  // Takes the role if it is free (never waits long). True once held; errors in `error`.
  // `url`: where this instance serves, published to the backups.
  virtual bool tryAcquire(const std::string& url, std::string* error) = 0;
  virtual bool held() const = 0;
  // The primary's URL as last known, or nothing. Cheap: no I/O.
  virtual std::optional<std::string> primaryUrl() const = 0;
  // The node of the instance that holds the role, when the arbiter says: the node's own, or
  // another that adopted it (server/adoption.h).
  virtual std::optional<uint32_t> primaryNode() const { return std::nullopt; }
  // Called periodically by the holder: kLost once the role is lost (a lease taken over), and the
  // instance must stop serving at once; kUnknown while the arbiter cannot be asked (Redis down):
  // the instance refuses calls (503) until it knows again. Backups: refreshes primaryUrl().
  enum class Keep : uint8_t { kHeld, kLost, kUnknown };
  virtual Keep keep() { return Keep::kHeld; }
  // The fencing token store writes must carry, "" when the store needs none.
  virtual std::string token() const { return {}; }
  virtual std::chrono::milliseconds keepPeriod() const { return std::chrono::milliseconds(1000); }
  // True while the holder's lease has run out by its own clock without a renewal (a renewal in
  // flight to an unreachable store, say): it serves nothing until it knows again, since another
  // instance may hold the role by now. Cheap: no I/O; read by the HTTP threads.
  virtual bool expired() const { return false; }
  // The holder gives the role up (a clean hand-over): another instance may take it at once.
  virtual void release() {}
};

// Same host: an exclusive flock on <data-dir>/lock, released by the kernel when the holder dies;
// the holder's URL in <data-dir>/primary.
class DataDirLock final : public Arbiter {
 public:
  explicit DataDirLock(std::string dataDir) : dir_(std::move(dataDir)) {}
  ~DataDirLock() override;
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;

  bool tryAcquire(const std::string& url, std::string* error) override;
  bool held() const override { return fd_.load(std::memory_order_acquire) >= 0; }
  std::optional<std::string> primaryUrl() const override;

 private:
  void publishPrimary(const std::string& url) const;
  std::string dir_;
  std::atomic<int> fd_{-1};  // set by the role thread, read by the HTTP threads
};

// Across hosts: a lease in Redis, `ORS:<cluster>:{n<node>}:lease` = "<token>|<url>|<holder's node>"
// (`holderNode`: `node` itself, or another node adopting it), set only when
// absent, with a time to live the holder renews every third of it. The token comes from INCR
// of `...:fence`, so a newer holder's is always larger; store writes check the lease holds their
// token (store/redis_store.h), so a primary that lost its lease (paused, partitioned) can write
// nothing more, and it stops serving as soon as a renewal fails.
std::unique_ptr<Arbiter> makeRedisLease(const std::string& redisNodes, const std::string& clusterName, uint32_t node,
                                        std::chrono::milliseconds ttl, uint32_t holderNode, std::string* error);

// A backup's answer to any call: /heartbeat gets `heartbeat-backup-status` (default 503); every
// other call a 307 to the primary (`primaryUrl` + the original target, with the ORSSESSIONID
// cookie when the path names a session); with no primary known, 503 and Retry-After.
http::Response backupResponse(const http::Request& request, const std::optional<std::string>& primaryUrl,
                              const Config& config);

// The answer for a call that cluster::route() sends elsewhere: 307 to the decision's location
// plus the original target (with `Set-Cookie: ORSSESSIONID=<id>.node<owner>` when the call names a
// session), 404 for an owner that is not in the cluster, 503 with Retry-After for one that is down.
http::Response routedResponse(const http::Request& request, const cluster::Decision& decision,
                              const std::string& sessionId, uint32_t owner, const Config& config);

}  // namespace ors::server
