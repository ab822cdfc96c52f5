#include "store/redis_cluster.h"

#include <hiredis/hiredis.h>

#include <thread>

namespace ors::store {

namespace {

constexpr size_t kSlots = 16384;

RedisReply convert(const redisReply* r) {
  RedisReply out;
  if (!r) return out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default:
      out.type = RedisReply::Type::kNil;
  }
  return out;
}

bool parseAddress(std::string_view s, RedisCluster::Address* out) {
  size_t colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string port(s.substr(colon + 1));
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return false;
  out->host = std::string(s.substr(0, colon));
  out->port = std::stoi(port);
  return out->port > 0 && out->port < 65536;
}

}  // namespace

uint16_t RedisCluster::slot(std::string_view key) {
  // The hash tag: the part between the first '{' and the next '}', when not empty.
  size_t open = key.find('{');
  if (open != std::string_view::npos) {
    size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) key = key.substr(open + 1, close - open - 1);
  }
  uint16_t crc = 0;  // CRC16-CCITT (XMODEM), as Redis Cluster uses
  for (char ch : key) {
    crc ^= static_cast<uint16_t>(static_cast<unsigned char>(ch) << 8);
    for (int i = 0; i < 8; ++i) crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021) : static_cast<uint16_t>(crc << 1);
  }
  return crc % kSlots;
}

Result<std::unique_ptr<RedisCluster>> RedisCluster::connect(const std::string& seeds, std::chrono::milliseconds timeout) {
  std::vector<Address> list;
  size_t start = 0;
  while (start <= seeds.size()) {
    size_t comma = seeds.find(',', start);
    std::string item = seeds.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) {
      Address a;
      if (!parseAddress(item, &a)) return Status::error("persistence/redis-nodes: '" + item + "' is not host:port");
      list.push_back(a);
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (list.empty()) return Status::error("persistence/redis-nodes is empty");
  std::unique_ptr<RedisCluster> c(new RedisCluster(std::move(list), timeout));
  Status st = c->refreshSlots();
  if (!st) return st;
  return c;
}

RedisCluster::~RedisCluster() {
  for (auto& [addr, ctx] : connections_) redisFree(ctx);
}

redisContext* RedisCluster::connection(const std::string& address, std::string* error) {
  auto it = connections_.find(address);
  if (it != connections_.end()) return it->second;
  Address a;
  if (!parseAddress(address, &a)) {
    *error = "bad address " + address;
    return nullptr;
  }
  timeval tv{static_cast<time_t>(timeout_.count() / 1000), static_cast<suseconds_t>((timeout_.count() % 1000) * 1000)};
  redisContext* ctx = redisConnectWithTimeout(a.host.c_str(), a.port, tv);
  if (!ctx || ctx->err) {
    *error = "cannot connect to Redis " + address + ": " + (ctx ? ctx->errstr : "out of memory");
    if (ctx) redisFree(ctx);
    return nullptr;
  }
  redisSetTimeout(ctx, tv);
  connections_[address] = ctx;
  return ctx;
}

void RedisCluster::drop(const std::string& address) {
  auto it = connections_.find(address);
  if (it == connections_.end()) return;
  redisFree(it->second);
  connections_.erase(it);
}

// Asks the known masters, then the seeds, for the slot map until one answers.
Status RedisCluster::refreshSlots(std::chrono::steady_clock::time_point deadline) {
  std::vector<std::string> candidates;
  for (const auto& [addr, ctx] : connections_) candidates.push_back(addr);
  for (const Address& a : seeds_) candidates.push_back(a.str());
  std::string lastError = "no Redis node to ask";
  for (const std::string& addr : candidates) {
    if (std::chrono::steady_clock::now() > deadline) break;
    redisContext* ctx = connection(addr, &lastError);
    if (!ctx) continue;
    auto* raw = static_cast<redisReply*>(redisCommand(ctx, "CLUSTER SLOTS"));
    if (!raw) {
      lastError = "Redis " + addr + ": " + ctx->errstr;
      drop(addr);
      continue;
    }
    RedisReply r = convert(raw);
    freeReplyObject(raw);
    if (r.type != RedisReply::Type::kArray) {
      lastError = "Redis " + addr + " is not a cluster node: " + r.str;
      continue;
    }
    std::vector<std::string> slots(kSlots);
    for (const RedisReply& range : r.elements) {
      if (range.elements.size() < 3 || range.elements[2].elements.size() < 2) continue;
      const RedisReply& master = range.elements[2];
      std::string host = master.elements[0].str.empty() ? Address().host : master.elements[0].str;
      std::string where = host + ":" + std::to_string(master.elements[1].integer);
      for (long long s = range.elements[0].integer; s <= range.elements[1].integer && s < static_cast<long long>(kSlots); ++s)
        slots[static_cast<size_t>(s)] = where;
    }
    slots_ = std::move(slots);
    return Status::ok();
  }
  return Status::error(lastError);
}

Result<std::vector<RedisReply>> RedisCluster::pipeline(std::string_view key, const std::vector<Command>& commands) {
  const uint16_t s = slot(key);
  std::string lastError;
  // A master that fails over takes the cluster's node timeout to be replaced: retry that long.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(6);
  for (int attempt = 0;; ++attempt) {
    if (attempt > 0) {
      if (std::chrono::steady_clock::now() > deadline) break;
      if (attempt > 1) std::this_thread::sleep_for(std::chrono::milliseconds(std::min(50 * attempt, 500)));
      Status st = refreshSlots(deadline);
      if (!st) {
        lastError = st.message();
        continue;
      }
    }
    if (slots_.empty() || slots_[s].empty()) {
      lastError = "no Redis master serves slot " + std::to_string(s);
      continue;
    }
    std::string addr = slots_[s];
    redisContext* ctx = connection(addr, &lastError);
    if (!ctx) continue;
    for (const Command& c : commands) {
      std::vector<const char*> argv;
      std::vector<size_t> lens;
      for (const std::string& a : c) {
        argv.push_back(a.data());
        lens.push_back(a.size());
      }
      redisAppendCommandArgv(ctx, static_cast<int>(argv.size()), argv.data(), lens.data());
    }
    std::vector<RedisReply> replies;
    bool lost = false, moved = false;
    for (size_t i = 0; i < commands.size(); ++i) {
      void* raw = nullptr;
      if (redisGetReply(ctx, &raw) != REDIS_OK) {
        lastError = "Redis " + addr + ": " + ctx->errstr;
        lost = true;
        break;
      }
      RedisReply r = convert(static_cast<redisReply*>(raw));
      freeReplyObject(raw);
      if (r.type == RedisReply::Type::kError && (r.str.rfind("MOVED ", 0) == 0 || r.str.rfind("ASK ", 0) == 0 ||
                                                 r.str.rfind("TRYAGAIN", 0) == 0 || r.str.rfind("CLUSTERDOWN", 0) == 0)) {
        moved = true;
        lastError = "Redis " + addr + ": " + r.str;
      }
      replies.push_back(std::move(r));
    }
    if (lost) {
      drop(addr);
      continue;
    }
    if (moved) continue;  // nothing of a pipeline to a wrong or busy node was applied
    return replies;
  }
  return Status::error("the Redis store is unreachable: " + lastError);
}

Result<RedisReply> RedisCluster::command(std::string_view key, const Command& c) {
  Result<std::vector<RedisReply>> r = pipeline(key, {c});
  if (!r) return r.status();
  return std::move((*r)[0]);
}

}  // namespace ors::store
