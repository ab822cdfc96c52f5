// A worker shard of orsd: one thread with its own event loop, SpiderMonkey engine and session
// runtime. Every session lives on exactly one worker, chosen by its id (workerOf), and everything
// a session does runs on that thread; other threads only post jobs. Nothing here blocks: timers
// are asio timers, requests that wait for <ws:response> wait in a table with a deadline.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "calls/feed.h"
#include "datamodel/datamodel.h"
#include "http/server.h"
#include "scxml/runtime.h"
#include "server/config.h"
#include "server/metrics.h"
#include "store/store.h"

namespace ors::server {

// SCXML C.2, receiving: the event a BasicHTTP POST carries. It is named by the `_scxmleventname`
// parameter (else HTTP.POST); the other parameters are _event.data; _event.raw is the request.
scxml::Event basicHttpEvent(boost::json::object params, std::string raw);

// The worker that owns a session id (by a hash of the id; stable for the process's life).
unsigned workerOf(std::string_view sessionId, unsigned workerCount);

class Worker {
 public:
  using Job = std::function<void(Worker&)>;
  // `store`: where sessions are written after each step (null: sessions live in memory only).
  Worker(unsigned index, unsigned count, const Config& config, Metrics& metrics, store::SessionStore* store);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Starts the thread. `elsewhere` delivers an event to a session of another worker; `loader`
  // reads the documents sessions refer to (<invoke src>, <session:start src>, <session:fetch>),
  // under the same rules as the documents of /scxml/session/start.
  void start(std::function<bool(const std::string&, scxml::Event)> elsewhere, scxml::Loader loader);
  // Runs the jobs already queued, then stops the thread and joins it.
  void stop();
  // Runs `job` on the worker thread: at once when called on it, else queued. False (and the job
  // is dropped) when the worker already has the configured maximum of queued jobs: the caller
  // answers 503.
  bool post(Job job, bool force = false);
  // The worker's event loop, which also serves the HTTP connections placed on it.
  boost::asio::io_context& ioContext() { return ioc_; }

  // ---- worker thread only ----
  scxml::Runtime& runtime() { return *runtime_; }
  std::string newSessionId() const;  // an id of this node that maps to this worker
  // Holds `reply` until the session answers `requestId` with <ws:response>, or 504 at timeout.
  void awaitResponse(const std::string& sessionId, const std::string& requestId, http::Reply reply);
  // Runs `job` on this worker after `delay` (e.g. a start with a future idealtime).
  void after(std::chrono::milliseconds delay, Job job);
  // Calls `then` once what the current job changed is durable (at once without a store), with
  // the store's verdict: the answer to a call waits for it.
  // Without a store `then` runs at once, never stored (nor wrapped: this is on every call's path).
  template <class F>
  void whenDurable(F&& then) {
    if (!store_) return then(Status::ok());
    durable_.emplace_back(std::forward<F>(then));
  }
  // Runs `then` with the session in memory: at once, or once an unloaded session is loaded back
  // from the store (persistence/unload-after). Callers post() as usual; afterJob follows.
  template <class F>
  void withSession(const std::string& sessionId, F&& then) {
    if (!unloaded_.count(sessionId) || runtime_->find(sessionId)) return then(*this);  // the usual case: no wrapping
    loadThen(sessionId, Job(std::forward<F>(then)));
  }
  // Ids of the sessions of this worker that are stored but not in memory.
  const std::unordered_set<std::string>& unloaded() const { return unloaded_; }
  // Start-up: brings back stored sessions of this worker (documents by hash). Returns how many
  // were restored; failures are logged and counted in `failed`.
  size_t restore(std::vector<store::SessionRecord> records,
                 const std::unordered_map<std::string, std::shared_ptr<const scxml::Document>>& documents,
                 size_t* failed);

  // Calls (docs/interactions.md). Where routing actions go once the step that sent them is
  // durable; `published` is to be called once the reply channel has them. Set before start().
  using Publish = std::function<void(std::vector<boost::json::object> actions, std::function<void()> published)>;
  void onCallActions(Publish publish) { publishActions_ = std::move(publish); }
  // The session now serves `call` (<send type="call"> goes to it by default).
  void setCall(const std::string& sessionId, const std::string& call) { callOf_[sessionId] = call; }
  void forgetCall(const std::string& sessionId) { callOf_.erase(sessionId); }
  // Called when a session serving a call ends (set before start()).
  void onCallEnded(std::function<void(const std::string& call, const std::string& session)> f) { callEnded_ = std::move(f); }
  // Session id -> the call it serves, for the sessions in memory or unloaded.
  const std::unordered_map<std::string, std::string>& calls() const { return callOf_; }
  // A call event from the feed, unless the session already applied it (or a later one): the
  // session's last feed position is kept in its record, so a node that replays the feed after
  // a failover delivers nothing twice. False if the session is not in memory.
  bool deliverFeed(const std::string& sessionId, const calls::Entry& entry);

