// FeedId, and the two feeds (see feed.h): SQLite and Redis Cluster.
//
// SQLite schema (one file, shared by the nodes of a machine through WAL):
//   feed(id INTEGER PRIMARY KEY AUTOINCREMENT, ts, body)     call events, in order
//   replies(id INTEGER PRIMARY KEY AUTOINCREMENT, ts, body)  routing actions, in order
//   claims(call PRIMARY KEY, value)                          who handles each call
//   cursors(node PRIMARY KEY, pos)                           each node's read position
// Redis keys, all tagged {calls} (one slot): ...:feed and ...:replies (streams, fields ts and
// body), ...:claim:<call> (a day's time to live), ...:cursor:<node>.
#include "calls/feed.h"

#include <sqlite3.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <algorithm>
#include <charconv>
#include <map>
#include <memory>

#include "store/redis_cluster.h"

namespace ors::calls {

std::optional<FeedId> FeedId::parse(std::string_view text) {
  size_t dash = text.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  FeedId id;
  auto a = std::from_chars(text.data(), text.data() + dash, id.ms);
  auto b = std::from_chars(text.data() + dash + 1, text.data() + text.size(), id.seq);
  if (a.ec != std::errc() || a.ptr != text.data() + dash || b.ec != std::errc() || b.ptr != text.data() + text.size())
    return std::nullopt;
  return id;
}

namespace {

int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<boost::json::object> parseObject(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.get_object());
}

// ---------------------------------------------------------------- SQLite

class SqliteFeed final : public Feed {
 public:
  ~SqliteFeed() override {
    for (auto& [sql, stmt] : polled_) sqlite3_finalize(stmt);
    sqlite3_close(db_);
  }

  Status open(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK)
      return error("cannot open " + path);
    sqlite3_busy_timeout(db_, 10000);
    return exec(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
        " CREATE TABLE IF NOT EXISTS feed(id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, body TEXT NOT NULL);"
        " CREATE TABLE IF NOT EXISTS replies(id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, body TEXT NOT NULL);"
        " CREATE TABLE IF NOT EXISTS claims(call TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
        " CREATE TABLE IF NOT EXISTS cursors(node INTEGER PRIMARY KEY, pos TEXT NOT NULL);"
        " CREATE TABLE IF NOT EXISTS interactions(id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL,"
        " body TEXT NOT NULL, node INTEGER, renewed INTEGER);"
        " CREATE INDEX IF NOT EXISTS interactions_free ON interactions(node, id);");
  }

  Result<std::vector<FeedId>> append(const std::vector<boost::json::object>& events) override {
    return insert("feed", events);
  }
  Result<std::vector<Entry>> read(FeedId after, size_t max) override { return select("feed", after, max); }
  Result<FeedId> last() override { return newest("feed"); }
  Result<FeedId> lastReply() override { return newest("replies"); }

  Result<std::string> claim(const std::string& call, const std::string& value) override {
    Stmt ins(db_, "INSERT OR IGNORE INTO claims(call, value) VALUES(?, ?)");
    if (!ins.ok()) return error("claiming " + call);
    bind(ins.get(), 1, call);
    bind(ins.get(), 2, value);
    if (sqlite3_step(ins.get()) != SQLITE_DONE) return error("claiming " + call);
    Result<std::optional<std::string>> held = claimOf(call);
    if (!held) return held.status();
    if (!*held) return error("the claim of " + call + " vanished");
    return **held;
  }
  Result<std::optional<std::string>> claimOf(const std::string& call) override {
    Stmt s(db_, "SELECT value FROM claims WHERE call = ?");
    if (!s.ok()) return error("reading the claim of " + call);
    bind(s.get(), 1, call);
    int rc = sqlite3_step(s.get());
    if (rc == SQLITE_DONE) return std::optional<std::string>();
    if (rc != SQLITE_ROW) return error("reading the claim of " + call);
    return std::optional<std::string>(text(s.get(), 0));
  }

