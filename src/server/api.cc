#include "server/api.h"

#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <algorithm>
#include <iostream>
#include <chrono>
#include <mutex>

#include "common/ids.h"
#include "http/client.h"
#include "http/url.h"

namespace ors::server {

namespace bh = http::beast_http;
using Clock = std::chrono::steady_clock;

// One HTTP call being answered.
struct Api::Call {
  http::Request request;
  http::Reply replyTo;
  Metrics* metrics = nullptr;
  boost::json::object params;  // query string, then form or JSON body
  Clock::time_point received = Clock::now();
  std::string sessionId, verb, name;  // of a call to a session: /scxml/session/<id>/<verb>[/<name>]

  // Every answer goes through here, once: the call's metrics, then the connection.
  void reply(http::Response res) {
    if (res.code() >= 400 && res.code() < 500) metrics->http_errors_total.fetch_add(1, std::memory_order_relaxed);
    metrics->func_execution_time.observe(Clock::now() - received);
    replyTo(std::move(res));
  }
  // A JSON body written as text, for the hot answers (strings escaped as JSON requires).
  void jsonText(bh::status st, std::string body) { text(st, std::move(body), "application/json"); }
  void json(bh::status st, const boost::json::value& body, const std::string& cookie = {}) {
    http::Response res{st};
    res.set(bh::field::content_type, "application/json");
    if (!cookie.empty()) res.set(bh::field::set_cookie, cookie);
    res.body() = boost::json::serialize(body);
    reply(std::move(res));
  }
  void text(bh::status st, std::string body, const char* type = "text/plain") {
    http::Response res{st};
    res.set(bh::field::content_type, type);
    res.body() = std::move(body);
    reply(std::move(res));
  }
  void error(bh::status st, const std::string& message, boost::json::object extra = {}) {
    extra["error"] = message;
    http::Response res{st};
    res.set(bh::field::content_type, "application/json");
    if (st == bh::status::service_unavailable) res.set(bh::field::retry_after, "1");
    res.body() = boost::json::serialize(extra);
    reply(std::move(res));
  }
};

Api::Api(const Config& config, Metrics& metrics, DocumentCache& documents, std::vector<std::unique_ptr<Worker>>& workers)
    : config_(config), metrics_(metrics), documents_(documents), workers_(workers) {}

Worker& Api::workerFor(const std::string& sessionId) {
  return *workers_[workerOf(sessionId, static_cast<unsigned>(workers_.size()))];
}

namespace {

const char kHelp[] = R"HELP({
  "service": "ors orchestration server",
  "calls": [
    {"method": "POST", "path": "/scxml/session/start", "params": "src (required), idealtime (ms since 1970), any other: top-level <data> of that id", "returns": "{\"sessionid\": ...} and Set-Cookie ORSSESSIONID"},
    {"method": "POST", "path": "/scxml/session/{id}/event/{name}", "params": "become _event.data"},
    {"method": "POST", "path": "/scxml/session/{id}/request/{name}", "params": "become _event.data.param", "returns": "the session's <ws:response>, or 504"},
    {"method": "GET|POST", "path": "/scxml/session/{id}/query"},
    {"method": "POST", "path": "/scxml/session/{id}/terminate"},
    {"method": "GET", "path": "/scxml/sessions", "params": "offset, limit (default 100, at most 1000)"},
    {"method": "GET", "path": "/heartbeat"},
    {"method": "GET", "path": "/metrics", "returns": "Prometheus text format"},
    {"method": "GET", "path": "/ors/help"},
    {"method": "POST", "path": "/ors/calls/events", "params": "a call event {call, event, dn, ...} or {events: [...]}", "returns": "{\"ids\": [feed ids]}"},
    {"method": "GET", "path": "/ors/calls/replies", "params": "after (a reply id, or now), limit (at most 1000), wait (ms, at most 30000)", "returns": "{\"replies\": [...], \"last\": id}"},
    {"method": "POST", "path": "/ors/interactions", "params": "an interaction {media, ...} or {interactions: [...]}", "returns": "{\"ids\": [queue ids]}"}
  ]
})HELP";

// Appends `s` as a JSON string literal: copied as is when nothing needs escaping (event names).
void appendJsonString(std::string& out, std::string_view s) {
  bool plain = true;
  for (unsigned char c : s) plain = plain && c >= 0x20 && c != '"' && c != '\\' && c < 0x7f;
  if (!plain) {
    out += boost::json::serialize(boost::json::string(boost::json::string_view(s.data(), s.size())));
    return;
  }
  out.append("\"").append(s).append("\"");
}

