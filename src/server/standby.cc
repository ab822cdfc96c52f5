#include "server/standby.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include <boost/json/serialize.hpp>

#include "common/ids.h"
#include "http/url.h"
#include "store/redis_cluster.h"

namespace ors::server {

namespace bh = http::beast_http;

DataDirLock::~DataDirLock() {
  if (fd_ >= 0) ::close(fd_);
}

bool DataDirLock::tryAcquire(const std::string& url, std::string* error) {
  if (fd_ >= 0) return true;
  std::string path = dir_ + "/lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    *error = "cannot open " + path + ": " + std::strerror(errno);
    return false;
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) *error = "cannot lock " + path + ": " + std::strerror(errno);
    ::close(fd);
    return false;
  }
  publishPrimary(url);
  fd_.store(fd, std::memory_order_release);
  return true;
}

void DataDirLock::publishPrimary(const std::string& url) const {
  std::string tmp = dir_ + "/primary.tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << url << "\n";
  }
  std::rename(tmp.c_str(), (dir_ + "/primary").c_str());
}

std::optional<std::string> DataDirLock::primaryUrl() const {
  std::ifstream in(dir_ + "/primary");
  std::string url;
  if (!in || !std::getline(in, url) || url.empty()) return std::nullopt;
  return url;
}

namespace {

constexpr const char* kAcquire = R"(
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local t = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], t .. '|' .. ARGV[1], 'PX', ARGV[2])
return t)";
// Renews; or, when the lease expired while Redis could not be reached, takes it back if nobody
// acquired the node since (the fence counter is still at this holder's token).
constexpr const char* kRenew = R"(
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if v == false and redis.call('GET', KEYS[2]) == ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0)";

constexpr const char* kRelease = R"(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0)";

class RedisLease final : public Arbiter {
 public:
  RedisLease(std::unique_ptr<store::RedisCluster> redis, std::string prefix, std::chrono::milliseconds ttl,
             uint32_t holderNode)
      : redis_(std::move(redis)), lease_(prefix + "lease"), fence_(prefix + "fence"), ttl_(ttl), holderNode_(holderNode) {}

  bool tryAcquire(const std::string& url, std::string* error) override {
    if (!value_.empty()) return true;
    auto sent = std::chrono::steady_clock::now();
    Result<store::RedisReply> r =
        redis_->command(lease_, {"EVAL", kAcquire, "2", lease_, fence_, url + "|" + std::to_string(holderNode_),
                                 std::to_string(ttl_.count())});
    if (!r || r->type == store::RedisReply::Type::kError) {
      *error = r ? "Redis: " + r->str : r.status().message();
      refresh();
      return false;
    }
    if (r->integer == 0) {
      refresh();
      return false;
    }
    std::lock_guard<std::mutex> lock(mu_);
    value_ = std::to_string(r->integer) + "|" + url + "|" + std::to_string(holderNode_);
    primary_ = url;
    primaryNode_ = holderNode_;
    validUntil(sent);
    return true;
  }
  bool held() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return !value_.empty();
  }
  std::optional<std::string> primaryUrl() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return primary_;
  }
  std::optional<uint32_t> primaryNode() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return primaryNode_;
  }
  Keep keep() override {
    std::string mine = token();
    if (mine.empty()) {  // a backup: only learns where the primary is
      refresh();
      return Keep::kHeld;
    }
    auto sent = std::chrono::steady_clock::now();
    Result<store::RedisReply> r = redis_->command(
        lease_, {"EVAL", kRenew, "2", lease_, fence_, mine, std::to_string(ttl_.count()), mine.substr(0, mine.find('|'))});
    if (!r || r->type == store::RedisReply::Type::kError) return Keep::kUnknown;
    if (r->integer != 1) return Keep::kLost;
    validUntil(sent);
    return Keep::kHeld;
  }
  bool expired() const override {
    return std::chrono::steady_clock::now().time_since_epoch().count() > validUntil_.load(std::memory_order_acquire);
  }
  std::string token() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return value_;
  }
  std::chrono::milliseconds keepPeriod() const override { return ttl_ / 3; }
  void release() override {
    std::string mine = token();
    if (mine.empty()) return;
    redis_->command(lease_, {"EVAL", kRelease, "1", lease_, mine});
    validUntil_.store(0, std::memory_order_release);
    std::lock_guard<std::mutex> lock(mu_);
    value_.clear();
    primary_.reset();
    primaryNode_.reset();
  }

 private:
  // A backup learns the holder's URL from the lease.
  void refresh() {
    Result<store::RedisReply> r = redis_->command(lease_, {"GET", lease_});
    std::lock_guard<std::mutex> lock(mu_);
    if (r && r->type == store::RedisReply::Type::kString) {
      // "<token>|<url>|<holder's node>" (the node is absent in leases of older versions)
      size_t bar = r->str.find('|');
      if (bar == std::string::npos) return;
      size_t end = r->str.find('|', bar + 1);
      primary_ = r->str.substr(bar + 1, end == std::string::npos ? std::string::npos : end - bar - 1);
      primaryNode_.reset();
      if (end != std::string::npos) {
        char* stop = nullptr;
        unsigned long n = std::strtoul(r->str.c_str() + end + 1, &stop, 10);
        if (stop && *stop == '\0' && n > 0) primaryNode_ = static_cast<uint32_t>(n);
      }
    } else if (r) {
      primary_.reset();
      primaryNode_.reset();
    }
  }

  // Redis starts the lease's time to live when it runs the command, after `sent`: counting from
  // `sent`, this instance's view of its lease ends before Redis's does.
  void validUntil(std::chrono::steady_clock::time_point sent) {
    validUntil_.store((sent + ttl_).time_since_epoch().count(), std::memory_order_release);
  }

  std::unique_ptr<store::RedisCluster> redis_;
  std::string lease_, fence_;
  std::atomic<std::chrono::steady_clock::rep> validUntil_{0};
  std::chrono::milliseconds ttl_;
  mutable std::mutex mu_;
  uint32_t holderNode_;
  std::string value_;  // "<token>|<url>|<node>" while held
  std::optional<std::string> primary_;
  std::optional<uint32_t> primaryNode_;
};

}  // namespace

