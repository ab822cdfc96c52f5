// calls::Service: a primary's side of the call feed (docs/interactions.md).
//
// Telephony adapters post call events to any node; the node appends them to the one shared feed
// (append). Every primary reads the whole feed, in order, and for each call decides alone, the
// same way as every other node, who handles it: the call's first event at a routing-point DN
// ranks the live nodes for that call (assign.h). The first node claims the call in the feed's
// store and starts the routing point's strategy for it; the k-th node watches it, and claims it
// itself if nobody has after k x call-watching-timeout (the contract's reserved node, then the
// rest). A claim is set only where none is, so exactly one node starts one session per call, even
// when several try. Later events of a claimed call go to its session as external events.
//
// The node's read position is saved in the store, never past an event whose effect on a session
// is not durable yet (nor one still held for a watched call), so the instance that takes over a
// node goes on from it; sessions skip the events they already applied (Worker keeps each one's
// last feed position in its record).
//
// Strategies' routing actions (<send type="call">) go out on the reply channel (publish) once the
// step that sent them is durable; adapters read it (replies) and answer with call events such as
// `route.done`, carrying the action's `requestid`.
//
// Multimedia interactions go to a shared queue (submit); the service takes new ones while its node
// holds fewer than max-interactions, starts one session each (its call key "ixn:<queue id>"), and
// finishes the interaction when that session ends (ended).
//
// Threading: one thread of its own runs the feed (which blocks on I/O) and every decision; the
// public calls may come from any thread and their `done` runs on that thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "calls/feed.h"

namespace ors::calls {

// A call's session to start (unless it exists), then the events to deliver to it, in order.
struct CallStart {
  std::string sessionId;
  std::string call;
  std::string src;            // the routing point's strategy
  boost::json::object data;   // top-level <data> by id: {"call": first event}
  std::vector<Entry> events;
};

// The vendor's `interaction.added` event data for a session started for a call or an
// interaction (docs/dialect.md): {interactionid, focusdeviceid, interaction: {g_uid, udata,
// voice {callid, ani, dnis, type, media} | msgbased {queue, type, media, externalID}, parties}}.
// A call's ANI, DNIS and attached data come from its first event's `data` (`ani`, `dnis`,
// `userdata`); an interaction's from its own fields (`queue`, `externalid`, `userdata`).
boost::json::object interactionAdded(const CallStart& start);

class Service {
 public:
  struct Options {
    uint32_t node = 1;
    std::map<std::string, std::string> routingPoints;  // DN -> strategy src
    std::chrono::milliseconds watchingTimeout{5000};
    std::chrono::milliseconds poll{5};                 // how often the feed is read when idle
    // Multimedia: media type -> strategy src, and how many interactions the node holds at most.
    std::map<std::string, std::string> mediaStrategies;
    size_t maxInteractions = 100;
    // False for a node adopted by another's instance (server/adoption.h): it goes on with what
    // the node had (its sessions' calls, the calls it claimed, the interactions it held) and
    // takes no new call and no new interaction.
    bool takesNew = true;
  };
  // `durable` is called once with whether the effect reached the store.
  using Done = std::function<void(bool durable)>;
  struct Hooks {
    std::function<std::vector<uint32_t>()> liveNodes;  // thread-safe; this node included
    std::function<void(CallStart, Done)> start;
    std::function<void(const std::string& sessionId, const Entry& event, Done)> deliver;
  };

