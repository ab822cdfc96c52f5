#include "server/worker.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <future>
#include <malloc.h>
#include <iostream>

#include "common/hash.h"
#include "common/ids.h"
#include "common/thread_name.h"
#include "http/client.h"
#include "http/url.h"
#include "datamodel/ecmascript/ecmascript.h"

namespace ors::server {

namespace net = boost::asio;

unsigned workerOf(std::string_view sessionId, unsigned workerCount) {
  return static_cast<unsigned>(fnv1a(sessionId) % workerCount);
}

Worker::Worker(unsigned index, unsigned count, const Config& config, Metrics& metrics, store::SessionStore* store)
    : index_(index), count_(count), config_(config), metrics_(metrics), store_(store) {}

Worker::~Worker() { stop(); }

std::string Worker::newSessionId() const {
  for (;;) {
    std::string id = ors::newSessionId(config_.nodeId);
    if (workerOf(id, count_) == index_) return id;
  }
}

void Worker::start(std::function<bool(const std::string&, scxml::Event)> elsewhere, scxml::Loader loader) {
  elsewhere_ = std::move(elsewhere);
  std::promise<void> ready;
  auto readyFuture = ready.get_future();
  thread_ = std::thread([this, &ready, loader = std::move(loader)] {
    nameThread("ors-worker-" + std::to_string(index_));
    dm::EcmaOptions eo;
    eo.scriptBudget = config_.scriptBudget;
    eo.vendor = {{"server", {{"name", "orsd-node" + std::to_string(config_.nodeId)},
                             {"cluster", config_.clusterName},
                             {"url", config_.selfUrl}}},
                 {"tenant", config_.tenant},
                 {"tenantid", std::to_string(config_.tenantId)},
                 {"lists", config_.lists},
                 {"specialDays", config_.specialDays},
                 {"annexes", config_.annexes}};
    engine_ = dm::makeEcmaScriptEngine(eo);
    timer_ = std::make_unique<net::steady_timer>(ioc_);
    scxml::Runtime::Options ro;
    ro.newSessionId = [this] { return newSessionId(); };
    ro.deliverElsewhere = [this](const std::string& id, scxml::Event e) {
      if (!isSessionId(id)) return false;
      if (workerOf(id, count_) == index_ && sessionIdNode(id) == config_.nodeId) return deliverMissing(id, std::move(e));
      return elsewhere_(id, std::move(e));
    };
    ro.deliverMissing = [this](const std::string& id, scxml::Event e) { return deliverMissing(id, std::move(e)); };
    ro.onRespond = [this](scxml::Session&, const std::string& requestid, const std::string& type,
                          const std::string& resultcode, const scxml::Value& params) {
      onRespond(requestid, type, resultcode, params);
    };
    ro.loader = loader;
    ro.ioprocessorsFor = [this](const std::string& id) { return ioprocessorsFor(id); };
    ro.fetchHttp = [this](const std::string& fromId, const std::string& requestId, scxml::FetchRequest f) {
      metrics_.fetch_total.fetch_add(1, std::memory_order_relaxed);
      auto t0 = std::chrono::steady_clock::now();
      bool text = f.textContent;
      http::request(ioc_, f.method, f.url, std::move(f.body), f.contentType, f.timeout,
                    [this, fromId, requestId, t0, text](http::ClientResponse r) {
                      metrics_.http_fetch_time.observe(std::chrono::steady_clock::now() - t0);
                      scxml::Event e;
                      e.type = scxml::Event::Type::kExternal;
                      if (r.status >= 200 && r.status < 300) {
                        boost::json::object hints;
                        for (auto& [k, v] : r.headers) hints[k] = v;
                        e.name = "session.fetch.done";
                        e.data = boost::json::object{{"requestid", requestId},
                                                     {"content", text ? scxml::Value(boost::json::string(r.body))
                                                                      : scxml::contentToValue(r.body)},
                                                     {"hints", std::move(hints)},
                                                     {"status", r.status}};
                      } else {
                        e.name = "error.session.fetch";
                        e.data = boost::json::object{
                            {"requestid", requestId},
                            {"error", r.status ? "HTTP status " + std::to_string(r.status) : r.error}};
                      }
                      runtime_->deliver(fromId, std::move(e));
                      afterJob();
                    },
                    f.headers);
    };
    ro.sendExternal = [this](const std::string& fromId, scxml::SendRequest& req) {
      return req.type == calls::kCallProcessorType ? sendCallAction(fromId, req) : sendBasicHttp(fromId, req);
    };
    ro.onLog = [](const scxml::Session& s, const std::string& label, const std::string& text) {
      std::clog << s.id() << " " << label << ": " << text << "\n";
    };
    ro.onFinished = [this](const scxml::Session& s) {
      metrics_.sessions_ended_total.fetch_add(1);
      if (auto c = callOf_.find(s.id()); c != callOf_.end() && callEnded_) callEnded_(c->second, s.id());
      if (!store_) {  // with a store, persist() forgets them with the record
        callOf_.erase(s.id());
        feedPos_.erase(s.id());
        outbox_.erase(s.id());
      }
    };
    ro.trackChanges = store_ != nullptr;
    runtime_ = std::make_unique<scxml::Runtime>(engine_.get(), ro);
    wakeTimer_ = std::make_unique<net::steady_timer>(ioc_);
    sweepTimer_ = std::make_unique<net::steady_timer>(ioc_);
    if (store_ && config_.unloadAfter.count() > 0) sweepIdle();
    ready.set_value();
    run();
    pending_.clear();
    loading_.clear();
    runtime_.reset();
    engine_.reset();
  });
  readyFuture.wait();
}

void Worker::run() {
  auto guard = net::make_work_guard(ioc_);
  ioc_.run();
}

void Worker::stop() {
  if (!thread_.joinable()) return;
  net::post(ioc_, [this] {
    for (auto& [id, p] : pending_) p.reply(http::errorResponse(http::beast_http::status::service_unavailable, "server is shutting down"));
    pending_.clear();
    timer_->cancel();
    wakeTimer_->cancel();
    sweepTimer_->cancel();
    ioc_.stop();
  });
  thread_.join();
}

bool Worker::post(Job job, bool force) {
  if (ioc_.get_executor().running_in_this_thread()) {
    job(*this);
    afterJob();
    return true;
  }
  if (!force && queued_.load(std::memory_order_relaxed) >= config_.maxQueuedEvents) return false;
  queued_.fetch_add(1, std::memory_order_relaxed);
  net::post(ioc_, [this, job = std::move(job)] {
    queued_.fetch_sub(1, std::memory_order_relaxed);
    job(*this);
    afterJob();
  });
  return true;
}

void Worker::afterJob() {
  runtime_->runUntilIdle();
  persist();
  publishCounts();
  uint64_t steps = runtime_->microsteps();
  metrics_.state_transitions_total.fetch_add(steps - microstepsPublished_, std::memory_order_relaxed);
  microstepsPublished_ = steps;
  auto due = runtime_->nextTimerDue();
  if (!due) return;
  timer_->expires_at(*due);
  timer_->async_wait([this](boost::system::error_code ec) {
    if (ec) return;  // re-armed or cancelled
    runtime_->fireDueTimers();
    afterJob();
  });
}

namespace {

// A session's durable record: its snapshot, its delayed sends (due times in wall-clock ms), and
// the ids of the requests it has not answered yet (their callers are gone after a restart; the
// ids say which answers were lost).
std::string sessionRecord(const std::string& snapshot, const std::vector<scxml::Runtime::PendingSend>& sends,
                          const boost::json::array& requests, const std::string& callFields) {
  boost::json::array list;
  auto steadyNow = scxml::Runtime::Clock::now();
  auto wallNow = std::chrono::system_clock::now();
  for (const auto& p : sends) {
    auto wall = wallNow + std::chrono::duration_cast<std::chrono::system_clock::duration>(p.due - steadyNow);
    list.push_back(boost::json::object{
        {"due", std::chrono::duration_cast<std::chrono::milliseconds>(wall.time_since_epoch()).count()},
        {"sendid", p.request->sendid},
        {"target", p.request->target},
        {"type", p.request->type},
        {"event", scxml::eventToValue(p.request->event)}});
  }
  std::string out = "{\"session\":";
  out += snapshot;
  if (!list.empty()) out += ",\"sends\":" + boost::json::serialize(list);
  if (!requests.empty()) out += ",\"requests\":" + boost::json::serialize(requests);
  out += callFields;
  out += '}';
  return out;
}

}  // namespace

std::string Worker::callFields(const std::string& sessionId) const {
  std::string out;
  if (auto c = callOf_.find(sessionId); c != callOf_.end()) out += ",\"call\":" + boost::json::serialize(boost::json::value(c->second));
  if (auto f = feedPos_.find(sessionId); f != feedPos_.end()) out += ",\"feed\":\"" + f->second.str() + "\"";
  if (auto o = outbox_.find(sessionId); o != outbox_.end() && !o->second.empty()) {
    boost::json::array list(o->second.begin(), o->second.end());
    out += ",\"outbox\":" + boost::json::serialize(list);
  }
  return out;
}

bool Worker::deliverFeed(const std::string& sessionId, const calls::Entry& entry) {
  if (!runtime_->find(sessionId)) return false;
  auto [it, fresh] = feedPos_.try_emplace(sessionId, entry.id);
  if (!fresh) {
    if (entry.id <= it->second) return true;  // applied before (a replay after a failover)
    it->second = entry.id;
  }
  scxml::Event e;
  e.type = scxml::Event::Type::kExternal;
  const boost::json::value* name = entry.body.if_contains("event");
  e.name = name && name->is_string() ? std::string(name->get_string()) : std::string("call.event");
  e.data = entry.body;
  e.origintype = calls::kCallProcessorType;
  std::string callEvent = e.name;
  runtime_->deliver(sessionId, std::move(e));
  // A strategy in the vendor's dialect follows its interaction through the vendor's interaction
  // events too (docs/dialect.md): the route request, the target answering, and the end of the
  // call.
  scxml::Session* s = runtime_->find(sessionId);
  if (s && s->document().vendor) {
    std::string call = entry.body.contains("call") && entry.body.at("call").is_string()
                           ? std::string(entry.body.at("call").as_string()) : std::string();
    std::string dn = entry.body.contains("dn") && entry.body.at("dn").is_string()
                         ? std::string(entry.body.at("dn").as_string()) : std::string();
    scxml::Event v;
    v.type = scxml::Event::Type::kExternal;
    if (callEvent == "call.routerequest") {
      v.name = "interaction.onrouterequest";
      v.data = boost::json::object{{"interactionid", call}, {"focusdeviceid", dn}};
    } else if (callEvent == "call.established") {
      v.name = "interaction.partystatechanged";  // a party (the target) answered
      v.data = boost::json::object{{"interactionid", call}, {"focusdeviceid", dn}};
    } else if (callEvent == "call.released" || callEvent == "call.abandoned") {
      v.name = "interaction.deleted";
      v.data = boost::json::object{{"interactionid", call}, {"resultof", "deletion"}};
    }
    if (!v.name.empty()) runtime_->deliver(sessionId, std::move(v));
  }
  return true;
}

// <send type="call" event="ACTION">: a routing action for the session's call (or the call named
// by `target`), with the send's data as its parameters. It leaves for the reply channel once the
// step is durable; the adapter's answer comes back through the feed as ACTION.done or
// error.ACTION with this send's id as `requestid`.
scxml::SendOutcome Worker::sendCallAction(const std::string& fromId, scxml::SendRequest& req) {
  std::string call = req.target;
  if (call.empty()) {
    auto it = callOf_.find(fromId);
    if (it == callOf_.end()) return scxml::SendOutcome::kUnreachable;  // this session serves no call
    call = it->second;
  }
  if (req.event.name.empty()) return scxml::SendOutcome::kInvalid;
  boost::json::object action{{"action", req.event.name},
                             {"call", call},
                             {"session", fromId},
                             {"node", config_.nodeId},
                             {"requestid", req.sendid},
                             {"params", req.event.data.is_null() ? boost::json::value(boost::json::object()) : req.event.data}};
  outbox_[fromId].push_back(action);
  actions_.push_back(std::move(action));
  return scxml::SendOutcome::kOk;
}

// Out to the reply channel; once it has them, they leave the sessions' outboxes (the records
// drop them at their next write).
void Worker::publish(std::vector<boost::json::object> actions) {
  if (!publishActions_ || actions.empty()) return;
  std::vector<std::pair<std::string, std::string>> keys;
  for (const auto& a : actions) {
    auto str = [&](const char* k) {
      const boost::json::value* v = a.if_contains(k);
      return v && v->is_string() ? std::string(v->get_string()) : std::string();
    };
    keys.emplace_back(str("session"), str("requestid"));
  }
  publishActions_(std::move(actions), [this, keys = std::move(keys)] {
    net::post(ioc_, [this, keys] {
      for (const auto& [session, requestid] : keys) {
        auto it = outbox_.find(session);
        if (it == outbox_.end()) continue;
        std::erase_if(it->second, [&](const boost::json::object& a) {
          const boost::json::value* v = a.if_contains("requestid");
          return v && v->is_string() && v->get_string() == requestid;
        });
        if (it->second.empty()) outbox_.erase(it);
      }
    });
  });
}

void Worker::persist() {
  if (!actions_.empty()) {
    std::vector<boost::json::object> out = std::move(actions_);
    actions_.clear();
    whenDurable([this, out = std::move(out)](const Status& st) mutable {
      if (!st) {
        std::clog << "orsd: " << out.size() << " routing actions held back: their step is not durable: " << st.message()
                  << "\n";
        return;
      }
      publish(std::move(out));
    });
  }
  if (!store_) return;
  std::vector<std::string> ids = runtime_->takeChanged();
  if (ids.empty() && durable_.empty()) return;
  store::Batch batch;
  Status snapFailure;
  const bool tracking = config_.unloadAfter.count() > 0;
  const auto now = std::chrono::steady_clock::now();
  for (const std::string& id : ids) {
    scxml::Session* s = runtime_->find(id);
    if (!s) {
      batch.erase.push_back(id);
      if (tracking) lastActive_.erase(id);
      callOf_.erase(id);
      feedPos_.erase(id);
      outbox_.erase(id);
      continue;
    }
    if (tracking) lastActive_[id] = now;
    Result<std::string> snap = s->snapshot();
    if (!snap) {
      // Its stored state stays the previous one: the calls waiting on this job fail.
      std::clog << id << " snapshot failed, its stored state is older: " << snap.status().message() << "\n";
      snapFailure = Status::error("the session's state cannot be stored: " + snap.status().message());
      continue;
    }
    const scxml::Document& doc = s->document();
    if (storedDocs_.insert(doc.hash).second) {
      batch.documents.push_back({doc.hash, doc.url, scxml::storedSource(doc)});
      docs_.emplace(doc.hash, s->sharedDocument());
    }
    batch.put.push_back({id, doc.hash, sessionRecord(*snap, runtime_->pendingSends(id), openRequests(id), callFields(id))});
  }
  batch.done = [this, waiting = std::move(durable_), snapFailure](const Status& written) mutable {
    if (!written) metrics_.store_failures_total.fetch_add(1, std::memory_order_relaxed);
    Status st = written ? snapFailure : written;
    net::post(ioc_, [this, waiting = std::move(waiting), st]() mutable {
      if (!st) storedDocs_.clear();  // the documents of a failed round may be missing: write again
      for (auto& then : waiting) then(st);
    });
  };
  durable_.clear();
  metrics_.store_writes_total.fetch_add(batch.put.size() + batch.erase.size(), std::memory_order_relaxed);
  store_->submit(std::move(batch));
}

size_t Worker::restore(std::vector<store::SessionRecord> records,
                       const std::unordered_map<std::string, std::shared_ptr<const scxml::Document>>& documents,
                       size_t* failed) {
  for (const auto& [hash, doc] : documents) docs_.emplace(hash, doc);
  size_t restored = 0;
  const bool lazy = config_.unloadAfter.count() > 0;
  for (const store::SessionRecord& r : records) {
    // With unloading on, a session that could be unloaded stays in the store until it is needed
    // (its first delayed send wakes it): a restart costs a parse per session, no JavaScript.
    if (lazy && docs_.count(r.docHash)) {
      boost::system::error_code ec;
      boost::json::value v = boost::json::parse(r.state, ec);
      const boost::json::object* rec = v.if_object();
      const boost::json::value* snap = rec ? rec->if_contains("session") : nullptr;
      const boost::json::object* so = snap ? snap->if_object() : nullptr;
      if (!ec && so && !so->contains("parent") && !so->contains("invokes") && !so->contains("queue") &&
          !rec->contains("requests")) {
        unloaded_.insert(r.id);
        if (const boost::json::value* sends = rec->if_contains("sends"); sends && sends->is_array()) {
          int64_t earliest = INT64_MAX;
          for (const boost::json::value& x : sends->get_array())
            if (const boost::json::value* due = x.is_object() ? x.get_object().if_contains("due") : nullptr; due && due->is_int64())
              earliest = std::min(earliest, due->get_int64());
          if (earliest != INT64_MAX) {
            auto wallDue = std::chrono::system_clock::time_point(std::chrono::milliseconds(earliest));
            auto inMs = std::chrono::duration_cast<std::chrono::milliseconds>(wallDue - std::chrono::system_clock::now());
            wakes_.emplace(std::chrono::steady_clock::now() + std::max(inMs, std::chrono::milliseconds(0)), r.id);
          }
        }
        ++restored;
        continue;
      }
    }
    std::string why;
    if (!restoreRecord(r, &why)) {
      std::clog << "orsd: cannot restore session " << r.id << ": " << why << "\n";
      ++*failed;
      continue;
    }
    ++restored;
  }
  // As stored: nothing to write back; idle from now on.
  runtime_->takeChanged();
  if (lazy) {
    auto now = std::chrono::steady_clock::now();
    runtime_->forEachSession([&](const scxml::Session& s) { lastActive_[s.id()] = now; });
  }
  armWake();
  return restored;
}

bool Worker::restoreRecord(const store::SessionRecord& r, std::string* why) {
  auto doc = docs_.find(r.docHash);
  if (doc == docs_.end()) {
    *why = "its document " + r.docHash + " is not in the store";
    return false;
  }
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(r.state, ec);
  const boost::json::object* rec = v.if_object();
  const boost::json::value* snap = rec ? rec->if_contains("session") : nullptr;
  if (ec || !snap || !snap->is_object()) {
    *why = "its record is not valid JSON";
    return false;
  }
  Result<scxml::Session*> s = runtime_->restoreSession(doc->second, snap->get_object());
  if (!s) {
    *why = s.status().message();
    return false;
  }
  storedDocs_.insert(r.docHash);
  auto steadyNow = scxml::Runtime::Clock::now();
  auto wallNow = std::chrono::system_clock::now();
  if (const boost::json::value* sends = rec->if_contains("sends"); sends && sends->is_array()) {
    for (const boost::json::value& x : sends->get_array()) {
      const boost::json::object* o = x.if_object();
      scxml::SendRequest req;
      const boost::json::value* due = o ? o->if_contains("due") : nullptr;
      const boost::json::value* ev = o ? o->if_contains("event") : nullptr;
      if (!due || !due->is_int64() || !ev || !scxml::eventFromValue(*ev, &req.event)) continue;
      auto str = [&](const char* k) {
        const boost::json::value* f = o->if_contains(k);
        return f && f->is_string() ? std::string(f->get_string()) : std::string();
      };
      req.sendid = str("sendid");
      req.target = str("target");
      req.type = str("type");
      // A send that fell due while the session was away fires at once.
      auto wallDue = std::chrono::system_clock::time_point(std::chrono::milliseconds(due->get_int64()));
      auto steadyDue = steadyNow + std::chrono::duration_cast<scxml::Runtime::Clock::duration>(wallDue - wallNow);
      runtime_->restoreSend(r.id, std::move(req), std::max(steadyDue, steadyNow));
    }
  }
  if (const boost::json::value* call = rec->if_contains("call"); call && call->is_string())
    callOf_[r.id] = std::string(call->get_string());
  if (const boost::json::value* feed = rec->if_contains("feed"); feed && feed->is_string())
    if (std::optional<calls::FeedId> at = calls::FeedId::parse(feed->get_string())) feedPos_[r.id] = *at;
  if (const boost::json::value* out = rec->if_contains("outbox"); out && out->is_array() && !out->get_array().empty()) {
    // Sent by a step that was durable, perhaps never out: out again.
    std::vector<boost::json::object> again;
    for (const boost::json::value& a : out->get_array())
      if (a.is_object()) again.push_back(a.get_object());
    outbox_[r.id] = again;
    publish(std::move(again));
  }
  if (const boost::json::value* open = rec->if_contains("requests"); open && open->is_array() && !open->get_array().empty())
    std::clog << "orsd: session " << r.id << " had " << open->get_array().size()
              << " requests open; their callers are gone: " << boost::json::serialize(*open) << "\n";
  return true;
}

boost::json::array Worker::openRequests(const std::string& sessionId) const {
  boost::json::array ids;
  for (const auto& [requestId, p] : pending_)
    if (p.sessionId == sessionId) ids.push_back(boost::json::value(requestId));
  return ids;
}

bool Worker::deliverMissing(const std::string& sessionId, scxml::Event e) {
  if (!unloaded_.count(sessionId)) return false;
  withSession(sessionId, [sessionId, e = std::move(e)](Worker& w) mutable { w.runtime().deliver(sessionId, std::move(e)); });
  return true;
}

void Worker::loadThen(const std::string& sessionId, Job then) {
  auto& waiting = loading_[sessionId];
  waiting.push_back(std::move(then));
  if (waiting.size() > 1) return;  // a load is under way
  store_->load(sessionId, [this, sessionId](Result<store::SessionRecord> r) {
    net::post(ioc_, [this, sessionId, r = std::move(r)]() mutable {
      std::vector<Job> jobs = std::move(loading_[sessionId]);
      loading_.erase(sessionId);
      std::string why = r ? std::string() : r.status().message();
      if (r && restoreRecord(*r, &why)) {
        unloaded_.erase(sessionId);
        metrics_.sessions_loaded_total.fetch_add(1, std::memory_order_relaxed);
        if (config_.unloadAfter.count() > 0) lastActive_[sessionId] = std::chrono::steady_clock::now();
      } else {
        std::clog << "orsd: cannot load session " << sessionId << " back: " << why << "\n";
      }
      for (Job& job : jobs) job(*this);
      afterJob();
    });
  });
}

constexpr size_t kUnloadBatch = 5000;  // sessions unloaded per sweep at most

// Every quarter of the idle time: sessions idle that long, with no parent, child, queued event
// or open request, are written once more and, once that is durable and they are still idle,
// leave memory. A delayed send of theirs brings them back when it falls due (wakes_).
void Worker::sweepIdle() {
  auto period = std::max<std::chrono::milliseconds>(config_.unloadAfter / 4, std::chrono::milliseconds(50));
  sweepTimer_->expires_after(period);
  sweepTimer_->async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    auto now = std::chrono::steady_clock::now();
    store::Batch batch;
    std::vector<std::pair<std::string, std::chrono::steady_clock::time_point>> leaving;
    for (auto it = lastActive_.begin(); it != lastActive_.end();) {
      const std::string& id = it->first;
      scxml::Session* s = runtime_->find(id);
      if (!s) {
        it = lastActive_.erase(it);
        continue;
      }
      if (leaving.size() >= kUnloadBatch) break;  // the rest at the next sweep
      if (now - it->second >= config_.unloadAfter && s->parentId.empty() && !s->hasInvocations() &&
          !s->hasQueuedEvents() && !s->stepping() && openRequests(id).empty()) {
        Result<std::string> snap = s->snapshot();
        if (snap) {
          batch.put.push_back({id, s->document().hash, sessionRecord(*snap, runtime_->pendingSends(id), {}, callFields(id))});
          leaving.emplace_back(id, it->second);
        }
      }
      ++it;
    }
    if (!leaving.empty()) {
      batch.done = [this, leaving = std::move(leaving)](const Status& st) {
        if (!st) return;  // not durable: they stay
        net::post(ioc_, [this, leaving]() {
          for (const auto& [id, since] : leaving) {
            auto it = lastActive_.find(id);
            if (it == lastActive_.end() || it->second != since) continue;  // active again meanwhile
            auto sends = runtime_->pendingSends(id);
            if (!runtime_->unload(id)) continue;
            lastActive_.erase(it);
            unloaded_.insert(id);
            metrics_.sessions_unloaded_total.fetch_add(1, std::memory_order_relaxed);
            if (!sends.empty()) wakes_.emplace(sends.front().due, id);
          }
          armWake();
          publishCounts();
          // Memory follows: the engine's heap and malloc's free pages go back to the system.
          unloadedSinceShrink_ += leaving.size();
          if (unloadedSinceShrink_ >= 1000 || runtime_->sessionCount() == 0) {
            unloadedSinceShrink_ = 0;
            dm::ecmaShrink(*engine_);
            malloc_trim(0);
          }
        });
      };
      store_->submit(std::move(batch));
    }
    sweepIdle();
  });
}

