// The embedded session store: SQLite (Debian's libsqlite3) in WAL mode in the data directory.
// One writer thread takes every batch queued since its last commit and writes them in one
// transaction (group commit): under load, a commit's fsync is shared by many calls, and a
// session written several times in one round is written once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "store/store.h"

namespace ors::store {

struct SqliteOptions {
  // synchronous=FULL: a commit survives a power failure; NORMAL: it survives a crash of the
  // process (WAL), not of the machine.
  bool fullSync = true;
  // Largest size of the database file, 0 for no limit: beyond it writes fail (SQLITE_FULL), as
  // on a full disk.
  uint64_t maxBytes = 0;
};

Result<std::unique_ptr<SessionStore>> openSqliteStore(const std::string& path, const SqliteOptions& options);

}  // namespace ors::store
