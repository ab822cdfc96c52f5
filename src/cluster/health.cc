#include "cluster/health.h"

#include <boost/asio/post.hpp>

#include "http/client.h"

namespace ors::cluster {

HealthMonitor::HealthMonitor(boost::asio::io_context& ioc, const ClusterMap& map, uint32_t selfNode,
                             std::chrono::milliseconds period)
    : ioc_(ioc), map_(map), self_(selfNode), period_(period), timer_(ioc) {}

void HealthMonitor::start() { round(); }

void HealthMonitor::stop() {
  boost::asio::post(ioc_, [this] {
    stopped_ = true;
    timer_.cancel();
  });
}

Liveness HealthMonitor::liveness(const Instance& instance) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = state_.find(instance.url());
  return it == state_.end() ? Liveness::kUnknown : it->second.liveness;
}

void HealthMonitor::round() {
  if (stopped_) return;
  for (const auto& [id, node] : map_.nodes) {
    if (id == self_) continue;
    for (const Instance* i : {&node.primary, node.backup ? &*node.backup : nullptr}) {
      if (!i) continue;
      std::string url = i->url();
      // No redirect following here: a backup's answer is the news.
      http::request(ioc_, "GET", url + "/heartbeat", {}, {}, period_ * 2, [this, url](http::ClientResponse r) {
        std::lock_guard<std::mutex> lock(mu_);
        State& st = state_[url];
        if (r.status) {
          st.liveness = r.status == 200 ? Liveness::kPrimary : Liveness::kBackup;
          st.failures = 0;
        } else if (++st.failures >= 2) {  // one lost answer is not a death (nor a start-up race)
          st.liveness = Liveness::kDown;
        }
      });
    }
  }
  timer_.expires_after(period_);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) round();
  });
}

}  // namespace ors::cluster