bool prefersText(const http::Request& req) {
  auto accept = req.header("accept");
  return accept.find("text/plain") != std::string_view::npos && accept.find("json") == std::string_view::npos;
}

}  // namespace

void Api::handle(http::Request&& request, http::Reply reply) {
  auto call = std::make_shared<Call>();
  call->request = std::move(request);
  call->replyTo = std::move(reply);
  call->metrics = &metrics_;
  Call& c = *call;
  http::Target target;
  if (!http::parseTarget(c.request.target(), &target)) return c.error(bh::status::bad_request, "malformed request target");
  const auto& seg = target.segments;
  if (!http::parseForm(target.query, c.params)) return c.error(bh::status::bad_request, "malformed query string");
  bh::verb method = c.request.method();
  // HEAD is GET without the body (RFC 9110 9.3.2; the connection leaves the body out).
  bool get = method == bh::verb::get || method == bh::verb::head, post = method == bh::verb::post;
  auto methodNotAllowed = [&](const char* allow) {
    http::Response res{bh::status::method_not_allowed};
    res.set(bh::field::allow, allow);
    res.set(bh::field::content_type, "application/json");
    res.body() = boost::json::serialize(boost::json::object{
        {"error", std::string("method ") + std::string(c.request.methodString()) + " not allowed; use " + allow}});
    c.reply(std::move(res));
  };

  // Body parameters: form-encoded or JSON.
  if (post && !c.request.body().empty()) {
    std::string_view type = c.request.header("content-type");
    if (type.find("application/json") != std::string_view::npos) {
      boost::system::error_code ec;
      boost::json::value v = boost::json::parse(c.request.body(), ec);
      if (ec || !v.is_object()) return c.error(bh::status::bad_request, "the body is not a JSON object");
      if (c.params.empty()) c.params = std::move(v.as_object());
      else
        for (auto& kv : v.as_object()) c.params[kv.key()] = std::move(kv.value());
    } else if (type.empty() || type.find("application/x-www-form-urlencoded") != std::string_view::npos) {
      if (!http::parseForm(c.request.body(), c.params)) return c.error(bh::status::bad_request, "malformed form body");
    } else {
      return c.error(bh::status::unsupported_media_type,
                     "body must be application/x-www-form-urlencoded or application/json");
    }
  }

  if (seg.size() == 1 && seg[0] == "heartbeat") {
    if (!get) return methodNotAllowed("GET, HEAD");
    return c.text(bh::status::ok, "OK\n");
  }
  if (seg.size() == 1 && seg[0] == "metrics") {
    if (!get) return methodNotAllowed("GET, HEAD");
    size_t active = 0;
    for (auto& w : workers_) active += w->sessionCount();
    metrics_.active_sessions.store(static_cast<int64_t>(active));
    return c.text(bh::status::ok, metrics_.render(), "text/plain; version=0.0.4");
  }
  if (seg.size() == 2 && seg[0] == "ors" && seg[1] == "help") {
    if (!get) return methodNotAllowed("GET, HEAD");
    return c.text(bh::status::ok, kHelp, "application/json");
  }
  if (seg.size() == 2 && seg[0] == "scxml" && seg[1] == "sessions") {
    if (!get) return methodNotAllowed("GET, HEAD");
    listSessions(c);
    return;
  }
  if (seg.size() == 3 && seg[0] == "scxml" && seg[1] == "session" && seg[2] == "start") {
    if (!post) return methodNotAllowed("POST");
    start(c);
    return;
  }
  if (seg.size() >= 4 && seg[0] == "scxml" && seg[1] == "session") {
    std::string_view verb = seg[3];  // seg[2]: the session's id
    if ((verb == "event" || verb == "request") && seg.size() == 5 && !seg[4].empty()) {
      if (!post) return methodNotAllowed("POST");
      // SCXML 3.12.1: an event name is a token; no white space or control characters.
      std::string_view name = seg[4];
      bool ok = name.size() <= 512 && name.front() != '.' && name.back() != '.';
      for (unsigned char ch : name) ok = ok && ch > 0x20 && ch != 0x7f;
      if (!ok) return c.error(bh::status::bad_request, "invalid event name");
      return sessionCall(std::move(call), seg[2], seg[3], seg[4]);
    }
    if (verb == "scxml-event" && seg.size() == 4) {  // SCXML I/O processor events from other nodes
      if (!post) return methodNotAllowed("POST");
      return sessionCall(std::move(call), seg[2], seg[3], {});
    }
    if (verb == "basichttp" && seg.size() == 4) {  // the BasicHTTP Event I/O Processor's location
      if (!post) return methodNotAllowed("POST");
      return sessionCall(std::move(call), seg[2], seg[3], {});
    }
    if (verb == "query" && seg.size() == 4) {
      if (!get && !post) return methodNotAllowed("GET, HEAD, POST");
      return sessionCall(std::move(call), seg[2], seg[3], {});
    }
    if (verb == "terminate" && seg.size() == 4) {
      if (!post) return methodNotAllowed("POST");
      return sessionCall(std::move(call), seg[2], seg[3], {});
    }
  }
  if (seg.size() == 2 && seg[0] == "ors" && seg[1] == "interactions") {
    if (!post) return methodNotAllowed("POST");
    return submitInteraction(call);
  }
  if (seg.size() == 3 && seg[0] == "ors" && seg[1] == "calls") {
    if (seg[2] == "events") {
      if (!post) return methodNotAllowed("POST");
      return callEvents(call);
    }
    if (seg[2] == "replies") {
      if (!get) return methodNotAllowed("GET, HEAD");
      return callReplies(call);
    }
  }
  c.error(bh::status::not_found, "no such resource: " + std::string(c.request.target()));
}