  Status endClaim(const std::string& call, const std::string& value) override {
    Stmt s(db_, "UPDATE claims SET value = ? WHERE call = ?");
    if (!s.ok()) return error("ending the claim of " + call);
    std::string ended = value + "|ended";
    bind(s.get(), 1, ended);
    bind(s.get(), 2, call);
    return sqlite3_step(s.get()) == SQLITE_DONE ? Status::ok() : error("ending the claim of " + call);
  }

  Result<std::vector<std::optional<std::string>>> claimsOf(const std::vector<std::string>& calls) override {
    std::vector<std::optional<std::string>> out;
    for (const std::string& c : calls) {
      Result<std::optional<std::string>> one = claimOf(c);
      if (!one) return one.status();
      out.push_back(std::move(*one));
    }
    return out;
  }

  Status saveCursor(uint32_t node, FeedId id) override {
    Stmt s(db_, "INSERT OR REPLACE INTO cursors(node, pos) VALUES(?, ?)");
    if (!s.ok()) return error("saving the feed position");
    sqlite3_bind_int64(s.get(), 1, node);
    std::string pos = id.str();
    bind(s.get(), 2, pos);
    return sqlite3_step(s.get()) == SQLITE_DONE ? Status::ok() : error("saving the feed position");
  }
  Result<FeedId> cursor(uint32_t node) override {
    Stmt s(db_, "SELECT pos FROM cursors WHERE node = ?");
    if (!s.ok()) return error("reading the feed position");
    sqlite3_bind_int64(s.get(), 1, node);
    int rc = sqlite3_step(s.get());
    if (rc == SQLITE_DONE) return FeedId{};
    if (rc != SQLITE_ROW) return error("reading the feed position");
    std::optional<FeedId> id = FeedId::parse(text(s.get(), 0));
    return id ? *id : FeedId{};
  }

  Result<std::vector<FeedId>> submit(const std::vector<boost::json::object>& interactions) override {
    return insertInto("interactions", interactions);
  }
  Result<std::vector<Entry>> take(uint32_t node, size_t max) override {
    // One statement: the oldest free ones become this node's (SQLite's write lock makes it atomic
    // between the nodes sharing the file).
    Stmt s(db_,
           "UPDATE interactions SET node = ?, renewed = ? WHERE id IN"
           " (SELECT id FROM interactions WHERE node IS NULL ORDER BY id LIMIT ?) RETURNING id, ts, body");
    if (!s.ok()) return error("taking interactions");
    sqlite3_bind_int64(s.get(), 1, node);
    sqlite3_bind_int64(s.get(), 2, nowMs());
    sqlite3_bind_int64(s.get(), 3, static_cast<sqlite3_int64>(max));
    Result<std::vector<Entry>> out = entries(s.get(), "taking interactions");
    if (out) std::sort(out->begin(), out->end(), [](const Entry& a, const Entry& b) { return a.id < b.id; });
    return out;
  }
  Status finish(FeedId id) override {
    Stmt s(db_, "DELETE FROM interactions WHERE id = ?");
    if (!s.ok()) return error("finishing an interaction");
    sqlite3_bind_int64(s.get(), 1, static_cast<sqlite3_int64>(id.seq));
    return sqlite3_step(s.get()) == SQLITE_DONE ? Status::ok() : error("finishing an interaction");
  }
  Result<std::vector<Entry>> held(uint32_t node, size_t max) override {
    Stmt s(db_, "SELECT id, ts, body FROM interactions WHERE node = ? ORDER BY id LIMIT ?");
    if (!s.ok()) return error("reading held interactions");
    sqlite3_bind_int64(s.get(), 1, node);
    sqlite3_bind_int64(s.get(), 2, static_cast<sqlite3_int64>(max));
    return entries(s.get(), "reading held interactions");
  }
  Status renew(uint32_t node) override {
    Stmt s(db_, "UPDATE interactions SET renewed = ? WHERE node = ?");
    if (!s.ok()) return error("renewing interactions");
    sqlite3_bind_int64(s.get(), 1, nowMs());
    sqlite3_bind_int64(s.get(), 2, node);
    return sqlite3_step(s.get()) == SQLITE_DONE ? Status::ok() : error("renewing interactions");
  }

