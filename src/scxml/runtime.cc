// In-process runtime for sessions (see runtime.h).
#include "scxml/runtime.h"

#include <algorithm>
#include <cstring>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <iostream>
#include <thread>

namespace ors::scxml {

Runtime::Runtime(dm::Engine* ecmascript, Options options)
    : ecmascript_(ecmascript), null_(dm::makeNullEngine()), options_(std::move(options)) {}

Runtime::~Runtime() {
  // Sessions reference the engines; drop them first.
  sessions_.clear();
}

Runtime::Clock::time_point Runtime::now() const { return Clock::now() + virtualOffset_; }

dm::Engine* Runtime::engineFor(const Document& doc) {
  if (doc.datamodel == "ecmascript") return ecmascript_;
  if (doc.datamodel == "null") return null_.get();
  return nullptr;
}

Result<Session*> Runtime::createSession(std::shared_ptr<const Document> doc, Session::Options options) {
  dm::Engine* engine = engineFor(*doc);
  if (!engine) return Status::error("unsupported datamodel '" + doc->datamodel + "'");
  if (options.sessionId.empty())
    options.sessionId = options_.newSessionId ? options_.newSessionId() : "s" + std::to_string(++nextId_);
  if (options.ioprocessors.is_null() && options_.ioprocessorsFor)
    options.ioprocessors = options_.ioprocessorsFor(options.sessionId);
  if (sessions_.count(options.sessionId)) return Status::error("session id '" + options.sessionId + "' is in use");
  auto session = std::make_unique<Session>(std::move(doc), *engine, *this, std::move(options));
  Session* raw = session.get();
  sessions_.emplace(raw->id(), std::move(session));
  return raw;
}

Result<Session*> Runtime::startSession(std::shared_ptr<const Document> doc, boost::json::object data,
                                       std::function<void(const Session&, const Event*)> observer,
                                       std::string id) {
  Session::Options o;
  o.initialData = std::move(data);
  o.sessionId = std::move(id);
  Result<Session*> s = createSession(std::move(doc), std::move(o));
  if (!s) return s;
  (*s)->observer = std::move(observer);
  (*s)->start();
  if ((*s)->hasQueuedEvents()) markReady((*s)->id());  // the initial macrostep ran already
  stepped((*s)->id());
  return s;
}

Result<Session*> Runtime::restoreSession(std::shared_ptr<const Document> doc, const boost::json::object& snapshot) {
  dm::Engine* engine = engineFor(*doc);
  if (!engine) return Status::error("unsupported datamodel '" + doc->datamodel + "'");
  Session::Options o;
  const Value* id = snapshot.if_contains("id");
  if (id && id->is_string() && options_.ioprocessorsFor) o.ioprocessors = options_.ioprocessorsFor(std::string(id->get_string()));
  auto session = std::make_unique<Session>(std::move(doc), *engine, *this, std::move(o));
  Status st = session->restore(snapshot);
  if (!st) return st;
  if (sessions_.count(session->id())) return Status::error("session id '" + session->id() + "' is in use");
  Session* raw = session.get();
  sessions_.emplace(raw->id(), std::move(session));
  if (!raw->parentId.empty()) children_[{raw->parentId, raw->invokeId}] = raw->id();
  if (raw->hasQueuedEvents()) markReady(raw->id());
  return raw;
}

Session* Runtime::find(const std::string& sessionId) {
  auto it = sessions_.find(sessionId);
  return it == sessions_.end() || it->second->finished() ? nullptr : it->second.get();
}

bool Runtime::unload(const std::string& sessionId) {
  auto it = sessions_.find(sessionId);
  if (it == sessions_.end() || it->second->finished() || it->second->stepping()) return false;
  if (auto list = timersOf_.find(sessionId); list != timersOf_.end()) {
    for (auto t : list->second) timers_.erase(t);
    timersOf_.erase(list);
  }
  changed_.erase(std::remove(changed_.begin(), changed_.end(), sessionId), changed_.end());
  sessions_.erase(it);
  return true;
}

bool Runtime::deliver(const std::string& sessionId, Event event) {
  Session* s = find(sessionId);
  if (!s) {
    auto it = sessions_.find(sessionId);
    bool ended = it != sessions_.end();  // finishing: not an unloaded one
    return !ended && options_.deliverMissing && options_.deliverMissing(sessionId, std::move(event));
  }
  s->enqueue(std::move(event));
  markReady(sessionId);
  return true;
}

void Runtime::markReady(const std::string& sessionId) {
  ready_.push_back(sessionId);
  changed(sessionId);
}

std::vector<std::string> Runtime::takeChanged() {
  std::vector<std::string> out;
  out.swap(changed_);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void Runtime::addTimer(Clock::time_point due, Timer timer) {
  std::string from = timer.from;
  auto it = timers_.emplace(due, std::move(timer));
  timersOf_[from].push_back(it);
  changed(from);
}

Runtime::Timer Runtime::takeTimer(std::multimap<Clock::time_point, Timer>::iterator it) {
  auto list = timersOf_.find(it->second.from);
  if (list != timersOf_.end()) {
    auto& v = list->second;
    v.erase(std::remove(v.begin(), v.end(), it), v.end());
    if (v.empty()) timersOf_.erase(list);
  }
  changed(it->second.from);
  Timer t = std::move(it->second);
  timers_.erase(it);
  return t;
}

std::vector<Runtime::PendingSend> Runtime::pendingSends(const std::string& sessionId) const {
  std::vector<PendingSend> out;
  auto list = timersOf_.find(sessionId);
  if (list == timersOf_.end()) return out;
  for (auto it : list->second) out.push_back({it->first - virtualOffset_, &it->second.request});
  std::sort(out.begin(), out.end(), [](const PendingSend& a, const PendingSend& b) { return a.due < b.due; });
  return out;
}

void Runtime::restoreSend(const std::string& fromId, SendRequest request, Clock::time_point due) {
  addTimer(due + virtualOffset_, Timer{fromId, std::move(request)});
}

void Runtime::runUntilIdle() {
  while (!ready_.empty() || !deferredTerminations_.empty() || !stepped_.empty()) {
    std::vector<std::string> terminations;
    terminations.swap(deferredTerminations_);
    for (const std::string& id : terminations) terminate(id);
    replaceStepped();
    std::vector<std::string> batch;
    batch.swap(ready_);
    for (const std::string& id : batch) {
      auto it = sessions_.find(id);
      if (it == sessions_.end()) continue;
      if (!options_.restoreEveryStep) {
        it->second->run();
        changed(id);
        continue;
      }
      // One macrostep at a time, each followed by a restore.
      if (it->second->run(1) == 0) continue;
      stepped(id);
      if (it->second->hasQueuedEvents()) markReady(id);
    }
    reap();
  }
  reap();
}

void Runtime::stepped(const std::string& sessionId) {
  changed(sessionId);
  if (options_.restoreEveryStep) stepped_.push_back(sessionId);
}

void Runtime::replaceStepped() {
  std::vector<std::string> ids;
  ids.swap(stepped_);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  for (const std::string& id : ids) replaceByRestore(id);
}

bool Runtime::replaceByRestore(const std::string& sessionId) {
  auto it = sessions_.find(sessionId);
  if (it == sessions_.end() || it->second->finished() || it->second->stepping()) return true;
  Session& old = *it->second;
  auto fail = [&](const std::string& why) {
    ++restoreFailures_;
    lastRestoreFailure_ = sessionId + ": " + why;
    return false;
  };
  Result<std::string> snap = old.snapshot();
  if (!snap) return fail("snapshot: " + snap.status().message());
  boost::system::error_code ec;
  boost::json::value parsed = boost::json::parse(*snap, ec);
  if (ec || !parsed.is_object()) return fail("snapshot is not a JSON object: " + ec.message());
  Session::Options o;
  o.sessionId = sessionId;
  auto fresh = std::make_unique<Session>(old.sharedDocument(), *engineFor(old.document()), *this, std::move(o));
  Status st = fresh->restore(parsed.get_object());
  if (!st) return fail(st.message());
  Result<std::string> again = fresh->snapshot();
  if (!again) return fail("snapshot of the restored session: " + again.status().message());
  if (*again != *snap) {
    // What the first snapshot lost is simply absent from the second: compare without that list.
    boost::json::value second = boost::json::parse(*again, ec);
    auto dropLost = [](boost::json::value& v) {
      if (auto* dm = v.as_object().if_contains("dm"); dm && dm->is_object()) dm->as_object().erase("lost");
    };
    if (ec || !second.is_object()) return fail("snapshot of the restored session is not a JSON object");
    dropLost(parsed);
    dropLost(second);
    if (parsed != second) return fail("the restored session differs:\n  before " + *snap + "\n  after  " + *again);
  }
  fresh->observer = std::move(old.observer);
  it->second = std::move(fresh);
  ++restores_;
  return true;
}

void Runtime::reap() {
  while (!dead_.empty()) {
    std::vector<std::string> dead;
    dead.swap(dead_);
    for (const std::string& id : dead) {
      sessions_.erase(id);
      // SCXML 6.2: a session's delayed sends die with it.
      auto list = timersOf_.find(id);
      if (list == timersOf_.end()) continue;
      auto doomed = list->second;
      for (auto it : doomed) takeTimer(it);
    }
  }
}

std::optional<Runtime::Clock::time_point> Runtime::nextTimerDue() const {
  if (timers_.empty()) return std::nullopt;
  return timers_.begin()->first - virtualOffset_;
}

void Runtime::fireDueTimers() {
  while (!timers_.empty() && timers_.begin()->first <= now()) {
    Timer t = takeTimer(timers_.begin());
    if (!find(t.from)) continue;  // SCXML 6.2: a terminated session's delayed sends are dropped
    if (route(t.from, t.request, false) == SendOutcome::kUnreachable) {
      Event err;
      err.name = "error.communication";
      err.type = Event::Type::kPlatform;
      err.sendid = t.request.sendid;
      deliver(t.from, std::move(err));
    }
  }
}

bool Runtime::terminate(const std::string& sessionId) {
  auto it = sessions_.find(sessionId);
  if (it == sessions_.end() || it->second->finished()) return false;
  Session& s = *it->second;
  if (s.stepping()) {  // e.g. a child terminating its starter from its first macrostep
    if (std::find(deferredTerminations_.begin(), deferredTerminations_.end(), sessionId) == deferredTerminations_.end())
      deferredTerminations_.push_back(sessionId);
    return true;
  }
  if (!s.parentId.empty()) children_.erase({s.parentId, s.invokeId});
  s.cancel();
  dead_.push_back(sessionId);  // destroyed by reap(), from the top of the loop
  changed(sessionId);
  return true;
}

bool Runtime::runUntil(const std::function<bool()>& done, Clock::time_point deadline) {
  for (;;) {
    runUntilIdle();
    if (done()) return true;
    if (timers_.empty()) return true;
    auto due = timers_.begin()->first;
    if (options_.virtualTime) {
      if (due > now()) virtualOffset_ += due - now();
    } else {
      if (due > Clock::now() && due > deadline) {
        std::this_thread::sleep_until(deadline);
        return false;
      }
      std::this_thread::sleep_until(due);
    }
    if (!options_.virtualTime && Clock::now() > deadline) return false;
    fireDueTimers();
  }
}

SendOutcome Runtime::route(const std::string& fromId, SendRequest& request, bool checkOnly) {
  if (request.type != kScxmlProcessorType) {
    if (!options_.sendExternal) return SendOutcome::kInvalid;
    return checkOnly ? SendOutcome::kOk : options_.sendExternal(fromId, request);
  }
  // The sender may be finishing (its onexit handlers run after it stopped): look it up as it is.
  auto fromIt = sessions_.find(fromId);
  Session* from = fromIt == sessions_.end() ? nullptr : fromIt->second.get();
  const std::string& t = request.target;
  std::string dest;
  if (t.empty()) {
    dest = fromId;
  } else if (t == "#_parent") {
    if (!from || from->parentId.empty()) return SendOutcome::kUnreachable;
    dest = from->parentId;
    request.event.invokeid = from->invokeId;
  } else if (t.rfind("#_scxml_", 0) == 0) {
    dest = t.substr(8);
    if (!find(dest) && options_.deliverElsewhere) {
      if (checkOnly) return SendOutcome::kOk;
      return options_.deliverElsewhere(dest, std::move(request.event)) ? SendOutcome::kOk : SendOutcome::kUnreachable;
    }
  } else if (t.rfind("#_", 0) == 0) {
    auto it = children_.find({fromId, t.substr(2)});
    if (it == children_.end()) return SendOutcome::kUnreachable;
    dest = it->second;
  } else {
    return SendOutcome::kInvalid;
  }
  if (!find(dest)) return SendOutcome::kUnreachable;
  if (!checkOnly) deliver(dest, std::move(request.event));
  return SendOutcome::kOk;
}

SendOutcome Runtime::send(Session& from, SendRequest request) {
  bool scxml = request.type == kScxmlProcessorType;
  if (!scxml && !options_.sendExternal) return SendOutcome::kInvalid;
  if (request.delayMs == 0) return route(from.id(), request, false);
  const std::string& t = request.target;
  if (scxml && !t.empty() && t.rfind("#_", 0) != 0) return SendOutcome::kInvalid;
  auto due = now() + std::chrono::milliseconds(request.delayMs);
  addTimer(due, Timer{from.id(), std::move(request)});
  return SendOutcome::kOk;
}

bool Runtime::cancelSend(Session& from, const std::string& sendid) {
  auto list = timersOf_.find(from.id());
  if (list == timersOf_.end()) return false;
  std::vector<std::multimap<Clock::time_point, Timer>::iterator> doomed;
  for (auto it : list->second)
    if (it->second.request.sendid == sendid) doomed.push_back(it);
  for (auto it : doomed) takeTimer(it);
  return !doomed.empty();
}

Status Runtime::invoke(Session& from, InvokeRequest request) {
  std::shared_ptr<const Document> doc = request.document;
  ParseOptions po;
  po.loader = options_.loader;
  po.url = from.document().url;
  if (!doc) {
    ParseResult pr;
    if (!request.src.empty()) {
      pr = loadDocument(resolveUrl(from.document().url, request.src), po);
    } else if (!request.content.empty()) {
      pr = parseDocument(request.content, po);
    } else {
      return Status::error("<invoke> has neither src nor content");
    }
    if (!pr.document) {
      std::string msg = "cannot load invoked document";
      if (!pr.errors.empty()) msg += ": " + pr.errors.front().str();
      return Status::error(msg);
    }
    doc = pr.document;
  }
  Session::Options o;
  if (request.data.is_object()) o.initialData = request.data.as_object();
  Result<Session*> child = createSession(doc, std::move(o));
  if (!child) return child.status();
  (*child)->parentId = from.id();
  (*child)->invokeId = request.invokeid;
  children_[{from.id(), request.invokeid}] = (*child)->id();
  (*child)->start();
  if ((*child)->hasQueuedEvents()) markReady((*child)->id());
  stepped((*child)->id());
  return Status::ok();
}

void Runtime::cancelInvoke(Session& from, const std::string& invokeid) {
  auto it = children_.find({from.id(), invokeid});
  if (it == children_.end()) return;
  std::string childId = it->second;
  children_.erase(it);
  auto s = sessions_.find(childId);
  if (s != sessions_.end() && !s->second->finished()) {
    s->second->parentId.clear();  // no done.invoke for a cancelled invocation
    terminate(childId);           // deferred if the child is on the stack
  }
}

void Runtime::forward(Session& from, const std::string& invokeid, const Event& event) {
  auto it = children_.find({from.id(), invokeid});
  if (it == children_.end()) return;
  deliver(it->second, event);
}

void Runtime::log(Session& from, const std::string& label, const std::string& text) {
  if (options_.onLog) options_.onLog(from, label, text);
  else std::cerr << label << ": " << text << "\n";
}

void Runtime::respond(Session& from, const std::string& requestid, const std::string& type,
                      const std::string& resultcode, const Value& params) {
  if (options_.onRespond) options_.onRespond(from, requestid, type, resultcode, params);
}

namespace {
Event platformEvent(std::string name, Value data) {
  Event e;
  e.name = std::move(name);
  e.type = Event::Type::kExternal;
  e.data = std::move(data);
  return e;
}
}  // namespace

namespace {

// A value as attribute text: strings as they are, other scalars as JSON writes them, objects as JSON.
std::string scalarText(const Value& v) {
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_null()) return std::string();
  return boost::json::serialize(v);
}

// name=value&... (application/x-www-form-urlencoded).
std::string formEncode(const boost::json::object& o) {
  auto enc = [](std::string_view in) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char ch : in) {
      if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') out += static_cast<char>(ch);
      else if (ch == ' ') out += '+';
      else {
        out += '%';
        out += hex[ch >> 4];
        out += hex[ch & 15];
      }
    }
    return out;
  };
  std::string out;
  for (const auto& [k, v] : o) {
    if (!out.empty()) out += '&';
    out += enc(k) + "=" + enc(scalarText(v));
  }
  return out;
}

}  // namespace