// POST /ors/calls/events: one call event (the body's fields) or several ({"events": [...]}), each
// {"call": id, "event": name, "dn": DN, "data": {...}}; answered with their feed ids once the feed
// has them.
void Api::callEvents(std::shared_ptr<Call> call) {
  calls::Service* calls = calls_.load(std::memory_order_acquire);
  if (!calls) return call->error(bh::status::service_unavailable, "this instance does not take call events (yet)");
  std::vector<boost::json::object> events;
  if (const boost::json::value* list = call->params.if_contains("events")) {
    if (!list->is_array()) return call->error(bh::status::bad_request, "'events' must be an array of call events");
    for (const boost::json::value& v : list->get_array()) {
      if (!v.is_object()) return call->error(bh::status::bad_request, "each call event must be a JSON object");
      events.push_back(v.get_object());
    }
  } else {
    events.push_back(call->params);
  }
  if (events.empty() || events.size() > 1000)
    return call->error(bh::status::bad_request, "between 1 and 1000 call events a request");
  for (size_t i = 0; i < events.size(); ++i) {
    for (const char* key : {"call", "event"}) {
      const boost::json::value* v = events[i].if_contains(key);
      if (!v || !v->is_string() || v->get_string().empty() || v->get_string().size() > 256)
        return call->error(bh::status::bad_request, "call event " + std::to_string(i) + ": '" + key +
                                                        "' must be a non-empty string of at most 256 characters");
    }
    if (const boost::json::value* dn = events[i].if_contains("dn"); dn && !dn->is_string())
      return call->error(bh::status::bad_request, "call event " + std::to_string(i) + ": 'dn' must be a string");
  }
  calls->append(std::move(events), [call](Result<std::vector<calls::FeedId>> ids) {
    if (!ids) return call->error(bh::status::service_unavailable, ids.status().message());
    boost::json::array out;
    for (const calls::FeedId& id : *ids) out.push_back(boost::json::value(id.str()));
    call->json(bh::status::ok, boost::json::object{{"ids", std::move(out)}});
  });
}

