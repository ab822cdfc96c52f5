// Primary and backup on one host (two orsd instances of one node sharing a data directory).
// The primary is whoever holds an exclusive lock on `<data-dir>/lock`; the kernel releases it
// when that process dies, however it dies, and the backup, polling, takes it within its poll
// period. The primary publishes the URL it serves at in `<data-dir>/primary`, which is where a
// backup redirects every call.
#pragma once

#include <optional>
#include <string>

#include "cluster/cluster.h"
#include "http/server.h"
#include "server/config.h"

namespace ors::server {

class DataDirLock {
 public:
  explicit DataDirLock(std::string dataDir) : dir_(std::move(dataDir)) {}
  ~DataDirLock();
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;

  // Takes the lock if it is free (never waits). True once held; errors (unwritable directory)
  // are reported in `error`.
  bool tryAcquire(std::string* error);
  bool held() const { return fd_ >= 0; }
  // The primary's URL, as published (written atomically), or nothing.
  void publishPrimary(const std::string& url) const;
  std::optional<std::string> primaryUrl() const;

 private:
  std::string dir_;
  int fd_ = -1;
};

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