std::unique_ptr<Arbiter> makeRedisLease(const std::string& redisNodes, const std::string& clusterName, uint32_t node,
                                        std::chrono::milliseconds ttl, uint32_t holderNode, std::string* error) {
  auto redis = store::RedisCluster::connect(redisNodes, std::chrono::milliseconds(1000));
  if (!redis) {
    *error = redis.status().message();
    return nullptr;
  }
  return std::make_unique<RedisLease>(std::move(*redis), "ORS:" + clusterName + ":{n" + std::to_string(node) + "}:", ttl, holderNode);
}

http::Response backupResponse(const http::Request& request, const std::optional<std::string>& primaryUrl,
                              const Config& config) {
  std::string_view target = request.target();
  http::Target parsedTarget;
  bool parsed = http::parseTarget(target, &parsedTarget);
  const auto& seg = parsedTarget.segments;
  if (parsed && seg.size() == 1 && seg[0] == "heartbeat") {
    http::Response res{static_cast<bh::status>(config.heartbeatBackupStatus)};
    res.set(bh::field::content_type, "text/plain");
    res.body() = "backup\n";
    return res;
  }
  if (!primaryUrl) {
    http::Response res = http::errorResponse(bh::status::service_unavailable,
                                             "this instance is a backup and its primary is not known yet");
    res.set(bh::field::retry_after, "1");
    return res;
  }
  http::Response res{bh::status::temporary_redirect};
  res.set(bh::field::location, *primaryUrl + std::string(target));
  if (config.cookie && parsed && seg.size() >= 3 && seg[0] == "scxml" && seg[1] == "session" && isSessionId(seg[2]))
    res.set(bh::field::set_cookie, "ORSSESSIONID=" + std::string(seg[2]) + ".node" + std::to_string(config.nodeId) + "; Path=/");
  res.set(bh::field::content_type, "application/json");
  res.body() = boost::json::serialize(boost::json::object{{"redirect", *primaryUrl}, {"reason", "this instance is a backup"}});
  return res;
}

http::Response routedResponse(const http::Request& request, const cluster::Decision& decision,
                              const std::string& sessionId, uint32_t owner, const Config& config) {
  using Kind = cluster::Decision::Kind;
  std::string_view target = request.target();
  if (decision.kind == Kind::kOwnerUnknown)
    return http::errorResponse(bh::status::not_found,
                               "no session '" + sessionId + "': its node " + std::to_string(owner) + " is not in the cluster");
  if (decision.kind == Kind::kOwnerDown) {
    http::Response res = http::errorResponse(bh::status::service_unavailable,
                                             "node " + std::to_string(owner) + ", which owns this session, is not reachable");
    res.set(bh::field::retry_after, "1");
    return res;
  }
  http::Response res{bh::status::temporary_redirect};
  res.set(bh::field::location, decision.location + std::string(target));
  if (config.cookie && !sessionId.empty())
    res.set(bh::field::set_cookie, "ORSSESSIONID=" + sessionId + ".node" + std::to_string(owner) + "; Path=/");
  res.set(bh::field::content_type, "application/json");
  res.body() = boost::json::serialize(boost::json::object{
      {"redirect", decision.location},
      {"reason", decision.kind == Kind::kRedirectExternal  ? "another node owns this session (its external-url)"
                 : decision.kind == Kind::kRedirectAdopter ? "its node is down; another node adopted its sessions"
                                                           : "served by the owning node's primary"}});
  return res;
}

}  // namespace ors::server