  Result<std::vector<FeedId>> reply(const std::vector<boost::json::object>& actions) override {
    return insert("replies", actions);
  }
  Result<std::vector<Entry>> replies(FeedId after, size_t max) override { return select("replies", after, max); }

 private:
  // A prepared statement for one use.
  class Stmt {
   public:
    Stmt(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
    ~Stmt() { sqlite3_finalize(s_); }
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
    bool ok() const { return s_ != nullptr; }
    sqlite3_stmt* get() { return s_; }

   private:
    sqlite3_stmt* s_ = nullptr;
  };
  static void bind(sqlite3_stmt* s, int i, const std::string& v) {
    sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  static std::string text(sqlite3_stmt* s, int i) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s, i))) : std::string();
  }
  Status error(const std::string& what) const {
    return Status::error("the call feed: " + what + ": " + (db_ ? sqlite3_errmsg(db_) : "no database"));
  }
  Status exec(const char* sql) {
    char* msg = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) == SQLITE_OK) return Status::ok();
    std::string m = msg ? msg : "error";
    sqlite3_free(msg);
    return Status::error("the call feed: " + m);
  }

  Result<FeedId> newest(const char* table) {
    std::string sql = std::string("SELECT COALESCE(MAX(id), 0) FROM ") + table;
    Stmt s(db_, sql.c_str());
    if (!s.ok() || sqlite3_step(s.get()) != SQLITE_ROW) return error(std::string("reading ") + table);
    return FeedId{0, static_cast<uint64_t>(sqlite3_column_int64(s.get(), 0))};
  }

  Result<std::vector<FeedId>> insert(const char* table, const std::vector<boost::json::object>& bodies) {
    return insertInto(table, bodies);
  }
  Result<std::vector<FeedId>> insertInto(const char* table, const std::vector<boost::json::object>& bodies) {
    // BEGIN IMMEDIATE takes the write lock at once, so the busy timeout covers the whole batch.
    if (Status st = exec("BEGIN IMMEDIATE"); !st) return st;
    std::string sql = std::string("INSERT INTO ") + table + "(ts, body) VALUES(?, ?)";
    Stmt s(db_, sql.c_str());
    std::vector<FeedId> ids;
    int64_t ts = nowMs();
    for (const auto& b : bodies) {
      if (!s.ok()) break;
      sqlite3_bind_int64(s.get(), 1, ts);
      std::string body = boost::json::serialize(b);
      bind(s.get(), 2, body);
      if (sqlite3_step(s.get()) != SQLITE_DONE) break;
      sqlite3_reset(s.get());
      ids.push_back({0, static_cast<uint64_t>(sqlite3_last_insert_rowid(db_))});
    }
    if (ids.size() != bodies.size()) {
      Status err = error(std::string("appending to ") + table);
      exec("ROLLBACK");
      return err;
    }
    if (Status st = exec("COMMIT"); !st) {
      exec("ROLLBACK");
      return st;
    }
    return ids;
  }

  // The rows (id, ts, body) of a statement, as entries.
  Result<std::vector<Entry>> entries(sqlite3_stmt* s, const std::string& what) {
    std::vector<Entry> out;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      Entry e;
      e.id = {0, static_cast<uint64_t>(sqlite3_column_int64(s, 0))};
      e.timeMs = sqlite3_column_int64(s, 1);
      if (auto body = parseObject(text(s, 2))) e.body = std::move(*body);
      out.push_back(std::move(e));
    }
    if (rc != SQLITE_DONE) return error(what);
    return out;
  }

  // The feed is read every few milliseconds (Service::Options::poll): its statements are
  // prepared once, not parsed and planned again on every poll.
  Result<std::vector<Entry>> select(const char* table, FeedId after, size_t max) {
    sqlite3_stmt*& s = polled_[table];
    if (!s) {
      std::string sql = std::string("SELECT id, ts, body FROM ") + table + " WHERE id > ? ORDER BY id LIMIT ?";
      if (sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) {
        sqlite3_finalize(s);
        s = nullptr;
        return error(std::string("reading ") + table);
      }
    }
    // Reset however this ends: a statement left stepping holds its read transaction open.
    std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> reset(s, sqlite3_reset);
    if (sqlite3_bind_int64(s, 1, static_cast<sqlite3_int64>(after.ms > 0 ? 0 : after.seq)) != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(max)) != SQLITE_OK)
      return error(std::string("reading ") + table);
    return entries(s, std::string("reading ") + table);
  }

  sqlite3* db_ = nullptr;
  std::map<std::string, sqlite3_stmt*> polled_;  // by table
};