// The vendor's session actions (see ExtensionAction). Each completes by an event to the caller.
Result<std::string> Runtime::extension(Session& from, const ExtensionAction& a, const boost::json::object& attrs,
                                       const Value& params) {
  auto attr = [&](const char* n) -> std::string {
    auto it = attrs.find(n);
    return it == attrs.end() ? std::string() : scalarText(it->value());
  };
  std::string fromId = from.id();
  if (a.valueAttrs) {
    // A request to the telephony side: a routing action of the session's call (or of the call
    // its interactionid names), answered by <module>.<name>.done or error.<module>.<name>.
    if (!options_.sendExternal) return Status::error("<" + a.module + ":" + a.name + "> is not supported here");
    SendRequest req;
    // Every action has an id of its own (adapters drop an action they had already); a
    // <queue:cancel>/<queue:query> names the submit it is about in its params' `requestid`, and
    // the adapter answers it with that id.
    req.sendid = from.newRequestId();
    req.type = "call";
    auto ixn = attrs.find("interactionid");
    if (ixn != attrs.end() && ixn->value().is_string()) req.target = std::string(ixn->value().as_string());
    boost::json::object data = attrs;
    if (params.is_object())
      for (const auto& [k, v] : params.as_object()) data[k] = v;
    req.event.name = a.module + "." + a.name;
    req.event.sendid = req.sendid;
    req.event.data = std::move(data);
    SendOutcome out = options_.sendExternal(fromId, req);
    if (out != SendOutcome::kOk)
      return Status::error("<" + a.module + ":" + a.name + ">: this session serves no interaction to send it for");
    // The vendor acknowledges these two at once with the request's id (strategies may wait for it
    // before they use the id, e.g. to cancel).
    if ((a.module == "queue" && a.name == "submit") || (a.module == "dialog" && a.name == "start"))
      deliver(fromId, platformEvent(a.module + "." + a.name + ".requestid", boost::json::object{{"requestid", req.sendid}}));
    return req.sendid;
  }
  if (a.module != "session") return Status::error("unsupported extension <" + a.module + ":" + a.name + ">");
  if (a.name == "start") {
    std::string src = attr("src");
    ParseOptions po;
    po.loader = options_.loader;
    ParseResult pr = loadDocument(resolveUrl(from.document().url, src), po);
    if (!pr.document) {
      std::string why = pr.errors.empty() ? "cannot load" : pr.errors.front().str();
      deliver(fromId, platformEvent("error.session.start", boost::json::object{{"src", src}, {"error", why}}));
      return std::string();
    }
    Session::Options o;
    if (params.is_object()) o.initialData = params.as_object();
    Result<Session*> child = createSession(pr.document, std::move(o));
    if (!child) {
      deliver(fromId, platformEvent("error.session.start", boost::json::object{{"src", src}, {"error", child.status().message()}}));
      return std::string();
    }
    std::string childId = (*child)->id();
    (*child)->starterId = fromId;
    deliver(fromId, platformEvent("session.start.done", boost::json::object{{"sessionid", childId}}));
    (*child)->start();
    if ((*child)->hasQueuedEvents()) markReady(childId);
    stepped(childId);
    return childId;
  }
  if (a.name == "terminate") {
    std::string id = attr("sessionid");
    if (id == fromId) return Status::error("<session:terminate> of the session itself: reach a final state instead");
    if (terminate(id)) deliver(fromId, platformEvent("session.terminate.done", boost::json::object{{"sessionid", id}}));
    else deliver(fromId, platformEvent("error.session.terminate", boost::json::object{{"sessionid", id}, {"error", "no such session"}}));
    return id;
  }
  if (a.name == "fetch") {
    std::string requestId = "fetch." + fromId + "." + std::to_string(++nextId_);
    std::string src = attr("srcexpr").empty() ? attr("src") : attr("srcexpr");
    std::string method = attr("method").empty() ? "GET" : attr("method");
    std::string url = resolveUrl(from.document().url, src);
    if (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0) {
      if (!options_.fetchHttp) return Status::error("<session:fetch> of " + url + " is not supported here");
      FetchRequest req;
      for (char& ch : method) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      req.method = method;
      req.textContent = from.document().vendor;
      // <param>s: the query of a GET (DELETE, HEAD), else the body, form-encoded unless the
      // enctype is JSON; <content>: the body as it is.
      std::string enctype = attr("enctype");
      bool query = method == "GET" || method == "DELETE" || method == "HEAD";
      if (params.is_object() && !params.as_object().empty()) {
        if (query) {
          url += (url.find('?') == std::string::npos ? "?" : "&") + formEncode(params.as_object());
        } else if (enctype == "application/json") {
          req.body = boost::json::serialize(params);
          req.contentType = "application/json";
        } else {
          req.body = formEncode(params.as_object());
          req.contentType = "application/x-www-form-urlencoded";
        }
      } else if (params.is_string()) {
        req.body = std::string(params.as_string());
        req.contentType = enctype.empty() ? "text/plain" : enctype;
      } else if (!params.is_null() && !params.is_object()) {
        req.body = boost::json::serialize(params);
        req.contentType = "application/json";
      }
      if (auto h = attrs.find("headers"); h != attrs.end() && h->value().is_object()) {
        for (const auto& [k, v] : h->value().as_object()) {
          std::string name(k), value = scalarText(v);
          bool token = !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char ch) {
            return std::isalnum(ch) || std::strchr("!#$%&'*+-.^_`|~", ch) != nullptr;
          });
          if (!token || value.size() > 8192 || value.find_first_of(std::string("\r\n\0", 3)) != std::string::npos)
            return Status::error("<session:fetch>: header '" + name + "' is no valid HTTP header (a token name, a value " +
                                 "of one line under 8 KiB)");
          req.headers.emplace_back(std::move(name), std::move(value));
        }
      }
      if (std::string t = attr("timeout"); !t.empty()) {
        char* end = nullptr;
        double seconds = std::strtod(t.c_str(), &end);
        if (end != t.c_str() && seconds > 0)
          req.timeout = std::chrono::milliseconds(static_cast<int64_t>(std::min(seconds, 3600.0) * 1000));
      }
      req.url = url;
      options_.fetchHttp(fromId, requestId, std::move(req));
      return requestId;
    }
    Result<std::string> text = options_.loader(url);
    if (text) {
      deliver(fromId, platformEvent("session.fetch.done", boost::json::object{{"requestid", requestId},
                                                                               {"content", contentToValue(*text)},
                                                                               {"hints", boost::json::object()}}));
    } else {
      deliver(fromId, platformEvent("error.session.fetch", boost::json::object{{"requestid", requestId},
                                                                                {"error", text.status().message()}}));
    }
    return requestId;
  }
  return Status::error("unsupported extension <session:" + a.name + ">");
}

void Runtime::finished(Session& from, const Value& doneData) {
  dead_.push_back(from.id());
  changed(from.id());
  if (!from.starterId.empty())  // contract 5: done.scxml to whoever started it
    deliver(from.starterId, platformEvent("done.scxml", boost::json::object{{"sessionid", from.id()}, {"donedata", doneData}}));
  if (!from.parentId.empty()) {
    children_.erase({from.parentId, from.invokeId});
    Event done;
    done.name = "done.invoke." + from.invokeId;
    done.type = Event::Type::kExternal;
    done.invokeid = from.invokeId;
    done.data = doneData;
    done.origin = "#_scxml_" + from.id();
    done.origintype = kScxmlProcessorType;
    deliver(from.parentId, std::move(done));
  } else if (options_.onFinished) {
    options_.onFinished(from);
  }
}

}  // namespace ors::scxml