  unsigned index() const { return index_; }
  // Publishes the session count now (worker thread), e.g. before answering a start.
  void publishCounts() { sessions_.store(runtime_->sessionCount() + unloaded_.size(), std::memory_order_release); }
  size_t sessionCount() const { return sessions_.load(std::memory_order_acquire); }

 private:
  void run();
  void afterJob();  // run sessions until idle, persist, re-arm the timer, publish counts
  void persist();   // writes the sessions that changed, with the answers waiting for them
  // A stored record back into the runtime (start-up, or loading an unloaded session).
  bool restoreRecord(const store::SessionRecord& r, std::string* why);
  void sweepIdle();  // unloads the sessions idle for persistence/unload-after
  void armWake();    // the timer that loads unloaded sessions when their delayed sends fall due
  bool deliverMissing(const std::string& sessionId, scxml::Event e);
  boost::json::array openRequests(const std::string& sessionId) const;  // ids awaiting <ws:response>
  scxml::Value ioprocessorsFor(const std::string& sessionId) const;
  scxml::SendOutcome sendBasicHttp(const std::string& fromId, scxml::SendRequest& req);
  scxml::SendOutcome sendCallAction(const std::string& fromId, scxml::SendRequest& req);
  std::string callFields(const std::string& sessionId) const;  // ,"call":...,"feed":... of its record
  void onRespond(const std::string& requestid, const std::string& type, const std::string& resultcode,
                 const scxml::Value& params);

  const unsigned index_, count_;
  const Config& config_;
  Metrics& metrics_;
  boost::asio::io_context ioc_;
  std::unique_ptr<boost::asio::steady_timer> timer_;
  std::unique_ptr<dm::Engine> engine_;
  std::unique_ptr<scxml::Runtime> runtime_;
  std::function<bool(const std::string&, scxml::Event)> elsewhere_;
  std::thread thread_;
  std::atomic<size_t> queued_{0};
  std::atomic<size_t> sessions_{0};
  uint64_t microstepsPublished_ = 0;  // worker thread only
  store::SessionStore* store_;
  std::vector<std::function<void(const Status&)>> durable_;  // worker thread only: for persist()
  std::unordered_set<std::string> storedDocs_;                // worker thread only: hashes written
  // Worker thread only: documents by hash (to load sessions back), idle tracking and unloading.
  std::unordered_map<std::string, std::shared_ptr<const scxml::Document>> docs_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> lastActive_;
  std::unordered_set<std::string> unloaded_;
  std::unordered_map<std::string, std::vector<Job>> loading_;
  std::multimap<std::chrono::steady_clock::time_point, std::string> wakes_;
  std::unique_ptr<boost::asio::steady_timer> sweepTimer_, wakeTimer_;
  size_t unloadedSinceShrink_ = 0;
  // Worker thread only: calls served by sessions, the last feed entry each applied, and routing
  // actions waiting for the step that sent them to be durable.
  std::unordered_map<std::string, std::string> callOf_;
  std::unordered_map<std::string, calls::FeedId> feedPos_;
  std::vector<boost::json::object> actions_;
  // Routing actions in the sessions' records until the reply channel confirms them: a primary
  // that dies after the step is durable but before they are out has its successor send them
  // (adapters drop an action they had, by session and requestid).
  std::unordered_map<std::string, std::vector<boost::json::object>> outbox_;
  Publish publishActions_;
  std::function<void(const std::string&, const std::string&)> callEnded_;
  void publish(std::vector<boost::json::object> actions);
  void loadThen(const std::string& sessionId, Job then);  // loads an unloaded session back, then runs `then`
  struct Pending {
    std::string sessionId;
    http::Reply reply;
    std::unique_ptr<boost::asio::steady_timer> timer;
  };
  std::map<std::string, Pending> pending_;  // worker thread only
};

}  // namespace ors::server