void Worker::armWake() {
  if (wakes_.empty()) return;
  wakeTimer_->expires_at(wakes_.begin()->first);
  wakeTimer_->async_wait([this](boost::system::error_code ec) {
    if (ec) return;  // re-armed
    auto now = std::chrono::steady_clock::now();
    while (!wakes_.empty() && wakes_.begin()->first <= now) {
      std::string id = wakes_.begin()->second;
      wakes_.erase(wakes_.begin());
      withSession(id, [](Worker&) {});  // loaded back, its overdue sends fire
    }
    armWake();
  });
}

void Worker::after(std::chrono::milliseconds delay, Job job) {
  auto timer = std::make_shared<net::steady_timer>(ioc_, delay);
  timer->async_wait([this, timer, job = std::move(job)](boost::system::error_code ec) {
    if (ec) return;
    job(*this);
    afterJob();
  });
}

scxml::Event basicHttpEvent(boost::json::object params, std::string raw) {
  scxml::Event e;
  e.type = scxml::Event::Type::kExternal;
  e.origintype = scxml::kBasicHttpProcessorType;
  auto it = params.find("_scxmleventname");
  if (it != params.end() && it->value().is_string() && !it->value().as_string().empty()) {
    e.name = std::string(it->value().as_string());
    params.erase(it);
  } else {
    e.name = "HTTP.POST";
  }
  e.raw = std::move(raw);
  if (!params.empty()) e.data = std::move(params);
  return e;
}