  Service(std::unique_ptr<Feed> feed, Options options, Hooks hooks);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Appends adapters' call events; `done` gets their feed ids once durable.
  void append(std::vector<boost::json::object> events, std::function<void(Result<std::vector<FeedId>>)> done);
  // Routing actions after `after`, waiting up to `wait` for the first one.
  void replies(FeedId after, size_t max, std::chrono::milliseconds wait,
               std::function<void(Result<std::vector<Entry>>)> done);
  // The session serving `call` ended: its claim is marked so, and later events of the call are
  // ignored.
  void ended(const std::string& call, const std::string& session);
  // Multimedia: queues an interaction ({"media": type, ...}) for whichever node has room.
  void submit(std::vector<boost::json::object> interactions, std::function<void(Result<std::vector<FeedId>>)> done);
  // The newest routing action's id (where a new reader starts).
  void lastReply(std::function<void(Result<FeedId>)> done);
  // Routing actions to the reply channel (retried until the store takes them); `published`
  // runs on the service's thread once it has.
  void publish(std::vector<boost::json::object> actions, std::function<void()> published = {});
  // Starts reading the feed from the node's saved position (the primary, once its sessions are
  // restored), knowing the calls (call id, session id) those sessions serve.
  void startReading(std::vector<std::pair<std::string, std::string>> mine = {});
  // Saves the read position and stops the thread (pending appends are answered first); calls
  // after it are answered at once with an error.
  void stop();

  // For tests and metrics (any thread).
  uint64_t callsStarted() const { return started_.load(std::memory_order_relaxed); }
  // The key a session serving interaction `id` has in place of a call id.
  static std::string interactionKey(FeedId id) { return "ixn:" + id.str(); }

 private:
  struct Call {
    enum class Kind : uint8_t { kMine, kTheirs, kWatching } kind = Kind::kTheirs;
    std::string session;          // kMine
    int64_t checkAtMs = 0;        // kWatching: when to look for a claim
    std::vector<Entry> held;      // kWatching: its events so far
    int64_t lastMs = 0;           // the last event (forgotten after an hour without one)
  };

  void tick();
  bool beginReading();
  void process(Entry e, const std::unordered_map<std::string, std::optional<std::string>>& claims);
  void decide(const std::string& call, std::vector<Entry> events);
  void claimAndStart(const std::string& call, std::vector<Entry> events);
  void watch(const std::string& call, std::vector<Entry> events, int64_t checkAtMs);
  void adopt(const std::string& call, const std::string& claim, std::vector<Entry> events);
  void deliver(const std::string& session, const Entry& e);
  void hold(FeedId id) { pending_.insert(id); }
  void release(FeedId id) { pending_.erase(pending_.find(id)); }
  void saveCursor();
  void pullInteractions();
  void flushOutbox();
  void answerReplies();
  static int64_t nowMs();

  std::unique_ptr<Feed> feed_;
  Options options_;
  Hooks hooks_;
  boost::asio::io_context ioc_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  boost::asio::steady_timer timer_;
  std::thread thread_;
  std::atomic<uint64_t> started_{0};
  std::atomic<bool> stopped_{false};

  // Service thread only.
  bool wantReading_ = false, reading_ = false, reportedDown_ = false, replaying_ = false;
  size_t replayed_ = 0;
  std::chrono::steady_clock::time_point replayStart_;
  FeedId cursor_;                // the last entry read
  FeedId replayUntil_;           // entries up to here were read by an earlier instance: ask claims
  FeedId savedCursor_;
  std::multiset<FeedId> pending_;  // read, but their effect not durable yet
  std::unordered_map<std::string, Call> calls_;
  std::multimap<int64_t, std::string> watches_;  // checkAtMs -> watched call (stale ones skipped)
  std::deque<boost::json::object> outbox_;
  std::vector<std::function<void()>> published_;  // for what is in outbox_
  struct Waiter {
    FeedId after;
    size_t max;
    std::chrono::steady_clock::time_point until;
    std::function<void(Result<std::vector<Entry>>)> done;
  };
  std::vector<Waiter> waiters_;
  int64_t lastSweepMs_ = 0, lastSaveMs_ = 0, lastRenewMs_ = 0;
  // Interactions this node holds: "ixn:<queue id>" (the session's call key) -> queue id.
  std::unordered_map<std::string, FeedId> inflight_;
  bool resumeHeld_ = true;  // the first pull goes on with what earlier instances took
};

}  // namespace ors::calls