// POST /ors/interactions: a multimedia interaction ({"media": type, ...anything}) or several
// ({"interactions": [...]}) for the queue the nodes pull from; {"ids": [queue ids]} once durable.
void Api::submitInteraction(std::shared_ptr<Call> call) {
  calls::Service* calls = calls_.load(std::memory_order_acquire);
  if (!calls) return call->error(bh::status::service_unavailable, "this instance does not take interactions (yet)");
  std::vector<boost::json::object> list;
  if (const boost::json::value* many = call->params.if_contains("interactions")) {
    if (!many->is_array() || many->get_array().empty() || many->get_array().size() > 1000)
      return call->error(bh::status::bad_request, "'interactions' must be an array of 1 to 1000 interactions");
    for (const boost::json::value& v : many->get_array()) {
      if (!v.is_object()) return call->error(bh::status::bad_request, "each interaction must be a JSON object");
      list.push_back(v.get_object());
    }
  } else {
    list.push_back(call->params);
  }
  for (size_t i = 0; i < list.size(); ++i) {
    const boost::json::value* media = list[i].if_contains("media");
    if (!media || !media->is_string() || media->get_string().empty() || media->get_string().size() > 64)
      return call->error(bh::status::bad_request,
                         "interaction " + std::to_string(i) + ": 'media' (the interaction's media type) is required");
  }
  calls->submit(std::move(list), [call](Result<std::vector<calls::FeedId>> ids) {
    if (!ids) return call->error(bh::status::service_unavailable, ids.status().message());
    boost::json::array out;
    for (const calls::FeedId& id : *ids) out.push_back(boost::json::value(id.str()));
    call->json(bh::status::ok, boost::json::object{{"ids", std::move(out)}});
  });
}

// GET /ors/calls/replies?after=ID&limit=N&wait=MS: routing actions after ID (after=now: none, and
// the newest id), waiting up to MS for the first; {"replies": [{"id": ..., "action": ..., "call": ..., "requestid": ..., ...}], "last": ID}.
void Api::callReplies(std::shared_ptr<Call> call) {
  calls::Service* calls = calls_.load(std::memory_order_acquire);
  if (!calls) return call->error(bh::status::service_unavailable, "this instance does not serve call replies (yet)");
  auto text = [&](const char* key, const char* def) {
    const boost::json::value* v = call->params.if_contains(key);
    return v && v->is_string() ? std::string(v->get_string()) : std::string(def);
  };
  if (text("after", "") == "now") {  // where a new reader starts: no replies, the newest id
    return calls->lastReply([call](Result<calls::FeedId> last) {
      if (!last) return call->error(bh::status::service_unavailable, last.status().message());
      call->json(bh::status::ok, boost::json::object{{"replies", boost::json::array()}, {"last", last->str()}});
    });
  }
  std::optional<calls::FeedId> after = calls::FeedId::parse(text("after", "0-0"));
  if (!after) return call->error(bh::status::bad_request, "'after' must be a reply id such as 1700000000000-0, or now");
  auto number = [&](const char* key, uint64_t def, uint64_t max, uint64_t* out) {
    std::string v = text(key, "");
    if (v.empty()) return *out = def, true;
    if (v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos) return false;
    *out = std::min<uint64_t>(std::stoull(v), max);
    return true;
  };
  uint64_t limit = 0, waitMs = 0;
  if (!number("limit", 100, 1000, &limit) || limit == 0)
    return call->error(bh::status::bad_request, "'limit' must be a number from 1 to 1000");
  if (!number("wait", 0, 30000, &waitMs)) return call->error(bh::status::bad_request, "'wait' must be milliseconds");
  calls->replies(*after, limit, std::chrono::milliseconds(waitMs),
                 [call, after = *after](Result<std::vector<calls::Entry>> r) {
                   if (!r) return call->error(bh::status::service_unavailable, r.status().message());
                   boost::json::array out;
                   calls::FeedId last = after;
                   for (calls::Entry& e : *r) {
                     boost::json::object o = std::move(e.body);
                     o["id"] = e.id.str();
                     o["ts"] = e.timeMs;
                     out.push_back(std::move(o));
                     last = e.id;
                   }
                   call->json(bh::status::ok, boost::json::object{{"replies", std::move(out)}, {"last", last.str()}});
                 });
}