// ---------------------------------------------------------------- Redis Cluster

class RedisFeed final : public Feed {
 public:
  RedisFeed(std::unique_ptr<store::RedisCluster> redis, const std::string& cluster, int replicas)
      : redis_(std::move(redis)), prefix_("ORS:" + cluster + ":{calls}:"), replicas_(replicas) {}

  Result<std::vector<FeedId>> append(const std::vector<boost::json::object>& events) override {
    return add(prefix_ + "feed", events);
  }
  Result<std::vector<Entry>> read(FeedId after, size_t max) override { return range(prefix_ + "feed", after, max); }
  Result<FeedId> last() override { return newest(prefix_ + "feed"); }
  Result<FeedId> lastReply() override { return newest(prefix_ + "replies"); }
  Result<FeedId> newest(const std::string& stream) {
    Result<store::RedisReply> r = redis_->command(prefix_, {"XREVRANGE", stream, "+", "-", "COUNT", "1"});
    if (!r) return r.status();
    if (r->type != store::RedisReply::Type::kArray) return failure(*r);
    if (r->elements.empty() || r->elements[0].elements.empty()) return FeedId{};
    std::optional<FeedId> id = FeedId::parse(r->elements[0].elements[0].str);
    return id ? *id : FeedId{};
  }

  Result<std::string> claim(const std::string& call, const std::string& value) override {
    // SET NX GET: nil when this SET took the claim, else the value that holds it.
    Result<store::RedisReply> r =
        redis_->command(prefix_, {"SET", prefix_ + "claim:" + call, value, "NX", "GET", "EX", "86400"});
    if (!r) return r.status();
    if (r->type == store::RedisReply::Type::kNil) return value;
    if (r->type == store::RedisReply::Type::kString) return r->str;
    return failure(*r);
  }
  Result<std::optional<std::string>> claimOf(const std::string& call) override {
    Result<store::RedisReply> r = redis_->command(prefix_, {"GET", prefix_ + "claim:" + call});
    if (!r) return r.status();
    if (r->type == store::RedisReply::Type::kNil) return std::optional<std::string>();
    if (r->type == store::RedisReply::Type::kString) return std::optional<std::string>(r->str);
    return failure(*r);
  }

  Status endClaim(const std::string& call, const std::string& value) override {
    Result<store::RedisReply> r =
        redis_->command(prefix_, {"SET", prefix_ + "claim:" + call, value + "|ended", "XX", "KEEPTTL"});
    if (!r) return r.status();
    return r->type == store::RedisReply::Type::kError ? failure(*r) : Status::ok();
  }

  Result<std::vector<std::optional<std::string>>> claimsOf(const std::vector<std::string>& calls) override {
    std::vector<std::optional<std::string>> out;
    if (calls.empty()) return out;
    store::RedisCluster::Command mget{"MGET"};
    for (const std::string& c : calls) mget.push_back(prefix_ + "claim:" + c);
    Result<store::RedisReply> r = redis_->command(prefix_, mget);
    if (!r) return r.status();
    if (r->type != store::RedisReply::Type::kArray || r->elements.size() != calls.size()) return failure(*r);
    for (const auto& e : r->elements)
      out.push_back(e.type == store::RedisReply::Type::kString ? std::optional<std::string>(e.str) : std::nullopt);
    return out;
  }

