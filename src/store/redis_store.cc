// The Redis Cluster session store (see redis_store.h).
#include "store/redis_store.h"

#include <map>

#include "common/ids.h"
#include "store/redis_cluster.h"

namespace ors::store {

namespace {

using Kind = RedisReply::Type;

// KEYS[1] the node's lease, ARGV[1] the value this instance holds; then commands, each as its
// argument count followed by its arguments (all keys in the node's slot).
constexpr const char* kFencedWrite = R"(
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('FENCED the lease of this node is held by another instance') end
local i = 2
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
return 1)";

class RedisStore final : public GroupCommitStore {
 public:
  explicit RedisStore(RedisOptions o) : o_(std::move(o)), prefix_("ORS:" + o_.clusterName + ":") {}
  ~RedisStore() override { close(); }

  Status open() {
    auto c = RedisCluster::connect(o_.nodes, o_.timeout);
    if (!c) return c.status();
    redis_ = std::move(*c);
    startWriter();
    return Status::ok();
  }

  Status loadSessions(const std::function<void(SessionRecord&&)>& each) override {
    std::string index = nodeTag(o_.orsNode) + "sessions";
    Result<RedisReply> ids = redis_->command(index, {"SMEMBERS", index});
    if (!ids) return ids.status();
    if (ids->type == Kind::kError) return Status::error("Redis: " + ids->str);
    // In pipelines of 500: HGET doc and state of each.
    const auto& all = ids->elements;
    for (size_t i = 0; i < all.size(); i += 500) {
      std::vector<RedisCluster::Command> cmds;
      for (size_t j = i; j < all.size() && j < i + 500; ++j) cmds.push_back({"HMGET", sessionKey(all[j].str), "doc", "state"});
      Result<std::vector<RedisReply>> r = redis_->pipeline(index, cmds);
      if (!r) return r.status();
      for (size_t j = 0; j < r->size(); ++j) {
        const RedisReply& x = (*r)[j];
        if (x.type != Kind::kArray || x.elements.size() != 2 || x.elements[1].type != Kind::kString) continue;
        each(SessionRecord{all[i + j].str, x.elements[0].str, x.elements[1].str});
      }
    }
    return Status::ok();
  }

  Status loadDocuments(const std::function<void(DocumentRecord&&)>& each) override {
    std::string index = prefix_ + "{docs}";
    Result<RedisReply> hashes = redis_->command(index, {"SMEMBERS", index});
    if (!hashes) return hashes.status();
    if (hashes->type == Kind::kError) return Status::error("Redis: " + hashes->str);
    for (const RedisReply& h : hashes->elements) {
      Result<RedisReply> d = redis_->command(index, {"HMGET", docKey(h.str), "url", "source"});
      if (!d) return d.status();
      if (d->type != Kind::kArray || d->elements.size() != 2 || d->elements[1].type != Kind::kString) continue;
      each(DocumentRecord{h.str, d->elements[0].str, d->elements[1].str});
    }
    return Status::ok();
  }

 private:
  std::string nodeTag(uint32_t node) const { return prefix_ + "{n" + std::to_string(node) + "}:"; }
  std::string sessionKey(const std::string& id) const {
    return nodeTag(sessionIdNode(id).value_or(o_.orsNode)) + "s:" + id;
  }
  std::string docKey(const std::string& hash) const { return prefix_ + "{docs}:" + hash; }

  // Documents first (a session must never be stored without its document), then one
  // MULTI/EXEC per ORS node whose sessions the round touches (usually this node only).
  Status write(const Round& round) override {
    if (!round.documents.empty()) {
      std::vector<RedisCluster::Command> cmds;
      std::string index = prefix_ + "{docs}";
      for (const DocumentRecord* d : round.documents) {
        cmds.push_back({"HSET", docKey(d->hash), "url", d->url, "source", d->source});
        cmds.push_back({"SADD", index, d->hash});
      }
      Status st = run(index, cmds);
      if (!st) return st;
    }
    std::map<uint32_t, std::vector<RedisCluster::Command>> byNode;
    for (const auto& [id, r] : round.puts) {
      uint32_t node = sessionIdNode(r->id).value_or(o_.orsNode);
      auto& cmds = byNode[node];
      cmds.push_back({"HSET", sessionKey(r->id), "doc", r->docHash, "state", r->state});
      cmds.push_back({"SADD", nodeTag(node) + "sessions", r->id});
    }
    for (std::string_view idv : round.erases) {
      std::string id(idv);
      uint32_t node = sessionIdNode(id).value_or(o_.orsNode);
      auto& cmds = byNode[node];
      cmds.push_back({"DEL", sessionKey(id)});
      cmds.push_back({"SREM", nodeTag(node) + "sessions", id});
    }
    for (auto& [node, cmds] : byNode) {
      if (o_.fence) {
        // One script: the lease still ours, then every write, atomically.
        RedisCluster::Command eval{"EVAL", kFencedWrite, "1", nodeTag(node) + "lease", o_.fence()};
        for (const auto& c : cmds) {
          eval.push_back(std::to_string(c.size()));
          eval.insert(eval.end(), c.begin(), c.end());
        }
        cmds = {eval};
      } else {
        cmds.insert(cmds.begin(), {"MULTI"});
        cmds.push_back({"EXEC"});
      }
      if (o_.replicas > 0) cmds.push_back({"WAIT", std::to_string(o_.replicas), std::to_string(o_.timeout.count())});
      Status st = run(nodeTag(node) + "sessions", cmds);
      if (!st) return st;
    }
    return Status::ok();
  }

  Status run(const std::string& key, const std::vector<RedisCluster::Command>& cmds) {
    Result<std::vector<RedisReply>> r = redis_->pipeline(key, cmds);
    if (!r) return r.status();
    for (const RedisReply& x : *r)
      if (x.type == Kind::kError) return Status::error("cannot write the session store: Redis: " + x.str);
    for (size_t i = 0; i < cmds.size(); ++i) {
      const RedisReply& x = (*r)[i];
      if (cmds[i][0] == "EXEC" && x.type != Kind::kArray)
        return Status::error("cannot write the session store: the Redis transaction was aborted");
      if (cmds[i][0] == "WAIT" && x.integer < o_.replicas)
        return Status::error("cannot write the session store: Redis confirmed the write on " + std::to_string(x.integer) +
                             " of " + std::to_string(o_.replicas) + " replicas (persistence/redis-replicas)");
    }
    return Status::ok();
  }

  Result<SessionRecord> read(const std::string& id) override {
    Result<RedisReply> r = redis_->command(sessionKey(id), {"HMGET", sessionKey(id), "doc", "state"});
    if (!r) return r.status();
    if (r->type != Kind::kArray || r->elements.size() != 2 || r->elements[1].type != Kind::kString)
      return Status::error("no stored session '" + id + "'");
    return SessionRecord{id, r->elements[0].str, r->elements[1].str};
  }

  RedisOptions o_;
  std::string prefix_;
  std::unique_ptr<RedisCluster> redis_;
};

}  // namespace

std::string redisSessionIndex(const std::string& clusterName, uint32_t node) {
  return "ORS:" + clusterName + ":{n" + std::to_string(node) + "}:sessions";
}

Result<std::unique_ptr<SessionStore>> openRedisStore(const RedisOptions& options) {
  auto store = std::make_unique<RedisStore>(options);
  Status st = store->open();
  if (!st) return st;
  return std::unique_ptr<SessionStore>(std::move(store));
}

}  // namespace ors::store