void Api::startCall(calls::CallStart start, std::function<void(bool)> done) {
  Worker& w = workerFor(start.sessionId);
  std::string src = start.src;
  auto begin = [this, start = std::move(start), done](DocumentCache::Loaded doc) mutable {
    Worker& wk = workerFor(start.sessionId);
    wk.post(
        [this, start = std::move(start), doc = std::move(doc), done](Worker& w) mutable {
          const std::string& id = start.sessionId;
          if (!w.runtime().find(id) && !w.unloaded().count(id)) {
            if (!doc.document) {
              std::clog << "orsd: call " << start.call << ": cannot start its strategy '" << start.src
                        << "': " << (doc.error.empty() ? "no routing point" : doc.error) << "\n";
              return done(true);  // nothing more will come of it
            }
            auto t = Clock::now();
            w.setCall(id, start.call);  // before its first step, whose <send type="call"> goes to it
            // The vendor's strategies start on interaction.added (docs/dialect.md).
            boost::json::object added = calls::interactionAdded(start);
            auto s = w.runtime().startSession(doc.document, std::move(start.data), {}, id);
            metrics_.create_session_time.observe(Clock::now() - t);
            if (!s) {
              w.forgetCall(id);
              std::clog << "orsd: call " << start.call << ": " << s.status().message() << "\n";
              return done(true);
            }
            metrics_.sessions_created_total.fetch_add(1, std::memory_order_relaxed);
            w.publishCounts();
            if (!added.empty()) {
              scxml::Event e;
              e.name = "interaction.added";
              e.type = scxml::Event::Type::kExternal;
              e.data = std::move(added);
              w.runtime().deliver(id, std::move(e));
            }
          }
          w.withSession(id, [id, events = std::move(start.events), done](Worker& w2) {
            for (const calls::Entry& e : events) {
              w2.deliverFeed(id, e);
            }
            w2.whenDurable([done](const Status& st) { done(static_cast<bool>(st)); });
          });
        },
        true);
  };
  if (src.empty()) return begin(DocumentCache::Loaded{});
  loadDocument(src, w, std::move(begin));
}

void Api::deliverCall(const std::string& sessionId, const calls::Entry& entry, std::function<void(bool)> done) {
  workerFor(sessionId).post(
      [sessionId, entry, done](Worker& w) {
        if (!w.runtime().find(sessionId) && !w.unloaded().count(sessionId)) return done(true);  // it ended
        w.withSession(sessionId, [sessionId, entry, done](Worker& w2) {
          w2.deliverFeed(sessionId, entry);
          w2.whenDurable([done](const Status& st) { done(static_cast<bool>(st)); });
        });
      },
      true);
}

void Api::start(Call& c) {
  auto src = c.params.find("src");
  if (src == c.params.end() || !src->value().is_string() || src->value().as_string().empty())
    return c.error(bh::status::bad_request, "parameter 'src' (the URL of the SCXML document) is required");
  std::string url(src->value().as_string());
  int64_t idealMs = 0;
  if (auto it = c.params.find("idealtime"); it != c.params.end()) {
    std::string v = it->value().is_string() ? std::string(it->value().as_string()) : boost::json::serialize(it->value());
    if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos || v.size() > 15)
      return c.error(bh::status::bad_request, "idealtime must be milliseconds since 1970 (UTC)");
    idealMs = std::stoll(v);
  }
  size_t active = 0;
  for (auto& w : workers_) active += w->sessionCount();
  if (active >= config_.maxSessions) {
    metrics_.rejected_busy_total.fetch_add(1);
    return c.error(bh::status::service_unavailable, "too many sessions (" + std::to_string(config_.maxSessions) + ")");
  }
  boost::json::object data;
  for (auto& kv : c.params)
    if (kv.key() != "src" && kv.key() != "idealtime") data[kv.key()] = kv.value();
  auto delay = std::chrono::milliseconds(0);
  if (idealMs > 0) {
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch());
    if (std::chrono::milliseconds(idealMs) > now) delay = std::chrono::milliseconds(idealMs) - now;
  }
  // The worker is chosen round robin; it makes ids that map to itself.
  static std::atomic<unsigned> rr{0};
  Worker& w = *workers_[rr.fetch_add(1, std::memory_order_relaxed) % workers_.size()];
  auto shared = std::make_shared<Call>(std::move(c));
  auto fail = [shared, url](const DocumentCache::Loaded& doc) {
    boost::json::object extra{{"src", url}};
    if (!doc.diagnostics.empty()) {
      boost::json::array errors;
      for (const auto& d : doc.diagnostics) errors.push_back(boost::json::value(d.str()));
      extra["errors"] = std::move(errors);
    }
    shared->error(bh::status::bad_request, doc.error, std::move(extra));
  };
  loadDocument(url, w, [this, shared, fail, data = std::move(data), delay, &w](DocumentCache::Loaded doc) mutable {
    if (!doc.document) return fail(doc);
    startDocument(shared, doc.document, std::move(data), delay, w);
  });
}

