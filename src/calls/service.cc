#include "calls/service.h"

#include <boost/asio/post.hpp>
#include <iostream>

#include "calls/assign.h"
#include "common/ids.h"
#include "common/thread_name.h"

namespace ors::calls {

namespace net = boost::asio;

namespace {

constexpr size_t kReadBatch = 512;
// Calls forgotten after so long without an event: another node's after a minute (only events at a
// routing point, which come in the call's first seconds, could concern this node), one of this
// node's after an hour (its later events go to its session).
constexpr int64_t kForgetTheirsMs = 60'000;
constexpr int64_t kForgetMineMs = 3'600'000;
constexpr int64_t kRetryMs = 200;              // a claim lookup that failed (store unreachable)

std::string field(const boost::json::object& o, const char* key) {
  const boost::json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

// The position just before `id`: reading after it reads `id` again.
FeedId before(FeedId id) {
  if (id.seq > 0) return {id.ms, id.seq - 1};
  if (id.ms > 0) return {id.ms - 1, UINT64_MAX};
  return {};
}

}  // namespace

Service::Service(std::unique_ptr<Feed> feed, Options options, Hooks hooks)
    : feed_(std::move(feed)),
      options_(std::move(options)),
      hooks_(std::move(hooks)),
      work_(net::make_work_guard(ioc_)),
      timer_(ioc_) {
  thread_ = std::thread([this] {
    nameThread("ors-calls");
    ioc_.run();
  });
  net::post(ioc_, [this] { tick(); });
}

Service::~Service() { stop(); }

int64_t Service::nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// After stop() nothing is queued: a job left in the stopped loop would be destroyed with it, and
// with it the HTTP connection it answers, whose executor may belong to a worker already gone.
template <typename Done>
bool answeredStopping(const std::atomic<bool>& stopped, Done& done) {
  if (!stopped.load(std::memory_order_acquire)) return false;
  done(Status::error("the server is stopping"));
  return true;
}

void Service::append(std::vector<boost::json::object> events,
                     std::function<void(Result<std::vector<FeedId>>)> done) {
  if (answeredStopping(stopped_, done)) return;
  net::post(ioc_, [this, events = std::move(events), done = std::move(done)] { done(feed_->append(events)); });
}

void Service::replies(FeedId after, size_t max, std::chrono::milliseconds wait,
                      std::function<void(Result<std::vector<Entry>>)> done) {
  if (answeredStopping(stopped_, done)) return;
  net::post(ioc_, [this, after, max, wait, done = std::move(done)]() mutable {
    Result<std::vector<Entry>> r = feed_->replies(after, max);
    if (!r || !r->empty() || wait.count() <= 0) return done(std::move(r));
    waiters_.push_back({after, max, std::chrono::steady_clock::now() + wait, std::move(done)});
  });
}

void Service::submit(std::vector<boost::json::object> interactions,
                     std::function<void(Result<std::vector<FeedId>>)> done) {
  if (answeredStopping(stopped_, done)) return;
  net::post(ioc_, [this, interactions = std::move(interactions), done = std::move(done)] {
    done(feed_->submit(interactions));
  });
}

// Takes what the node has room for (first, once and whatever the room, what an earlier instance
// of the node took), and starts one session for each (a claim on its key makes sure of one, even
// if it were ever taken twice).
boost::json::object interactionAdded(const CallStart& start) {
  auto str = [](const boost::json::object& o, const char* key, const std::string& otherwise = {}) {
    const boost::json::value* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->get_string()) : otherwise;
  };
  auto obj = [](const boost::json::object& o, std::initializer_list<const char*> keys) {
    for (const char* k : keys)
      if (const boost::json::value* v = o.if_contains(k); v && v->is_object()) return v->get_object();
    return boost::json::object{};
  };
  boost::json::object out, ixn;
  if (const boost::json::value* c = start.data.if_contains("call"); c && c->is_object()) {
    const boost::json::object& first = c->get_object();
    std::string dn = str(first, "dn");
    boost::json::object data = obj(first, {"data"});
    ixn["g_uid"] = start.call;
    ixn["udata"] = obj(data, {"userdata", "udata"});
    ixn["voice"] = boost::json::object{{"callid", start.call}, {"connid", str(data, "connid", start.call)},
                                       {"ani", str(data, "ani")},
                                       {"dnis", str(data, "dnis", dn)}, {"type", str(data, "calltype", "inbound")},
                                       {"media", "TMediaVoice"}};
    ixn["parties"] = boost::json::array{boost::json::object{{"device", dn}, {"devicetype", "routepoint"}}};
    out["interactionid"] = start.call;
    out["focusdeviceid"] = dn;
  } else if (const boost::json::value* i = start.data.if_contains("interaction"); i && i->is_object()) {
    const boost::json::object& body = i->get_object();
    std::string id = str(body, "id", start.call);
    ixn["g_uid"] = id;
    ixn["udata"] = obj(body, {"userdata", "udata"});
    ixn["msgbased"] = boost::json::object{{"queue", str(body, "queue")}, {"type", "InboundNew"},
                                          {"media", str(body, "media")}, {"externalID", str(body, "externalid")}};
    ixn["parties"] = boost::json::array{};
    out["interactionid"] = id;
    out["focusdeviceid"] = "";
  } else {
    return {};
  }
  out["interaction"] = std::move(ixn);
  return out;
}

void Service::pullInteractions() {
  if (options_.mediaStrategies.empty()) return;
  if (!resumeHeld_ && (!options_.takesNew || inflight_.size() >= options_.maxInteractions)) return;
  Result<std::vector<Entry>> taken = resumeHeld_ ? feed_->held(options_.node, 100'000)
                                                 : feed_->take(options_.node, options_.maxInteractions - inflight_.size());
  if (!taken) return;
  resumeHeld_ = false;
  for (Entry& e : *taken) {
    std::string key = interactionKey(e.id);
    if (inflight_.count(key)) continue;  // its session came back with the node's sessions
    auto strategy = options_.mediaStrategies.find(field(e.body, "media"));
    if (strategy == options_.mediaStrategies.end()) {
      std::clog << "orsd: interaction " << e.id.str() << ": no strategy for media '" << field(e.body, "media")
                << "' (media-strategies); dropped\n";
      feed_->finish(e.id);
      continue;
    }
    std::string mine = std::to_string(options_.node) + "|" + newSessionId(options_.node);
    Result<std::string> claim = feed_->claim(key, mine);
    if (!claim) continue;  // stays taken by this node: its turn comes back with the next instance
    size_t bar = claim->find('|');
    if (claim->size() > 6 && claim->compare(claim->size() - 6, 6, "|ended") == 0) {  // done, not yet finished
      feed_->finish(e.id);
      continue;
    }
    if (claim->substr(0, bar) != std::to_string(options_.node)) continue;  // another node runs it
    inflight_[key] = e.id;
    CallStart start;
    start.sessionId = claim->substr(bar + 1, claim->find('|', bar + 1) - bar - 1);
    start.call = key;
    start.src = strategy->second;
    boost::json::object data = e.body;
    data["id"] = e.id.str();
    start.data = boost::json::object{{"interaction", std::move(data)}};
    hooks_.start(std::move(start), [](bool) {});
  }
}

void Service::ended(const std::string& call, const std::string& session) {
  net::post(ioc_, [this, call, session] {
    if (auto ixn = inflight_.find(call); ixn != inflight_.end()) {
      if (Status st = feed_->finish(ixn->second); !st) std::clog << "orsd: interaction " << call << ": " << st.message() << "\n";
      inflight_.erase(ixn);
    }
    auto it = calls_.find(call);
    if (it != calls_.end() && it->second.kind == Call::Kind::kMine && it->second.session == session) {
      it->second.kind = Call::Kind::kTheirs;  // nobody's now: forgotten after a minute
      it->second.session.clear();
    }
    // Best effort: if the store misses it, a later event of the call at a routing point finds
    // the session gone and starts nothing (Api::startCall looks for it first).
    if (Status st = feed_->endClaim(call, std::to_string(options_.node) + "|" + session); !st)
      std::clog << "orsd: call " << call << ": " << st.message() << "\n";
  });
}

void Service::lastReply(std::function<void(Result<FeedId>)> done) {
  if (answeredStopping(stopped_, done)) return;
  net::post(ioc_, [this, done = std::move(done)] { done(feed_->lastReply()); });
}

void Service::publish(std::vector<boost::json::object> actions, std::function<void()> published) {
  net::post(ioc_, [this, actions = std::move(actions), published = std::move(published)]() mutable {
    for (auto& a : actions) outbox_.push_back(std::move(a));
    if (published) published_.push_back(std::move(published));
    flushOutbox();
  });
}

void Service::startReading(std::vector<std::pair<std::string, std::string>> mine) {
  net::post(ioc_, [this, mine = std::move(mine)] {
    for (const auto& [call, session] : mine) {
      if (call.rfind("ixn:", 0) == 0) {
        if (std::optional<FeedId> id = FeedId::parse(std::string_view(call).substr(4))) inflight_[call] = *id;
        continue;
      }
      Call& c = calls_[call];
      c.kind = Call::Kind::kMine;
      c.session = session;
      c.lastMs = nowMs();
    }
    wantReading_ = true;
  });
}

// Where this instance starts: the node's saved position; what earlier instances read, up to
// the newest entry now, is replayed with the claims looked up.
bool Service::beginReading() {
  Result<FeedId> at = feed_->cursor(options_.node);
  Result<FeedId> last = at ? feed_->last() : at.status();
  if (!at || !last) {
    if (!reportedDown_) std::clog << "orsd: the call feed: " << (at ? last.status() : at.status()).message() << "\n";
    reportedDown_ = true;
    return false;
  }
  reportedDown_ = false;
  cursor_ = savedCursor_ = *at;
  replayUntil_ = *last;
  replayStart_ = std::chrono::steady_clock::now();
  replaying_ = cursor_ < replayUntil_;
  replayed_ = 0;
  return true;
}

void Service::stop() {
  if (!thread_.joinable()) return;
  stopped_.store(true, std::memory_order_release);
  bool wasReading = false;
  net::post(ioc_, [this, &wasReading] {
    wasReading = reading_;
    reading_ = false;
    timer_.cancel();
    for (auto& w : waiters_) w.done(std::vector<Entry>());
    waiters_.clear();
    work_.reset();
  });
  thread_.join();
  // What was posted meanwhile runs now (its answers go out; nothing reads the feed any more).
  ioc_.restart();
  ioc_.poll();
  // The position is saved last, past what was settled meanwhile (a start whose answer came
  // while stopping releases its events only now).
  if (wasReading) saveCursor();
}

void Service::tick() {
  if (!work_.owns_work()) return;  // stopping
  bool more = false;
  if (wantReading_ && !reading_) reading_ = beginReading();
  if (reading_) {
    Result<std::vector<Entry>> r = feed_->read(cursor_, kReadBatch);
    if (r) {
      reportedDown_ = false;
      // Entries an earlier instance of this node read may belong to calls it claimed: their
      // claims, in one round trip for the batch.
      std::unordered_map<std::string, std::optional<std::string>> claims;
      std::vector<std::string> ask;
      for (const Entry& e : *r) {
        if (!(e.id <= replayUntil_)) break;
        std::string call = field(e.body, "call");
        if (!call.empty() && !calls_.count(call) && claims.emplace(call, std::nullopt).second) ask.push_back(call);
      }
      if (!ask.empty()) {
        Result<std::vector<std::optional<std::string>>> got = feed_->claimsOf(ask);
        if (!got) {  // read the batch again at the next tick
          timer_.expires_after(std::chrono::milliseconds(kRetryMs));
          timer_.async_wait([this](boost::system::error_code ec) {
            if (!ec) tick();
          });
          return;
        }
        for (size_t i = 0; i < ask.size(); ++i) claims[ask[i]] = std::move((*got)[i]);
      }
      for (Entry& e : *r) {
        cursor_ = e.id;
        process(std::move(e), claims);
      }
      more = r->size() == kReadBatch;
      if (replaying_) {
        replayed_ += r->size();
        if (!(cursor_ < replayUntil_)) {
          replaying_ = false;
          std::clog << "orsd: the call feed: went through the " << replayed_ << " entries earlier instances read in "
                    << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - replayStart_).count()
                    << " ms" << std::endl;
        }
      }
    } else if (!reportedDown_) {
      reportedDown_ = true;
      std::clog << "orsd: the call feed: " << r.status().message() << std::endl;
    }
  }
  int64_t now = nowMs();
  // Watched calls whose turn came: claimed meanwhile, or ours to claim.
  std::vector<std::string> due;
  while (!watches_.empty() && watches_.begin()->first <= now) {
    auto w = watches_.begin();
    auto it = calls_.find(w->second);
    if (it != calls_.end() && it->second.kind == Call::Kind::kWatching && it->second.checkAtMs == w->first)
      due.push_back(w->second);
    watches_.erase(w);
  }
  Result<std::vector<std::optional<std::string>>> claims = feed_->claimsOf(due);
  for (size_t i = 0; i < due.size(); ++i) {
    Call& c = calls_[due[i]];
    if (!claims) {
      c.checkAtMs = now + kRetryMs;
      watches_.emplace(c.checkAtMs, due[i]);
      continue;
    }
    std::vector<Entry> events = std::move(c.held);
    for (const Entry& e : events) release(e.id);
    if ((*claims)[i]) adopt(due[i], *(*claims)[i], std::move(events));
    else claimAndStart(due[i], std::move(events));
  }
  if (reading_) {
    pullInteractions();
    if (now - lastRenewMs_ >= 1000 && !inflight_.empty()) {
      lastRenewMs_ = now;
      feed_->renew(options_.node);
    }
  }
  flushOutbox();
  answerReplies();
  if (now - lastSweepMs_ > 10'000) {
    lastSweepMs_ = now;
    for (auto it = calls_.begin(); it != calls_.end();) {
      const Call& c = it->second;
      bool forget = (c.kind == Call::Kind::kTheirs && now - c.lastMs > kForgetTheirsMs) ||
                    (c.kind == Call::Kind::kMine && now - c.lastMs > kForgetMineMs);
      it = forget ? calls_.erase(it) : std::next(it);
    }
  }
  if (reading_ && now - lastSaveMs_ >= 200) {
    lastSaveMs_ = now;
    saveCursor();
  }
  timer_.expires_after(more ? std::chrono::milliseconds(0) : options_.poll);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) tick();
  });
}