  Status saveCursor(uint32_t node, FeedId id) override {
    Result<store::RedisReply> r = redis_->command(prefix_, {"SET", prefix_ + "cursor:" + std::to_string(node), id.str()});
    if (!r) return r.status();
    return r->type == store::RedisReply::Type::kError ? failure(*r) : Status::ok();
  }
  Result<FeedId> cursor(uint32_t node) override {
    Result<store::RedisReply> r = redis_->command(prefix_, {"GET", prefix_ + "cursor:" + std::to_string(node)});
    if (!r) return r.status();
    if (r->type != store::RedisReply::Type::kString) return FeedId{};
    std::optional<FeedId> id = FeedId::parse(r->str);
    return id ? *id : FeedId{};
  }

  // A stream and its consumer group "ors": each node is a consumer; what it took stays in its
  // pending list until acknowledged; renewing claims them again to itself (their idle time back
  // to zero), so that a reclaim by idle time takes only a dead node's.
  Result<std::vector<FeedId>> submit(const std::vector<boost::json::object>& interactions) override {
    return add(prefix_ + "ixn", interactions);
  }
  Result<std::vector<Entry>> take(uint32_t node, size_t max) override { return readGroup(node, max, ">"); }
  Result<std::vector<Entry>> held(uint32_t node, size_t max) override { return readGroup(node, max, "0"); }
  // XREADGROUP from ">" (new entries, now this consumer's) or "0" (this consumer's pending ones).
  Result<std::vector<Entry>> readGroup(uint32_t node, size_t max, const char* from) {
    if (!groupMade_) {
      Result<store::RedisReply> g = redis_->command(prefix_, {"XGROUP", "CREATE", prefix_ + "ixn", "ors", "0", "MKSTREAM"});
      if (!g) return g.status();
      if (g->type == store::RedisReply::Type::kError && g->str.rfind("BUSYGROUP", 0) != 0) return failure(*g);
      groupMade_ = true;
    }
    Result<store::RedisReply> r = redis_->command(
        prefix_, {"XREADGROUP", "GROUP", "ors", "n" + std::to_string(node), "COUNT", std::to_string(max), "STREAMS",
                  prefix_ + "ixn", from});
    if (!r) return r.status();
    if (r->type == store::RedisReply::Type::kNil) return std::vector<Entry>();
    if (r->type != store::RedisReply::Type::kArray) return failure(*r);
    std::vector<Entry> out;
    for (const auto& stream : r->elements)
      if (stream.elements.size() == 2)
        for (const auto& item : stream.elements[1].elements) entryOf(item, &out);
    return out;
  }
  Status finish(FeedId id) override {
    Result<std::vector<store::RedisReply>> r = redis_->pipeline(
        prefix_, {{"XACK", prefix_ + "ixn", "ors", id.str()}, {"XDEL", prefix_ + "ixn", id.str()}});
    if (!r) return r.status();
    for (const auto& x : *r)
      if (x.type == store::RedisReply::Type::kError) return failure(x);
    return Status::ok();
  }
  Status renew(uint32_t node) override {
    std::string consumer = "n" + std::to_string(node);
    Result<store::RedisReply> p = redis_->command(prefix_, {"XPENDING", prefix_ + "ixn", "ors", "-", "+", "10000", consumer});
    if (!p) return p.status();
    if (p->type == store::RedisReply::Type::kError) return p->str.rfind("NOGROUP", 0) == 0 ? Status::ok() : failure(*p);
    store::RedisCluster::Command claim{"XCLAIM", prefix_ + "ixn", "ors", consumer, "0"};
    for (const auto& e : p->elements)
      if (!e.elements.empty()) claim.push_back(e.elements[0].str);
    if (claim.size() == 5) return Status::ok();
    claim.push_back("JUSTID");
    Result<store::RedisReply> c = redis_->command(prefix_, claim);
    if (!c) return c.status();
    return c->type == store::RedisReply::Type::kError ? failure(*c) : Status::ok();
  }