void Api::loadDocument(const std::string& url, Worker& w, std::function<void(DocumentCache::Loaded)> then,
                       std::shared_ptr<std::set<std::string>> seen) {
  auto t0 = Clock::now();
  if (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0) {
    // The documents it starts by a literal src come with it (all on this worker's loop); a child
    // that fails to load is the child's <invoke>'s or <session:start>'s error at run time.
    if (!seen) seen = std::make_shared<std::set<std::string>>();
    seen->insert(url);
    // (A fresh document comes without children: they were loaded before it was marked fresh.
    // So what follows runs on `w`'s loop only, where the fetches complete.)
    then = [this, &w, url, seen, then = std::move(then)](DocumentCache::Loaded doc) mutable {
      if (!doc.document || doc.children.empty()) return then(std::move(doc));
      std::vector<std::string> todo;
      for (const std::string& c : doc.children)
        if (seen->insert(c).second) todo.push_back(c);
      auto left = std::make_shared<size_t>(todo.size() + 1);
      auto parent = std::make_shared<DocumentCache::Loaded>(std::move(doc));
      auto done = std::make_shared<std::function<void(DocumentCache::Loaded)>>(std::move(then));
      auto one = [this, url, left, parent, done](DocumentCache::Loaded) {
        if (--*left > 0) return;
        documents_.httpChildrenLoaded(url);
        (*done)(std::move(*parent));
      };
      for (const std::string& c : todo) loadDocument(c, w, one, seen);
      one({});
    };
    if (!documents_.httpAllowed(url)) {
      DocumentCache::Loaded no;
      no.error = "'" + url + "' is not an allowed document host (orchestration/http-allow)";
      return then(std::move(no));
    }
    if (auto doc = documents_.freshHttp(url)) {
      DocumentCache::Loaded fresh;
      fresh.document = std::move(doc);
      return then(std::move(fresh));
    }
    // Fetched on the chosen worker's event loop, asynchronously: no thread waits for the network.
    auto load = std::make_shared<HttpLoad>();
    load->url = url;
    load->then = std::move(then);
    load->started = t0;
    return fetchHttpFiles(load, documents_.httpFiles(url), w);
  }
  DocumentCache::Loaded doc = documents_.load(url);
  if (doc.document) metrics_.document_processing_time.observe(Clock::now() - t0);
  then(std::move(doc));
}

// One round of an http:// document's load: fetches `files` at once (conditionally when cached);
// once all have answered, compiles; the files the compile found it includes and lacked are the
// next round's (an include's include), 16 rounds at most, as deep as includes may nest.
void Api::fetchHttpFiles(std::shared_ptr<HttpLoad> load, std::vector<std::string> files, Worker& w) {
  load->pending += files.size();
  for (const std::string& file : files) {
    metrics_.fetch_total.fetch_add(1, std::memory_order_relaxed);
    auto t0 = Clock::now();
    http::request(w.ioContext(), "GET", file, {}, {}, std::chrono::seconds(10),
                  [this, load, file, t0, &w](http::ClientResponse r) {
                    metrics_.http_fetch_time.observe(Clock::now() - t0);
                    if (r.status == 0)
                      load->texts.insert_or_assign(file, Status::error("cannot fetch '" + file + "': " + r.error));
                    else
                      load->texts.insert_or_assign(file, documents_.storeHttpFile(file, r.status, std::move(r.body),
                                                                                  r.headers));
                    if (--load->pending > 0) return;
                    std::vector<std::string> missing;
                    DocumentCache::Loaded doc = documents_.compileHttp(load->url, load->texts, &missing);
                    if (!missing.empty() && ++load->rounds <= 16) return fetchHttpFiles(load, std::move(missing), w);
                    if (!missing.empty()) doc.error = "'" + load->url + "' includes files more than 16 deep (a cycle?)";
                    if (doc.document) metrics_.document_processing_time.observe(Clock::now() - load->started);
                    load->then(std::move(doc));
                  },
                  documents_.httpValidators(file));
  }
}