void Service::process(Entry e, const std::unordered_map<std::string, std::optional<std::string>>& claims) {
  std::string call = field(e.body, "call");
  if (call.empty()) return;
  auto it = calls_.find(call);
  if (it != calls_.end()) {
    Call& c = it->second;
    c.lastMs = nowMs();
    switch (c.kind) {
      case Call::Kind::kMine:
        deliver(c.session, e);
        break;
      case Call::Kind::kTheirs:
        break;
      case Call::Kind::kWatching:
        hold(e.id);
        c.held.push_back(std::move(e));
        break;
    }
    return;
  }
  // A call this instance knows nothing of. Entries an earlier instance of this node read may
  // belong to calls it claimed: the store says.
  if (e.id <= replayUntil_) {
    auto claim = claims.find(call);
    if (claim != claims.end() && claim->second) return adopt(call, *claim->second, {std::move(e)});
  }
  // Only a call at a routing point is anybody's (and not an adopted node's).
  if (!options_.takesNew || !options_.routingPoints.count(field(e.body, "dn"))) return;
  decide(call, {std::move(e)});
}

void Service::decide(const std::string& call, std::vector<Entry> events) {
  std::vector<uint32_t> live = hooks_.liveNodes();
  if (std::find(live.begin(), live.end(), options_.node) == live.end()) live.push_back(options_.node);
  std::vector<uint32_t> rank = rankNodes(call, std::move(live));
  size_t pos = static_cast<size_t>(std::find(rank.begin(), rank.end(), options_.node) - rank.begin());
  if (pos == 0) return claimAndStart(call, std::move(events));
  // The k-th choice waits k watching timeouts from the call's first event for the ones before it.
  int64_t checkAt = events.front().timeMs + static_cast<int64_t>(pos) * options_.watchingTimeout.count();
  watch(call, std::move(events), checkAt);
}