scxml::Value Worker::ioprocessorsFor(const std::string& sessionId) const {
  boost::json::object scxmlProc{{"location", "#_scxml_" + sessionId}};
  boost::json::object http{{"location", config_.selfUrl + "/scxml/session/" + sessionId + "/basichttp"}};
  return boost::json::object{{scxml::kScxmlProcessorType, scxmlProc},
                             {"scxml", scxmlProc},
                             {scxml::kBasicHttpProcessorType, http},
                             {"basichttp", http}};
}


// SCXML C.2, sending: an HTTP POST of `_scxmleventname` and the data as a form; <content> is sent
// as form-encoded text. The answer's status decides: anything but 2xx is error.communication.
scxml::SendOutcome Worker::sendBasicHttp(const std::string& fromId, scxml::SendRequest& req) {
  if (req.type != scxml::kBasicHttpProcessorType && req.type != "basichttp") return scxml::SendOutcome::kInvalid;
  http::ParsedUrl url;
  if (!http::parseHttpUrl(req.target, &url)) return scxml::SendOutcome::kUnreachable;
  std::string body;
  auto add = [&](const std::string& part) {
    if (!body.empty()) body += '&';
    body += part;
  };
  if (!req.event.name.empty()) add("_scxmleventname=" + http::percentEncode(req.event.name));
  if (const auto* obj = req.event.data.if_object()) {
    for (const auto& kv : *obj) {
      const auto& v = kv.value();
      std::string text = v.is_string() ? std::string(v.get_string()) : boost::json::serialize(v);
      add(http::percentEncode(kv.key()) + "=" + http::percentEncode(text));
    }
  } else if (const auto* str = req.event.data.if_string()) {
    add(http::percentEncode(*str));
  } else if (!req.event.data.is_null()) {
    add(http::percentEncode(boost::json::serialize(req.event.data)));
  }
  std::string sendid = req.sendid;
  // A location of this very server: deliver at once, in order with the session's other sends, as
  // the same request the network would have carried (SCXML C.2 receiving rules included).
  std::string prefix = config_.selfUrl + "/scxml/session/";
  constexpr std::string_view kSuffix = "/basichttp";
  if (req.target.rfind(prefix, 0) == 0 && req.target.size() == prefix.size() + 32 + kSuffix.size() &&
      req.target.compare(req.target.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0) {
    std::string target = req.target.substr(prefix.size(), 32);
    if (!isSessionId(target)) return scxml::SendOutcome::kUnreachable;
    std::string raw = "POST " + url.target + " HTTP/1.1\r\nHost: " + url.host + ":" + url.port +
                      "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + body;
    boost::json::object params;
    http::parseForm(body, params);
    scxml::Event e = basicHttpEvent(std::move(params), std::move(raw));
    if (workerOf(target, count_) == index_) {
      if (!runtime_->deliver(target, std::move(e))) return scxml::SendOutcome::kUnreachable;
      return scxml::SendOutcome::kOk;
    }
    return elsewhere_(target, std::move(e)) ? scxml::SendOutcome::kOk : scxml::SendOutcome::kUnreachable;
  }
  http::post(ioc_, req.target, std::move(body), "application/x-www-form-urlencoded", std::chrono::seconds(10),
             [this, fromId, sendid](unsigned status, const std::string& error) {
               if (status >= 200 && status < 300) return;
               scxml::Event e;
               e.name = "error.communication";
               e.type = scxml::Event::Type::kPlatform;
               e.sendid = sendid;
               e.data = boost::json::object{{"message", error.empty() ? "HTTP status " + std::to_string(status) : error}};
               runtime_->deliver(fromId, std::move(e));
               afterJob();
             });
  return scxml::SendOutcome::kOk;
}

void Worker::awaitResponse(const std::string& sessionId, const std::string& requestId, http::Reply reply) {
  auto timer = std::make_unique<net::steady_timer>(ioc_, config_.requestTimeout);
  timer->async_wait([this, requestId](boost::system::error_code ec) {
    if (ec) return;
    auto it = pending_.find(requestId);
    if (it == pending_.end()) return;
    metrics_.requests_timed_out_total.fetch_add(1);
    it->second.reply(http::errorResponse(http::beast_http::status::gateway_timeout,
                                         "the session did not answer request " + requestId + " in time"));
    pending_.erase(it);
  });
  pending_[requestId] = Pending{sessionId, std::move(reply), std::move(timer)};
}

void Worker::onRespond(const std::string& requestid, const std::string& type, const std::string& resultcode,
                       const scxml::Value& params) {
  auto it = pending_.find(requestid);
  if (it == pending_.end()) return;  // already timed out, or not a request of this worker
  http::Response res{http::beast_http::status::ok};
  res.set(http::beast_http::field::content_type, "application/json");
  boost::json::object body{{"requestid", requestid}, {"type", type}, {"params", params}};
  if (!resultcode.empty()) body["resultcode"] = resultcode;
  res.body() = boost::json::serialize(body);
  it->second.timer->cancel();
  // The answer leaves once the step that gave it is durable.
  whenDurable([reply = std::move(it->second.reply), res = std::move(res)](const Status& st) mutable {
    if (st) return reply(std::move(res));
    reply(http::errorResponse(http::beast_http::status::service_unavailable, st.message()));
  });
  pending_.erase(it);
}

}  // namespace ors::server