void Api::startDocument(std::shared_ptr<Call> shared, std::shared_ptr<const scxml::Document> document,
                        boost::json::object data, std::chrono::milliseconds delay, Worker& w) {
  bool queued = w.post([this, shared, document = std::move(document), data = std::move(data), delay](Worker& worker) mutable {
    Call& call = *shared;
    std::string id = worker.newSessionId();
    std::string cookie = config_.cookie ? "ORSSESSIONID=" + id + ".node" + std::to_string(config_.nodeId) + "; Path=/" : "";
    auto startNow = [this, document, data](Worker& wk, const std::string& sid) mutable {
      auto t = Clock::now();
      auto s = wk.runtime().startSession(document, std::move(data), {}, sid);
      wk.publishCounts();  // before the answer: the session limit counts it from now on
      metrics_.create_session_time.observe(Clock::now() - t);
      if (s) metrics_.sessions_created_total.fetch_add(1, std::memory_order_relaxed);
      return s;
    };
    if (delay.count() > 0) {
      metrics_.pending_sessions.fetch_add(1);
      worker.after(delay, [this, startNow, id](Worker& wk) mutable {
        metrics_.pending_sessions.fetch_sub(1);
        startNow(wk, id);
      });
    } else {
      auto s = startNow(worker, id);
      if (!s) return call.error(bh::status::internal_server_error, s.status().message());
    }
    // Answered once the new session is durable; if it cannot be stored, it does not exist.
    worker.whenDurable([this, shared, id, cookie, &worker](const Status& st) {
      Call& call = *shared;
      if (!st) {
        worker.runtime().terminate(id);
        return call.error(bh::status::service_unavailable, st.message());
      }
      if (prefersText(call.request)) {
        http::Response res{bh::status::ok};
        res.set(bh::field::content_type, "text/plain");
        if (!cookie.empty()) res.set(bh::field::set_cookie, cookie);
        res.body() = id;
        return call.reply(std::move(res));
      }
      call.json(bh::status::ok, boost::json::object{{"sessionid", id}}, cookie);
    });
  });
  if (!queued) {
    metrics_.rejected_busy_total.fetch_add(1);
    shared->error(bh::status::service_unavailable, "the server is busy");
  }
}

// Answers once what the job changed is durable: with `ok`, or 503 naming the store's failure.
template <class F>
void Api::answerWhenDurable(Worker& w, const std::shared_ptr<Call>& call, F&& ok) {
  w.whenDurable([call, ok = std::forward<F>(ok)](const Status& st) {
    if (!st) return call->error(bh::status::service_unavailable, st.message());
    ok(*call);
  });
}

void Api::sessionCall(std::shared_ptr<Call> shared, std::string_view sessionId, std::string_view verb, std::string_view name) {
  if (!isSessionId(sessionId)) return shared->error(bh::status::not_found, "no session '" + std::string(sessionId) + "'");
  uint64_t requestNo = verb == "request" ? nextRequest_.fetch_add(1) + 1 : 0;
  Call& c = *shared;
  c.sessionId = sessionId;
  c.verb = verb;
  c.name = name;
  Worker& worker = workerFor(c.sessionId);
  // An unloaded session (persistence/unload-after) is loaded back first.
  bool queued = worker.post([this, shared, requestNo](Worker& w) {
    w.withSession(shared->sessionId, [this, shared, requestNo](Worker& w2) { runSessionCall(w2, shared, requestNo); });
  });
  if (!queued) {
    metrics_.rejected_busy_total.fetch_add(1);
    shared->error(bh::status::service_unavailable, "the server is busy");
  }
}

