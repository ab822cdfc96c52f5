#include "server/metrics.h"

#include <cstdio>

namespace ors::server {

void Histogram::render(std::string& out, const std::string& name, const char* help) const {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
  uint64_t cumulative = 0;
  char line[256];
  for (size_t i = 0; i <= kBounds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    if (i < kBounds.size()) std::snprintf(line, sizeof line, "%s_bucket{le=\"%g\"} %llu\n", name.c_str(), kBounds[i], static_cast<unsigned long long>(cumulative));
    else std::snprintf(line, sizeof line, "%s_bucket{le=\"+Inf\"} %llu\n", name.c_str(), static_cast<unsigned long long>(cumulative));
    out += line;
  }
  std::snprintf(line, sizeof line, "%s_sum %.9f\n%s_count %llu\n", name.c_str(),
                static_cast<double>(sumNs_.load(std::memory_order_relaxed)) / 1e9, name.c_str(),
                static_cast<unsigned long long>(cumulative));
  out += line;
}

std::string Metrics::render() const {
  std::string out;
#define ORS_RENDER_COUNTER(name, help)                                                   \
  out += "# HELP ors_" #name " " help "\n# TYPE ors_" #name " counter\nors_" #name " " + \
         std::to_string(name.load(std::memory_order_relaxed)) + "\n";
  ORS_COUNTERS(ORS_RENDER_COUNTER)
#undef ORS_RENDER_COUNTER
  out += "# HELP ors_active_sessions Sessions alive in this instance\n# TYPE ors_active_sessions gauge\n";
  out += "ors_active_sessions " + std::to_string(active_sessions.load()) + "\n";
  out += "# HELP ors_pending_sessions Sessions waiting for their idealtime\n# TYPE ors_pending_sessions gauge\n";
  out += "ors_pending_sessions " + std::to_string(pending_sessions.load()) + "\n";
#define ORS_RENDER_HISTOGRAM(name, help) name.render(out, "ors_" #name "_seconds", help);
  ORS_HISTOGRAMS(ORS_RENDER_HISTOGRAM)
#undef ORS_RENDER_HISTOGRAM
  return out;
}

}  // namespace ors::server