  Result<std::vector<FeedId>> reply(const std::vector<boost::json::object>& actions) override {
    return add(prefix_ + "replies", actions);
  }
  Result<std::vector<Entry>> replies(FeedId after, size_t max) override {
    return range(prefix_ + "replies", after, max);
  }

 private:
  static Status failure(const store::RedisReply& r) {
    return Status::error("the call feed: Redis answered " + (r.str.empty() ? std::string("an unexpected reply") : r.str));
  }

  Result<std::vector<FeedId>> add(const std::string& stream, const std::vector<boost::json::object>& bodies) {
    if (bodies.empty()) return std::vector<FeedId>();
    std::vector<store::RedisCluster::Command> cmds;
    std::string ts = std::to_string(nowMs());
    // About a million entries are kept: hours of calls at the rates one cluster routes.
    for (const auto& b : bodies)
      cmds.push_back({"XADD", stream, "MAXLEN", "~", "1000000", "*", "ts", ts, "body", boost::json::serialize(b)});
    // Acknowledged only once replicas have it too: a master's failover loses nothing acknowledged.
    if (replicas_ > 0) cmds.push_back({"WAIT", std::to_string(replicas_), "1000"});
    Result<std::vector<store::RedisReply>> r = redis_->pipeline(prefix_, cmds);
    if (!r) return r.status();
    if (replicas_ > 0) {
      if (r->back().integer < replicas_)
        return Status::error("the call feed: " + std::to_string(r->back().integer) + " of " + std::to_string(replicas_) +
                             " Redis replicas confirmed the write");
      r->pop_back();
    }
    std::vector<FeedId> ids;
    for (const auto& reply : *r) {
      std::optional<FeedId> id = reply.type == store::RedisReply::Type::kString ? FeedId::parse(reply.str) : std::nullopt;
      if (!id) return failure(reply);
      ids.push_back(*id);
    }
    return ids;
  }

  Result<std::vector<Entry>> range(const std::string& stream, FeedId after, size_t max) {
    Result<store::RedisReply> r =
        redis_->command(prefix_, {"XRANGE", stream, "(" + after.str(), "+", "COUNT", std::to_string(max)});
    if (!r) return r.status();
    if (r->type != store::RedisReply::Type::kArray) return failure(*r);
    std::vector<Entry> out;
    for (const auto& item : r->elements) entryOf(item, &out);
    return out;
  }

  // A stream entry [id, [field, value, ...]] (fields ts and body).
  static void entryOf(const store::RedisReply& item, std::vector<Entry>* out) {
    if (item.elements.size() < 2) return;
    std::optional<FeedId> id = FeedId::parse(item.elements[0].str);
    if (!id) return;
    Entry e;
    e.id = *id;
    const auto& fields = item.elements[1].elements;
    for (size_t i = 0; i + 1 < fields.size(); i += 2) {
      if (fields[i].str == "ts") e.timeMs = std::strtoll(fields[i + 1].str.c_str(), nullptr, 10);
      else if (fields[i].str == "body")
        if (auto body = parseObject(fields[i + 1].str)) e.body = std::move(*body);
    }
    out->push_back(std::move(e));
  }

  std::unique_ptr<store::RedisCluster> redis_;
  std::string prefix_;
  int replicas_;
  bool groupMade_ = false;
};

// ---------------------------------------------------------------- opened on first use

class LazyFeed final : public Feed {
 public:
  explicit LazyFeed(std::function<Result<std::unique_ptr<Feed>>()> open) : open_(std::move(open)) {}