// On the session's worker, with the session in memory if it exists.
void Api::runSessionCall(Worker& w, const std::shared_ptr<Call>& shared, uint64_t requestNo) {
  Call& call = *shared;
  const std::string& sessionId = call.sessionId;
  const std::string& verb = call.verb;
  const std::string& name = call.name;
  scxml::Session* s = w.runtime().find(sessionId);
  if (!s) return call.error(bh::status::not_found, "no session '" + sessionId + "'");
  if (verb == "event" || verb == "request") {
    metrics_.scxml_event_queuing_time.observe(Clock::now() - call.received);
    scxml::Event e;
    e.name = name;
    e.type = scxml::Event::Type::kExternal;
    e.origintype = "http://www.w3.org/TR/scxml/#BasicHTTPEventProcessor";
    if (verb == "event") {
      metrics_.events_total.fetch_add(1, std::memory_order_relaxed);
      if (!call.params.empty()) e.data = std::move(call.params);
      w.runtime().deliver(sessionId, std::move(e));
      return answerWhenDurable(w, shared, [](Call& done) {
        std::string body;
        body.reserve(48 + done.sessionId.size() + done.name.size());
        body.append(R"({"sessionid":")").append(done.sessionId).append(R"(","event":)");
        appendJsonString(body, done.name);
        done.jsonText(bh::status::ok, std::move(body.append("}")));
      });
    }
    metrics_.requests_total.fetch_add(1, std::memory_order_relaxed);
    e.sendid = "req" + std::to_string(requestNo) + "." + sessionId.substr(24);
    std::string type(call.request.header("content-type"));
    e.data = boost::json::object{{"param", std::move(call.params)},
                                 {"paramtype", type.empty() ? "application/x-www-form-urlencoded" : type}};
    std::string requestId = e.sendid;
    w.awaitResponse(sessionId, requestId, [shared](http::Response r) { shared->reply(std::move(r)); });
    w.runtime().deliver(sessionId, std::move(e));
    return;
  }
  if (verb == "basichttp") {
    // SCXML C.2, receiving: the event is named by `_scxmleventname` (else HTTP.POST); the other
    // parameters are _event.data; _event.raw is the request as received.
    scxml::Event e = basicHttpEvent(std::move(call.params), call.request.raw());
    metrics_.events_total.fetch_add(1, std::memory_order_relaxed);
    w.runtime().deliver(sessionId, std::move(e));
    return answerWhenDurable(w, shared, [](Call& done) {
      done.json(bh::status::ok, boost::json::object{{"sessionid", done.sessionId}});
    });
  }
  if (verb == "scxml-event") {
    // The body is the event as another node's session sent it (scxml::eventToValue).
    scxml::Event e;
    if (!scxml::eventFromValue(boost::json::value(call.params), &e) || e.name.empty())
      return call.error(bh::status::bad_request, "the body is not an SCXML event (name, type, data ...)");
    e.type = scxml::Event::Type::kExternal;
    metrics_.events_total.fetch_add(1, std::memory_order_relaxed);
    w.runtime().deliver(sessionId, std::move(e));
    return answerWhenDurable(w, shared, [](Call& done) {
      done.json(bh::status::ok, boost::json::object{{"sessionid", done.sessionId}});
    });
  }
  if (verb == "terminate") {
    w.runtime().terminate(sessionId);
    metrics_.sessions_ended_total.fetch_add(1);
    return answerWhenDurable(w, shared, [](Call& done) {
      done.json(bh::status::ok, boost::json::object{{"sessionid", done.sessionId}, {"terminated", true}});
    });
  }
  // query
  boost::json::array states;
  for (const std::string& st : s->activeAtomicStates()) states.push_back(boost::json::value(st));
  call.json(bh::status::ok, boost::json::object{{"sessionid", sessionId},
                                                {"name", s->document().name},
                                                {"src", s->document().url},
                                                {"configuration", std::move(states)},
                                                {"queued", s->hasQueuedEvents()}});
}

void Api::listSessions(Call& c) {
  size_t offset = 0, limit = 100;
  auto num = [&](const char* key, size_t* out) {
    auto it = c.params.find(key);
    if (it == c.params.end()) return true;
    std::string v = it->value().is_string() ? std::string(it->value().as_string()) : "";
    if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos) return false;
    *out = std::stoul(v);
    return true;
  };
  if (!num("offset", &offset) || !num("limit", &limit) || limit == 0 || limit > 1000)
    return c.error(bh::status::bad_request, "offset and limit must be integers, 0 < limit <= 1000");
  // Gather ids from every worker, then answer a sorted page.
  struct Gather {
    std::mutex mu;
    std::vector<std::string> ids;
    size_t remaining;
  };
  auto g = std::make_shared<Gather>();
  g->remaining = workers_.size();
  auto shared = std::make_shared<Call>(std::move(c));
  for (auto& w : workers_) {
    w->post([g, shared, offset, limit](Worker& wk) {
      std::vector<std::string> mine;
      wk.runtime().forEachSession([&](const scxml::Session& s) { mine.push_back(s.id()); });
      mine.insert(mine.end(), wk.unloaded().begin(), wk.unloaded().end());
      std::lock_guard<std::mutex> lock(g->mu);
      g->ids.insert(g->ids.end(), mine.begin(), mine.end());
      if (--g->remaining > 0) return;
      std::sort(g->ids.begin(), g->ids.end());
      boost::json::array page;
      for (size_t i = offset; i < g->ids.size() && i < offset + limit; ++i) page.push_back(boost::json::value(g->ids[i]));
      shared->json(bh::status::ok, boost::json::object{{"total", g->ids.size()}, {"offset", offset}, {"sessions", std::move(page)}});
    }, /*force=*/true);
  }
}

}  // namespace ors::server
