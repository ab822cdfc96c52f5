// Runtime: runs sessions in-process on the calling thread. It is the SessionHost for `orsctl run`,
// the W3C runner, benchmarks and tests: it routes events between sessions (SCXML Event I/O
// Processor, SCXML C.1), keeps the timers of delayed <send>s, and starts invoked child sessions
// (<invoke type="scxml">). Time is real, or virtual (jumps to the next timer when all is idle).
// Not thread-safe: one thread drives a Runtime and all its sessions.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "datamodel/datamodel.h"
#include "scxml/interpreter.h"
#include "scxml/parser.h"

namespace ors::scxml {

// What a <session:fetch> asks for (Runtime::Options::fetchHttp).
struct FetchRequest {
  std::string url;     // with the query the params make for GET, DELETE and HEAD
  std::string method;  // upper case
  std::string body, contentType;
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds timeout{30000};
  bool textContent = false;  // the content as the text received (the vendor's dialect), else parsed
};

class Runtime final : public SessionHost {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    bool virtualTime = false;
    // Test mode (ctest label w3c-restore): after every macrostep each session is replaced by a
    // new Session restored from its snapshot, with a new datamodel environment; the restored
    // session's own snapshot must equal the one it came from. Failures are counted.
    bool restoreEveryStep = false;
    // Keep the list of sessions whose durable state may have changed (takeChanged()).
    bool trackChanges = false;
    Loader loader = loadLocalFile;
    // <log> output; default: "label: text" on stderr.
    std::function<void(const Session&, const std::string& label, const std::string& text)> onLog;
    // A top-level session (one nobody invoked) ended.
    std::function<void(const Session&)> onFinished;
    // Ids for new sessions (default: "s1", "s2", ...).
    std::function<std::string()> newSessionId;
    // An event for a session that is not in this runtime, though it may exist (unloaded): the
    // host's to deliver; false if it cannot (the event is then dropped, or error.communication).
    std::function<bool(const std::string& sessionId, Event event)> deliverMissing;
    // An event for `#_scxml_<id>` whose session is not in this runtime (another worker's):
    // returns false if no such session can exist (error.communication).
    std::function<bool(const std::string& sessionId, Event event)> deliverElsewhere;
    // The `_ioprocessors` value of a new session (default: the SCXML processor only).
    std::function<Value(const std::string& sessionId)> ioprocessorsFor;
    // A <send> of another type than the SCXML processor's (e.g. BasicHTTP), when it is due.
    // kOk: accepted (delivery errors come back later as error.communication events).
    std::function<SendOutcome(const std::string& fromId, SendRequest& request)> sendExternal;
    // <session:fetch> of an http:// URL: the host fetches and delivers session.fetch.done or
    // error.session.fetch to `fromId` itself. Without it only local documents can be fetched.
    std::function<void(const std::string& fromId, const std::string& requestId, FetchRequest request)> fetchHttp;
    // <ws:response> from a session (see SessionHost::respond).
    std::function<void(Session&, const std::string& requestid, const std::string& type,
                       const std::string& resultcode, const Value& params)>
        onRespond;
  };

  // `ecmascript` may be null when only null-datamodel documents are run.
  Runtime(dm::Engine* ecmascript, Options options);
  ~Runtime() override;

  // Creates and starts a session (its initial macrostep runs before this returns).
  // `observer`, if given, is installed before the initial macrostep (see Session::observer).
  // `id`: the session id to use (default: Options::newSessionId).
  Result<Session*> startSession(std::shared_ptr<const Document> doc, boost::json::object data = {},
                                std::function<void(const Session&, const Event*)> observer = {},
                                std::string id = {});
  // Adds a session restored from its snapshot (Session::restore), taken with `doc`; its queued
  // events are processed by the next runUntilIdle(). Delayed sends are not in a session's
  // snapshot: the host restores those with sendLater().
  Result<Session*> restoreSession(std::shared_ptr<const Document> doc, const boost::json::object& snapshot);
  Session* find(const std::string& sessionId);
  // Takes a stable session out of memory, its delayed sends too, without ending it (the host
  // has its snapshot and restores it when needed). Not for sessions with a parent or children.
  bool unload(const std::string& sessionId);
  // Queues an external event for a session; false if there is no such session.
  bool deliver(const std::string& sessionId, Event event);