  Result<std::vector<FeedId>> append(const std::vector<boost::json::object>& events) override {
    if (Status st = ensure(); !st) return st;
    return inner_->append(events);
  }
  Result<std::vector<Entry>> read(FeedId after, size_t max) override {
    if (Status st = ensure(); !st) return st;
    return inner_->read(after, max);
  }
  Result<FeedId> last() override {
    if (Status st = ensure(); !st) return st;
    return inner_->last();
  }
  Result<std::string> claim(const std::string& call, const std::string& value) override {
    if (Status st = ensure(); !st) return st;
    return inner_->claim(call, value);
  }
  Status endClaim(const std::string& call, const std::string& value) override {
    if (Status st = ensure(); !st) return st;
    return inner_->endClaim(call, value);
  }
  Result<std::optional<std::string>> claimOf(const std::string& call) override {
    if (Status st = ensure(); !st) return st;
    return inner_->claimOf(call);
  }
  Result<std::vector<std::optional<std::string>>> claimsOf(const std::vector<std::string>& calls) override {
    if (Status st = ensure(); !st) return st;
    return inner_->claimsOf(calls);
  }
  Status saveCursor(uint32_t node, FeedId id) override {
    if (Status st = ensure(); !st) return st;
    return inner_->saveCursor(node, id);
  }
  Result<FeedId> cursor(uint32_t node) override {
    if (Status st = ensure(); !st) return st;
    return inner_->cursor(node);
  }
  Result<std::vector<FeedId>> submit(const std::vector<boost::json::object>& interactions) override {
    if (Status st = ensure(); !st) return st;
    return inner_->submit(interactions);
  }
  Result<std::vector<Entry>> take(uint32_t node, size_t max) override {
    if (Status st = ensure(); !st) return st;
    return inner_->take(node, max);
  }
  Status finish(FeedId id) override {
    if (Status st = ensure(); !st) return st;
    return inner_->finish(id);
  }
  Result<std::vector<Entry>> held(uint32_t node, size_t max) override {
    if (Status st = ensure(); !st) return st;
    return inner_->held(node, max);
  }
  Status renew(uint32_t node) override {
    if (Status st = ensure(); !st) return st;
    return inner_->renew(node);
  }
  Result<std::vector<FeedId>> reply(const std::vector<boost::json::object>& actions) override {
    if (Status st = ensure(); !st) return st;
    return inner_->reply(actions);
  }
  Result<std::vector<Entry>> replies(FeedId after, size_t max) override {
    if (Status st = ensure(); !st) return st;
    return inner_->replies(after, max);
  }
  Result<FeedId> lastReply() override {
    if (Status st = ensure(); !st) return st;
    return inner_->lastReply();
  }

 private:
  Status ensure() {
    if (inner_) return Status::ok();
    auto now = std::chrono::steady_clock::now();
    if (now < nextTry_) return lastError_;
    nextTry_ = now + std::chrono::milliseconds(500);
    Result<std::unique_ptr<Feed>> opened = open_();
    if (!opened) {
      lastError_ = Status::error("the call feed cannot be opened yet: " + opened.status().message());
      return lastError_;
    }
    inner_ = std::move(*opened);
    return Status::ok();
  }

  std::function<Result<std::unique_ptr<Feed>>()> open_;
  std::unique_ptr<Feed> inner_;
  std::chrono::steady_clock::time_point nextTry_;
  Status lastError_ = Status::error("the call feed is not open");
};

}  // namespace

std::unique_ptr<Feed> openLazily(std::function<Result<std::unique_ptr<Feed>>()> open) {
  return std::make_unique<LazyFeed>(std::move(open));
}

Result<std::unique_ptr<Feed>> openSqliteFeed(const std::string& path) {
  auto feed = std::make_unique<SqliteFeed>();
  if (Status st = feed->open(path); !st) return st;
  return std::unique_ptr<Feed>(std::move(feed));
}

Result<std::unique_ptr<Feed>> openRedisFeed(const std::string& nodes, const std::string& cluster, int replicas) {
  auto redis = store::RedisCluster::connect(nodes, std::chrono::milliseconds(1000));
  if (!redis) return redis.status();
  return std::unique_ptr<Feed>(std::make_unique<RedisFeed>(std::move(*redis), cluster, replicas));
}

}  // namespace ors::calls
