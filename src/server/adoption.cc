// Adopting a node whose instances are all gone (see adoption.h).
#include "server/adoption.h"

#include <algorithm>
#include <atomic>
#include <iostream>

#include "common/thread_name.h"
#include "store/redis_store.h"

namespace ors::server {

Adoption::Adoption(const Config& config, const cluster::ClusterMap& map, std::string clusterName, Hooks hooks)
    : config_(config), map_(map), clusterName_(std::move(clusterName)), hooks_(std::move(hooks)) {
  for (const auto& [id, node] : map_.nodes)
    if (id != config_.nodeId) watches_[id];
}

Adoption::~Adoption() { stop(); }

void Adoption::start(std::string selfUrl) {
  selfUrl_ = std::move(selfUrl);
  thread_ = std::thread([this] {
    nameThread("ors-adoption");
    loop();
  });
}

void Adoption::stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (auto& [id, w] : watches_)
    if (w.primary) handBack(id, w, /*freeLease=*/true, "this instance stops");
}

std::shared_ptr<Primary> Adoption::primaryOf(uint32_t node) const {
  auto it = watches_.find(node);
  if (it == watches_.end()) return nullptr;
  std::lock_guard<std::mutex> lk(mu_);
  const Watch& w = it->second;
  if (!w.primary || w.lease->expired()) return nullptr;
  return w.primary;
}

std::optional<std::string> Adoption::adopterOf(uint32_t node) const {
  auto it = watches_.find(node);
  if (it == watches_.end()) return std::nullopt;
  std::lock_guard<std::mutex> lk(mu_);
  return it->second.adopter;
}

void Adoption::loop() {
  // Renewals of adopted leases go at the lease's pace; a third of it, at most half a second.
  auto period = std::min<std::chrono::milliseconds>(config_.leaseTtl / 3, std::chrono::milliseconds(500));
  std::unique_lock<std::mutex> lk(mu_);
  while (!cv_.wait_for(lk, period, [this] { return stop_; })) {
    lk.unlock();
    for (auto& [id, w] : watches_) watch(id, w);
    lk.lock();
  }
}

void Adoption::watch(uint32_t node, Watch& w) {
  if (!w.lease) {
    std::string e;
    w.lease = makeRedisLease(config_.redisNodes, clusterName_, node, config_.leaseTtl, config_.nodeId, &e);
    if (!w.lease) return;  // Redis unreachable: next round
  }
  if (w.primary) {
    Arbiter::Keep k = w.lease->keep();
    if (k == Arbiter::Keep::kLost) return handBack(node, w, /*freeLease=*/false, "its lease was taken");
    if (hooks_.nodeAnswers(node)) handBack(node, w, /*freeLease=*/true, "an instance of the node is back");
    return;
  }
  w.lease->keep();  // not held: learns who holds it
  std::optional<std::string> holder = w.lease->primaryUrl();
  std::optional<uint32_t> holderNode = w.lease->primaryNode();
  {
    std::lock_guard<std::mutex> lk(mu_);
    bool adopted = holder && holderNode && *holderNode != node && *holder != selfUrl_;
    w.adopter = adopted ? holder : std::nullopt;
  }
  auto now = std::chrono::steady_clock::now();
  if (holder) {
    w.freeSince.reset();
    return;
  }
  if (!w.freeSince) w.freeSince = now;
  if (config_.nodeTakeoverTimeout.count() == 0 || now - *w.freeSince < config_.nodeTakeoverTimeout) return;
  if (!hooks_.serving() || !hasWork(node)) return;
  adopt(node, w);
}

bool Adoption::hasWork(uint32_t node) {
  if (!redis_) {
    auto c = store::RedisCluster::connect(config_.redisNodes, std::chrono::milliseconds(1000));
    if (!c) return false;
    redis_ = std::move(*c);
  }
  std::string index = store::redisSessionIndex(clusterName_, node);
  Result<store::RedisReply> n = redis_->command(index, {"SCARD", index});
  if (n && n->type == store::RedisReply::Type::kInteger && n->integer > 0) return true;
  if (!feed_) {
    auto f = calls::openRedisFeed(config_.redisNodes, clusterName_, 0);
    if (!f) return false;
    feed_ = std::move(*f);
  }
  Result<std::vector<calls::Entry>> held = feed_->held(node, 1);
  return held && !held->empty();
}

void Adoption::adopt(uint32_t node, Watch& w) {
  std::string e;
  if (!w.lease->tryAcquire(selfUrl_, &e)) return;  // an instance of the node, or another adopter, was first
  std::clog << "orsd: node " << node << " has had no primary for " << config_.nodeTakeoverTimeout.count()
            << " ms: adopting it" << std::endl;
  auto t0 = std::chrono::steady_clock::now();
  Arbiter* lease = w.lease.get();
  // Starting may take longer than the lease lives: it is renewed meanwhile.
  std::atomic<bool> started{false};
  std::thread renew([&] {
    auto period = lease->keepPeriod();
    std::unique_lock<std::mutex> lk(mu_);
    while (!cv_.wait_for(lk, period, [&] { return started.load() || stop_; })) {
      lk.unlock();
      lease->keep();
      lk.lock();
    }
  });
  Result<std::unique_ptr<Primary>> p = hooks_.start(node, [lease] { return lease->token(); });
  {
    std::lock_guard<std::mutex> lk(mu_);
    started = true;
  }
  cv_.notify_all();
  renew.join();
  if (!p) {
    std::clog << "orsd: adopting node " << node << " failed: " << p.status().message() << std::endl;
    w.lease->release();
    return;
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  size_t restored = (*p)->restored;
  {
    std::lock_guard<std::mutex> lk(mu_);
    w.primary = std::shared_ptr<Primary>(std::move(*p));
    w.adopter.reset();
  }
  std::clog << "orsd: node " << node << " adopted: restored " << restored << " sessions in " << ms << " ms" << std::endl;
}

void Adoption::handBack(uint32_t node, Watch& w, bool freeLease, const std::string& why) {
  std::shared_ptr<Primary> p;
  {
    std::lock_guard<std::mutex> lk(mu_);
    p = std::move(w.primary);  // no new call reaches it
  }
  std::clog << "orsd: handing node " << node << " back (" << why << ")" << std::endl;
  // The HTTP threads hold it only while they hand a call over.
  while (p.use_count() > 1) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  p->stop();
  p.reset();
  if (freeLease) w.lease->release();
  else w.lease.reset();  // a lost lease object keeps its stale value: a new one next round
  w.freeSince.reset();
  std::clog << "orsd: node " << node << " handed back" << std::endl;
}

}  // namespace ors::server