  // Processes every queued event of every session until all are idle (timers not yet due stay).
  void runUntilIdle();
  // Runs sessions and timers until `done()` holds, no timer is pending, or `deadline` passes.
  // Returns false on deadline.
  bool runUntil(const std::function<bool()>& done, Clock::time_point deadline);
  bool hasTimers() const { return !timers_.empty(); }
  // For hosts with their own event loop: when the next timer is due, and firing the due ones
  // (follow with runUntilIdle()).
  std::optional<Clock::time_point> nextTimerDue() const;
  void fireDueTimers();
  // Ends a session as a terminate request does (no done event). False if there is none.
  bool terminate(const std::string& sessionId);
  // Every live session, in no particular order.
  template <typename F>
  void forEachSession(F&& f) const {
    for (const auto& [id, s] : sessions_)
      if (!s->finished()) f(*s);
  }
  size_t sessionCount() const { return sessions_.size(); }
  // trackChanges: the ids of sessions that stepped, got an event, started, ended, or whose
  // delayed sends changed since the last call (each once; ended ones are no longer found).
  std::vector<std::string> takeChanged();
  // A session's delayed sends not yet due, with their due times (for its durable record), and
  // one put back when the session is restored.
  struct PendingSend {
    Clock::time_point due;
    const SendRequest* request;
  };
  std::vector<PendingSend> pendingSends(const std::string& sessionId) const;
  void restoreSend(const std::string& fromId, SendRequest request, Clock::time_point due);
  // restoreEveryStep: restores done, and failures (with the last failure's message).
  uint64_t restores() const { return restores_; }
  uint64_t restoreFailures() const { return restoreFailures_; }
  const std::string& lastRestoreFailure() const { return lastRestoreFailure_; }

  // SessionHost
  SendOutcome send(Session& from, SendRequest request) override;
  bool cancelSend(Session& from, const std::string& sendid) override;
  Status invoke(Session& from, InvokeRequest request) override;
  void cancelInvoke(Session& from, const std::string& invokeid) override;
  void forward(Session& from, const std::string& invokeid, const Event& event) override;
  void log(Session& from, const std::string& label, const std::string& text) override;
  void finished(Session& from, const Value& doneData) override;
  void countMicrostep() override { ++microsteps_; }
  // Microsteps taken by every session so far.
  uint64_t microsteps() const { return microsteps_; }
  void respond(Session& from, const std::string& requestid, const std::string& type,
               const std::string& resultcode, const Value& params) override;
  Result<std::string> extension(Session& from, const ExtensionAction& action, const boost::json::object& attrs,
                                const Value& params) override;

 private:
  struct Timer {
    std::string from;  // sending session id
    SendRequest request;
  };
  Clock::time_point now() const;
  SendOutcome route(const std::string& fromId, SendRequest& request, bool checkOnly);
  Result<Session*> createSession(std::shared_ptr<const Document> doc, Session::Options options);
  void markReady(const std::string& sessionId);
  void changed(const std::string& sessionId) {
    if (options_.trackChanges) changed_.push_back(sessionId);
  }
  void reap();
  dm::Engine* engineFor(const Document& doc);
  // restoreEveryStep: a session finished a macrostep; replace it at the next stable point.
  void stepped(const std::string& sessionId);
  void replaceStepped();
  bool replaceByRestore(const std::string& sessionId);

  dm::Engine* ecmascript_;
  std::unique_ptr<dm::Engine> null_;
  Options options_;
  std::unordered_map<std::string, std::unique_ptr<Session>> sessions_;
  std::map<std::pair<std::string, std::string>, std::string> children_;  // (parent, invokeid) -> child
  std::vector<std::string> ready_;
  std::vector<std::string> dead_;
  std::vector<std::string> deferredTerminations_;  // sessions that were stepping when asked
  std::multimap<Clock::time_point, Timer> timers_;
  Clock::duration virtualOffset_{};
  uint64_t nextId_ = 0;
  uint64_t microsteps_ = 0;
  std::vector<std::string> stepped_;
  std::vector<std::string> changed_;
  // Delayed sends by sending session, for pendingSends and cancelSend.
  std::unordered_map<std::string, std::vector<std::multimap<Clock::time_point, Timer>::iterator>> timersOf_;
  void addTimer(Clock::time_point due, Timer timer);
  Timer takeTimer(std::multimap<Clock::time_point, Timer>::iterator it);  // unindexed and erased
  uint64_t restores_ = 0, restoreFailures_ = 0;
  std::string lastRestoreFailure_;
};

}  // namespace ors::scxml
