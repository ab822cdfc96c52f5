// Session snapshots (interpreter.h: Session::snapshot / restore) and the JSON form of events.
//
// Format (version 1), one JSON object:
//   v        1
//   doc      the hash of the document the session runs (restore checks it)
//   id, parent, invokeid, starter   the session and its relations
//   conf     active states, as indices in document order (the hash pins the order)
//   bound    late binding: states whose <data> were initialised
//   hist     [[history state, [states...]]...]
//   queue    the external events not yet processed, oldest first
//   invokes  [[invokeid, invoke index, state]...] running invocations
//   sendseq  the counter for generated send ids
//   final    the top-level final state reached, if any (a finished session has no snapshot)
//   dm       the datamodel's variables (DataModel::snapshot)
// Empty members are left out. _ioprocessors is not kept: the host gives it again on restore
// (its addresses may have changed), or it is the SCXML processor's alone.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "scxml/interpreter.h"

namespace ors::scxml {

Value eventToValue(const Event& e) {
  boost::json::object o;
  o["name"] = e.name;
  o["type"] = Event::typeName(e.type);
  auto put = [&](const char* key, const std::string& v) {
    if (!v.empty()) o[key] = v;
  };
  put("sendid", e.sendid);
  put("origin", e.origin);
  put("origintype", e.origintype);
  put("invokeid", e.invokeid);
  put("raw", e.raw);
  if (!e.data.is_null()) o["data"] = e.data;
  return o;
}

bool eventFromValue(const Value& v, Event* out) {
  const boost::json::object* o = v.if_object();
  if (!o) return false;
  auto str = [&](const char* key, std::string* field) {
    const Value* f = o->if_contains(key);
    if (!f) return true;
    if (!f->is_string()) return false;
    *field = std::string(f->get_string());
    return true;
  };
  std::string type;
  if (!str("name", &out->name) || !str("type", &type) || !str("sendid", &out->sendid) ||
      !str("origin", &out->origin) || !str("origintype", &out->origintype) || !str("invokeid", &out->invokeid) ||
      !str("raw", &out->raw))
    return false;
  if (type == "platform") out->type = Event::Type::kPlatform;
  else if (type == "internal") out->type = Event::Type::kInternal;
  else if (type == "external" || type.empty()) out->type = Event::Type::kExternal;
  else return false;
  if (const Value* d = o->if_contains("data")) out->data = *d;
  return true;
}

Status Session::badSnapshot(const std::string& why) { return Status::error("cannot restore session: " + why); }

Result<std::string> Session::snapshot() {
  if (!started_ || !running_ || stepping_) return Status::error("a session has a snapshot only between its steps");
  boost::json::object o;
  o["v"] = 1;
  o["doc"] = doc_->hash;
  o["id"] = id_;
  if (!parentId.empty()) o["parent"] = parentId;
  if (!invokeId.empty()) o["invokeid"] = invokeId;
  if (!starterId.empty()) o["starter"] = starterId;
  auto indices = [&](const StateSet& set) {
    boost::json::array a;
    for (const State& s : doc_->states)
      if (has(set, s.index)) a.push_back(static_cast<int64_t>(s.index));
    return a;
  };
  o["conf"] = indices(configuration_);
  if (doc_->lateBinding) o["bound"] = indices(dataInitialised_);
  boost::json::array hist;
  for (const HistoryEntry& h : history_) {
    boost::json::array states;
    for (uint32_t s : h.states) states.push_back(static_cast<int64_t>(s));
    hist.push_back(boost::json::array{static_cast<int64_t>(h.history), std::move(states)});
  }
  if (!hist.empty()) o["hist"] = std::move(hist);
  boost::json::array queue;
  for (size_t i = extHead_; i < external_.size(); ++i) queue.push_back(eventToValue(external_[i]));
  if (!queue.empty()) o["queue"] = std::move(queue);
  boost::json::array invokes;
  for (const ActiveInvoke& a : invokes_) invokes.push_back(boost::json::array{a.invokeid, static_cast<int64_t>(a.invoke), static_cast<int64_t>(a.state)});
  if (!invokes.empty()) o["invokes"] = std::move(invokes);
  if (nextSendId_ > 0) o["sendseq"] = static_cast<int64_t>(nextSendId_);
  if (!interactions_.empty()) o["ixn"] = interactions_;
  Result<std::string> dm = [&] {
    StepScope step(*this);
    return dm_->snapshot();
  }();
  if (!dm) return dm.status();
  // The datamodel's part is JSON text already: spliced in, not parsed and written again.
  std::string out = boost::json::serialize(o);
  out.pop_back();
  out += ",\"dm\":";
  out += *dm;
  out += '}';
  return out;
}

Status Session::restore(const boost::json::object& o) {
  if (started_) return badSnapshot("the session has started already");
  const Value* v = o.if_contains("v");
  if (!v || !v->is_int64() || v->get_int64() != 1) return badSnapshot("unknown snapshot version");
  const Value* hash = o.if_contains("doc");
  if (!hash || !hash->is_string() || hash->get_string() != doc_->hash)
    return badSnapshot("it was taken with another version of the document '" + doc_->url + "'");
  auto str = [&](const char* key, std::string* out) {
    const Value* f = o.if_contains(key);
    if (f && f->is_string()) *out = std::string(f->get_string());
  };
  str("id", &id_);
  str("parent", &parentId);
  str("invokeid", &invokeId);
  str("starter", &starterId);
  if (const Value* ixn = o.if_contains("ixn"); ixn && ixn->is_object()) interactions_ = ixn->get_object();
  const size_t n = doc_->states.size();
  auto index = [&](const Value& x, uint32_t* out) {
    if (!x.is_int64() || x.get_int64() < 0 || static_cast<uint64_t>(x.get_int64()) >= n) return false;
    *out = static_cast<uint32_t>(x.get_int64());
    return true;
  };
  auto readSet = [&](const char* key, StateSet& set) {
    const Value* a = o.if_contains(key);
    if (!a) return true;
    if (!a->is_array()) return false;
    for (const Value& x : a->get_array()) {
      uint32_t i;
      if (!index(x, &i)) return false;
      add(set, i);
    }
    return true;
  };
  if (!readSet("conf", configuration_) || (doc_->lateBinding && !readSet("bound", dataInitialised_)))
    return badSnapshot("bad state list");
  if (const Value* h = o.if_contains("hist"); h && h->is_array()) {
    for (const Value& e : h->get_array()) {
      const boost::json::array* pair = e.if_array();
      HistoryEntry entry;
      if (!pair || pair->size() != 2 || !index((*pair)[0], &entry.history) || !(*pair)[1].is_array())
        return badSnapshot("bad history entry");
      for (const Value& x : (*pair)[1].get_array()) {
        uint32_t i;
        if (!index(x, &i)) return badSnapshot("bad history entry");
        entry.states.push_back(i);
      }
      history_.push_back(std::move(entry));
    }
  }
  if (const Value* q = o.if_contains("queue"); q && q->is_array()) {
    for (const Value& e : q->get_array()) {
      Event ev;
      if (!eventFromValue(e, &ev)) return badSnapshot("bad queued event");
      external_.push_back(std::move(ev));
    }
  }
  if (const Value* inv = o.if_contains("invokes"); inv && inv->is_array()) {
    for (const Value& e : inv->get_array()) {
      const boost::json::array* a = e.if_array();
      ActiveInvoke ai;
      if (!a || a->size() != 3 || !(*a)[0].is_string() || !(*a)[1].is_int64() || !index((*a)[2], &ai.state) ||
          (*a)[1].get_int64() < 0 || static_cast<uint64_t>((*a)[1].get_int64()) >= doc_->invokes.size())
        return badSnapshot("bad invocation");
      ai.invokeid = std::string((*a)[0].get_string());
      ai.invoke = static_cast<uint32_t>((*a)[1].get_int64());
      invokes_.push_back(std::move(ai));
    }
  }
  if (const Value* seq = o.if_contains("sendseq"); seq && seq->is_int64()) nextSendId_ = static_cast<uint64_t>(seq->get_int64());
  started_ = true;
  running_ = true;
  StepScope step(*this);
  if (ioprocessors_.is_null()) ioprocessors_ = defaultIoProcessors(id_);
  dm_->setSystemVariables(id_, doc_->name, ioprocessors_);
  const Value* dm = o.if_contains("dm");
  Status st = dm_->restore(dm ? boost::json::serialize(*dm) : std::string("null"));
  if (!st) {
    running_ = false;
    return badSnapshot(st.message());
  }
  return Status::ok();
}

}  // namespace ors::scxml