void Service::watch(const std::string& call, std::vector<Entry> events, int64_t checkAtMs) {
  Call c;
  c.kind = Call::Kind::kWatching;
  c.checkAtMs = checkAtMs;
  c.lastMs = nowMs();
  for (const Entry& e : events) hold(e.id);
  c.held = std::move(events);
  calls_[call] = std::move(c);
  watches_.emplace(checkAtMs, call);
}

void Service::claimAndStart(const std::string& call, std::vector<Entry> events) {
  std::string mine = std::to_string(options_.node) + "|" + newSessionId(options_.node);
  Result<std::string> claim = feed_->claim(call, mine);
  if (!claim) return watch(call, std::move(events), nowMs() + kRetryMs);  // the store is unreachable: soon again
  if (*claim == mine) started_.fetch_add(1, std::memory_order_relaxed);
  adopt(call, *claim, std::move(events));
}

void Service::adopt(const std::string& call, const std::string& claim, std::vector<Entry> events) {
  Call c;
  c.lastMs = nowMs();
  size_t bar = claim.find('|');
  bool over = claim.size() > 6 && claim.compare(claim.size() - 6, 6, "|ended") == 0;
  if (bar == std::string::npos || over || claim.substr(0, bar) != std::to_string(options_.node)) {
    c.kind = Call::Kind::kTheirs;
    calls_[call] = std::move(c);
    return;
  }
  c.kind = Call::Kind::kMine;
  c.session = claim.substr(bar + 1);
  calls_[call] = c;
  CallStart start;
  start.sessionId = c.session;
  start.call = call;
  if (!events.empty()) {
    auto rp = options_.routingPoints.find(field(events.front().body, "dn"));
    if (rp != options_.routingPoints.end()) start.src = rp->second;
    start.data = boost::json::object{{"call", events.front().body}};
  }
  std::vector<FeedId> ids;
  for (const Entry& e : events) {
    hold(e.id);
    ids.push_back(e.id);
  }
  start.events = std::move(events);
  hooks_.start(std::move(start), [this, ids = std::move(ids)](bool) {
    net::post(ioc_, [this, ids] {
      for (FeedId id : ids) release(id);
    });
  });
}

