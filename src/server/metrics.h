// Server metrics, declared once (X-macro) and exported in Prometheus text format. The names are
// the vendor's performance counters (ORS contract section 8) with Prometheus conventions.
// Thread-safe: relaxed atomics.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace ors::server {

// name, help
#define ORS_COUNTERS(X)                                                                  \
  X(sessions_created_total, "Sessions created (the vendor's creation-session-rate)")   \
  X(sessions_ended_total, "Sessions that ended (final state or terminate)")            \
  X(events_total, "External events accepted over HTTP")                                \
  X(requests_total, "Requests (/request) accepted over HTTP")                          \
  X(requests_timed_out_total, "Requests answered 504 for want of a <ws:response>")      \
  X(rejected_busy_total, "Calls refused with 503 (session or queue limits)")           \
  X(http_errors_total, "HTTP calls answered with a 4xx status")                        \
  X(fetch_total, "Documents fetched (the vendor's fetch-rate)")                        \
  X(state_transitions_total, "Microsteps taken by sessions (the vendor's state-rate)")  \
  X(store_writes_total, "Session records written to or erased from the store")          \
  X(store_failures_total, "Store writes that failed (their calls were answered 503)")   \
  X(sessions_unloaded_total, "Idle sessions taken out of memory (persistence/unload-after)") \
  X(sessions_loaded_total, "Unloaded sessions loaded back for an event or a timer")           \
  X(redirects_total, "Calls answered 307 to the instance that serves them (another node, or this node's primary)")

// name, help; seconds
#define ORS_HISTOGRAMS(X)                                                                            \
  X(create_session_time, "Time to create a session and run its initial macrostep")                  \
  X(document_processing_time, "Time to load and compile a document (cache misses only)")            \
  X(scxml_event_queuing_time, "Time an external event waits before its worker processes it")        \
  X(http_fetch_time, "Time to fetch a document over HTTP")                                           \
  X(func_execution_time, "Time of an HTTP call from dispatch to reply")                              \
  X(redirect_time, "Time to answer a call with a redirect to the owning node")

class Histogram {
 public:
  static constexpr std::array<double, 12> kBounds = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                     0.005,   0.01,   0.025,   0.05,   0.1,   1.0};
  void observe(std::chrono::nanoseconds d) {
    double s = std::chrono::duration<double>(d).count();
    size_t i = 0;
    while (i < kBounds.size() && s > kBounds[i]) ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    sumNs_.fetch_add(static_cast<uint64_t>(d.count()), std::memory_order_relaxed);
  }
  void render(std::string& out, const std::string& name, const char* help) const;

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> buckets_{};
  std::atomic<uint64_t> sumNs_{0};
};

struct Metrics {
#define ORS_DECLARE_COUNTER(name, help) std::atomic<uint64_t> name{0};
  ORS_COUNTERS(ORS_DECLARE_COUNTER)
#undef ORS_DECLARE_COUNTER
#define ORS_DECLARE_HISTOGRAM(name, help) Histogram name;
  ORS_HISTOGRAMS(ORS_DECLARE_HISTOGRAM)
#undef ORS_DECLARE_HISTOGRAM
  std::atomic<int64_t> active_sessions{0};
  std::atomic<int64_t> pending_sessions{0};  // started with a future idealtime

  std::string render() const;
};

}  // namespace ors::server
