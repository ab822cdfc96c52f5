// The embedded session store on SQLite (see sqlite_store.h).
//
// Schema (WITHOUT ROWID tables: the key is the row):
//   sessions(id PRIMARY KEY, doc, state)     one row per live session
//   documents(hash PRIMARY KEY, url, source) the text of every document a stored session runs
#include "store/sqlite_store.h"

#include <sqlite3.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace ors::store {

namespace {

class Statement {
 public:
  Statement() = default;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() { reset(); }
  void reset() {
    sqlite3_finalize(stmt_);
    stmt_ = nullptr;
  }
  bool prepare(sqlite3* db, const char* sql) { return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) == SQLITE_OK; }
  void bind(int i, const std::string& text) { sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_STATIC); }
  // One step of a statement without result rows; then reset for the next use.
  int run() {
    int rc = sqlite3_step(stmt_);
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
  }
  sqlite3_stmt* get() { return stmt_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

std::string column(sqlite3_stmt* s, int i) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s, i))) : std::string();
}

class SqliteStore final : public GroupCommitStore {
 public:
  ~SqliteStore() override {
    close();
    put_.reset();
    erase_.reset();
    select_.reset();
    doc_.reset();
    begin_.reset();
    commit_.reset();
    rollback_.reset();
    sqlite3_close(db_);
  }

  Status open(const std::string& path, const SqliteOptions& options) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        nullptr) != SQLITE_OK)
      return failure("cannot open " + path);
    sqlite3_busy_timeout(db_, 5000);
    std::string setup = std::string("PRAGMA journal_mode=WAL; PRAGMA synchronous=") +
                        (options.fullSync ? "FULL" : "NORMAL") +
                        "; CREATE TABLE IF NOT EXISTS sessions(id TEXT PRIMARY KEY, doc TEXT NOT NULL,"
                        " state TEXT NOT NULL) WITHOUT ROWID;"
                        " CREATE TABLE IF NOT EXISTS documents(hash TEXT PRIMARY KEY, url TEXT NOT NULL,"
                        " source TEXT NOT NULL) WITHOUT ROWID;";
    if (options.maxBytes > 0) {
      // The page size is fixed once the file exists; the cap is in pages.
      sqlite3_stmt* ps = nullptr;
      int64_t pageSize = 4096;
      if (sqlite3_prepare_v2(db_, "PRAGMA page_size", -1, &ps, nullptr) == SQLITE_OK && sqlite3_step(ps) == SQLITE_ROW)
        pageSize = sqlite3_column_int64(ps, 0);
      sqlite3_finalize(ps);
      setup += " PRAGMA max_page_count=" + std::to_string(std::max<uint64_t>(2, options.maxBytes / pageSize)) + ";";
    }
    char* err = nullptr;
    if (sqlite3_exec(db_, setup.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string why = err ? err : "?";
      sqlite3_free(err);
      return Status::error("cannot set up the store " + path + ": " + why);
    }
    if (!put_.prepare(db_, "INSERT OR REPLACE INTO sessions(id, doc, state) VALUES(?1, ?2, ?3)") ||
        !erase_.prepare(db_, "DELETE FROM sessions WHERE id = ?1") ||
        !doc_.prepare(db_, "INSERT OR IGNORE INTO documents(hash, url, source) VALUES(?1, ?2, ?3)") ||
        !select_.prepare(db_, "SELECT doc, state FROM sessions WHERE id = ?1") ||
        !begin_.prepare(db_, "BEGIN IMMEDIATE") || !commit_.prepare(db_, "COMMIT") ||
        !rollback_.prepare(db_, "ROLLBACK"))
      return failure("cannot prepare the store's statements");
    path_ = path;
    startWriter();
    return Status::ok();
  }

  Status loadSessions(const std::function<void(SessionRecord&&)>& each) override {
    return query("SELECT id, doc, state FROM sessions", [&](sqlite3_stmt* s) {
      each(SessionRecord{column(s, 0), column(s, 1), column(s, 2)});
    });
  }

  Status loadDocuments(const std::function<void(DocumentRecord&&)>& each) override {
    return query("SELECT hash, url, source FROM documents", [&](sqlite3_stmt* s) {
      each(DocumentRecord{column(s, 0), column(s, 1), column(s, 2)});
    });
  }

 private:
  Status failure(const std::string& what) const {
    return Status::error(what + ": " + (db_ ? sqlite3_errmsg(db_) : "out of memory"));
  }

  Status query(const char* sql, const std::function<void(sqlite3_stmt*)>& row) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK) return failure("cannot read the store");
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) row(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? Status::ok() : failure("cannot read the store");
  }

  Result<SessionRecord> read(const std::string& id) override {
    select_.bind(1, id);
    int rc = sqlite3_step(select_.get());
    Result<SessionRecord> out = Status::error("no stored session '" + id + "'");
    if (rc == SQLITE_ROW) out = SessionRecord{id, column(select_.get(), 0), column(select_.get(), 1)};
    else if (rc != SQLITE_DONE) out = failure("cannot read the session store");
    sqlite3_reset(select_.get());
    sqlite3_clear_bindings(select_.get());
    return out;
  }

  // One transaction for the whole round.
  Status write(const Round& round) override {
    int rc = begin_.run();
    if (rc != SQLITE_OK) return failure("cannot write the session store (" + std::string(sqlite3_errstr(rc)) + ")");
    for (const DocumentRecord* d : round.documents) {
      doc_.bind(1, d->hash);
      doc_.bind(2, d->url);
      doc_.bind(3, d->source);
      if ((rc = doc_.run()) != SQLITE_OK) return abort(rc);
    }
    for (const auto& [id, r] : round.puts) {
      put_.bind(1, r->id);
      put_.bind(2, r->docHash);
      put_.bind(3, r->state);
      if ((rc = put_.run()) != SQLITE_OK) return abort(rc);
    }
    for (std::string_view id : round.erases) {
      std::string key(id);
      erase_.bind(1, key);
      if ((rc = erase_.run()) != SQLITE_OK) return abort(rc);
    }
    if ((rc = commit_.run()) != SQLITE_OK) return abort(rc);
    return Status::ok();
  }

  Status abort(int rc) {
    Status st = Status::error("cannot write the session store: " + std::string(sqlite3_errstr(rc)) +
                              (rc == SQLITE_FULL ? " (the disk or the configured persistence/max-size is full)" : ""));
    if (!sqlite3_get_autocommit(db_)) rollback_.run();
    return st;
  }

  sqlite3* db_ = nullptr;
  std::string path_;
  Statement put_, erase_, doc_, select_, begin_, commit_, rollback_;
};

}  // namespace

Result<std::unique_ptr<SessionStore>> openSqliteStore(const std::string& path, const SqliteOptions& options) {
  auto store = std::make_unique<SqliteStore>();
  Status st = store->open(path, options);
  if (!st) return st;
  return std::unique_ptr<SessionStore>(std::move(store));
}

}  // namespace ors::store