void Service::deliver(const std::string& session, const Entry& e) {
  hold(e.id);
  hooks_.deliver(session, e, [this, id = e.id](bool) { net::post(ioc_, [this, id] { release(id); }); });
}

void Service::saveCursor() {
  FeedId at = pending_.empty() ? cursor_ : before(*pending_.begin());
  if (at == savedCursor_) return;
  if (Status st = feed_->saveCursor(options_.node, at); st) savedCursor_ = at;
}

void Service::flushOutbox() {
  if (outbox_.empty()) return;
  std::vector<boost::json::object> batch(outbox_.begin(), outbox_.end());
  Result<std::vector<FeedId>> r = feed_->reply(batch);
  if (!r) return;  // kept: tried again at the next tick
  outbox_.clear();
  std::vector<std::function<void()>> done = std::move(published_);
  published_.clear();
  for (auto& f : done) f();
}

void Service::answerReplies() {
  if (waiters_.empty()) return;
  auto now = std::chrono::steady_clock::now();
  std::vector<Waiter> still;
  for (Waiter& w : waiters_) {
    Result<std::vector<Entry>> r = feed_->replies(w.after, w.max);
    if (!r || !r->empty() || now >= w.until) w.done(std::move(r));
    else still.push_back(std::move(w));
  }
  waiters_ = std::move(still);
}

}  // namespace ors::calls
