// The SCXML interpreter (SCXML 1.0 Appendix D), read side by side with the spec's pseudo-code.
#include "scxml/interpreter.h"

// g++ 12 reports boost::container::small_vector's memmove of its inline buffer as reading past
// the buffer (-Wstringop-overread) once inlined: a known false positive of that compiler.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wstringop-overread"
#endif

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>

#include "scxml/xml.h"

namespace ors::scxml {

namespace {

bool isScxmlType(const std::string& t) {
  return t.empty() || t == kScxmlProcessorType || t == "scxml" || t == "http://www.w3.org/TR/scxml/" ||
         t == "http://www.w3.org/TR/scxml";
}

// SCXML 6.2.4: CSS2 time designations ("2s", "500ms", "1.5s"); also minutes/hours as a courtesy.
bool parseDelay(std::string_view s, uint64_t* ms) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  if (s.empty()) {
    *ms = 0;
    return true;
  }
  size_t i = 0;
  double v = 0;
  bool digits = false;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) v = v * 10 + (s[i++] - '0'), digits = true;
  if (i < s.size() && s[i] == '.') {
    double scale = 0.1;
    for (++i; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])); ++i, scale /= 10)
      v += (s[i] - '0') * scale, digits = true;
  }
  if (!digits) return false;
  std::string_view unit = s.substr(i);
  double factor;
  if (unit == "ms") factor = 1;
  else if (unit == "s" || unit.empty()) factor = 1000;
  else if (unit == "m" || unit == "min") factor = 60'000;
  else if (unit == "h") factor = 3'600'000;
  else return false;
  *ms = static_cast<uint64_t>(std::llround(v * factor));
  return true;
}

}  // namespace

bool nameMatch(const std::vector<std::string>& descriptors, std::string_view name) {
  for (const std::string& d : descriptors) {
    if (d == "*") return true;
    if (name.size() >= d.size() && name.compare(0, d.size(), d) == 0 &&
        (name.size() == d.size() || name[d.size()] == '.'))
      return true;
  }
  return false;
}

Value Session::defaultIoProcessors(const std::string& id) {
  boost::json::object io;
  io[kScxmlProcessorType] = boost::json::object{{"location", "#_scxml_" + id}};
  io["scxml"] = io[kScxmlProcessorType];
  return io;
}

Session::Session(std::shared_ptr<const Document> doc, dm::Engine& engine, SessionHost& host, Options options)
    : doc_(std::move(doc)),
      host_(host),
      id_(std::move(options.sessionId)),
      initialData_(std::move(options.initialData)),
      ioprocessors_(std::move(options.ioprocessors)) {
  size_t words = (doc_->states.size() + 63) / 64;
  configuration_.assign(words, 0);
  statesToInvoke_.assign(words, 0);
  if (doc_->lateBinding) dataInitialised_.assign(words, 0);
  dm_ = engine.create(*doc_, *this);
}

Session::~Session() = default;

bool Session::isInState(std::string_view stateId) const {
  auto it = doc_->stateById.find(std::string(stateId));
  return it != doc_->stateById.end() && has(configuration_, it->second);
}

void Session::raiseEvent(std::string name, Value data) {
  Event e;
  e.name = std::move(name);
  e.type = Event::Type::kInternal;
  e.data = std::move(data);
  internal_.push_back(std::move(e));
}

void Session::logText(std::string_view text) { host_.log(*this, "__Log", std::string(text)); }

std::string Session::documentUrl() const { return doc_->url; }

Result<std::string> Session::moduleRequest(const std::string& module, const std::string& name,
                                           const boost::json::object& attrs) {
  ExtensionAction a;
  a.module = module;
  a.name = name;
  a.valueAttrs = true;
  return host_.extension(*this, a, attrs, Value(boost::json::object()));
}

std::string Session::newRequestId() { return id_ + "." + std::to_string(++nextSendId_); }

void Session::noteInteractionEvent(const Event& ev) {
  if (ev.name.rfind("interaction.", 0) != 0 || !ev.data.is_object()) return;
  const boost::json::object& d = ev.data.get_object();
  const Value* idv = d.if_contains("interactionid");
  if (!idv || !idv->is_string()) return;
  std::string id(idv->get_string());
  if (ev.name == "interaction.added") {
    const Value* ixn = d.if_contains("interaction");
    boost::json::object o = ixn && ixn->is_object() ? ixn->get_object() : boost::json::object{};
    if (!o.contains("g_uid")) o["g_uid"] = id;
    if (!o.contains("udata")) o["udata"] = boost::json::object{};
    interactions_[id] = std::move(o);
  } else if (ev.name == "interaction.deleted") {
    const Value* why = d.if_contains("resultof");
    if (!why || (why->is_string() && why->get_string() == "deletion")) interactions_.erase(id);
  } else if (ev.name == "interaction.udata.changed") {
    const Value* udata = d.if_contains("udata");
    auto it = interactions_.find(id);
    if (udata && udata->is_object() && it != interactions_.end() && it->value().is_object())
      it->value().get_object()["udata"] = *udata;
  }
}

// Every active state (not only the atomic ones), in document order.
std::vector<std::string> Session::currentStates() const {
  std::vector<std::string> out;
  for (const State& s : doc_->states)
    if (s.index != 0 && has(configuration_, s.index)) out.push_back(s.id);
  return out;
}

std::vector<std::string> Session::activeAtomicStates() const {
  std::vector<std::string> out;
  for (const State& s : doc_->states)
    if (s.index != 0 && s.isAtomic() && has(configuration_, s.index)) out.push_back(s.id);
  std::sort(out.begin(), out.end());
  return out;
}

// ---- interpret() -------------------------------------------------------------------------
void Session::start() {
  if (started_) return;
  StepScope step(*this);
  started_ = true;
  running_ = true;
  if (ioprocessors_.is_null()) ioprocessors_ = defaultIoProcessors(id_);
  dm_->setSystemVariables(id_, doc_->name, ioprocessors_);
  // SCXML 5.2.2: early binding initialises every <data> now; late binding only declares them.
  for (const State& s : doc_->states) {
    if (!doc_->lateBinding || s.index == 0) initDataItems(s.index);
    else
      for (const Data& d : s.data) dm_->declareData(d);
  }
  if (doc_->lateBinding) add(dataInitialised_, 0);
  scope(0);
  executeContent(doc_->script);
  enterStates({doc_->states[0].initial});
  macrostep();
  if (observer) observer(*this, nullptr);
}

void Session::initDataItems(uint32_t state) {
  for (const Data& d : doc_->states[state].data) {
    if (state == 0) {
      auto it = initialData_.find(d.id);
      if (it != initialData_.end()) {
        dm_->declareData(d);
        Status s = dm_->assignValue(d.location, it->value());
        if (!s) raiseError("error.execution", s.message());
        continue;
      }
    }
    if (!d.loadError.empty()) {
      dm_->declareData(d);
      raiseError("error.execution", d.loadError);
      continue;
    }
    Status s = dm_->initData(d);
    if (!s) raiseError("error.execution", s.message());
  }
}

void Session::enqueue(Event event) {
  if (!running_) return;
  external_.push_back(std::move(event));
}

size_t Session::run(size_t maxEvents) {
  StepScope step(*this);
  size_t n = 0;
  while (running_ && n < maxEvents && extHead_ < external_.size()) {
    currentExternal_ = std::move(external_[extHead_++]);
    const Event& ev = currentExternal_;
    if (extHead_ == external_.size()) {
      external_.clear();
      extHead_ = 0;
    }
    ++n;
    noteInteractionEvent(ev);
    dm_->setEvent(ev);
    for (size_t i = 0; i < invokes_.size(); ++i) {
      const ActiveInvoke& a = invokes_[i];
      const Invoke& inv = *doc_->invokes[a.invoke];
      if (a.invokeid == ev.invokeid) {
        scope(a.state);
        executeContent(inv.finalize);
      }
      if (inv.autoforward) host_.forward(*this, a.invokeid, ev);
    }
    Session::IndexList enabled = selectTransitions(ev);
    if (!enabled.empty()) microstep(enabled);
    macrostep();
    if (observer) observer(*this, &ev);
  }
  return n;
}

void Session::macrostep() {
  for (;;) {
    while (running_) {
      Session::IndexList enabled = selectEventlessTransitions();
      if (enabled.empty()) {
        if (intHead_ == internal_.size()) break;
        currentInternal_ = std::move(internal_[intHead_++]);
        if (intHead_ == internal_.size()) {
          internal_.clear();
          intHead_ = 0;
        }
        dm_->setEvent(currentInternal_);
        enabled = selectTransitions(currentInternal_);
      }
      if (!enabled.empty()) microstep(enabled);
    }
    if (!running_) {
      exitInterpreter();
      return;
    }
    // SCXML 3.13: invoke in document order for the states entered and not exited this macrostep.
    for (const State& s : doc_->states) {
      if (!has(statesToInvoke_, s.index)) continue;
      for (uint32_t i : s.invokes) invoke(*doc_->invokes[i], s.index);
    }
    std::fill(statesToInvoke_.begin(), statesToInvoke_.end(), 0);
    if (intHead_ == internal_.size()) return;
  }
}

void Session::cancel() {
  if (!running_) return;
  StepScope step(*this);
  running_ = false;
  exitAllStates();
}

void Session::exitInterpreter() { host_.finished(*this, exitAllStates()); }

// SCXML D exitInterpreter: every active state is exited in exit order (onexit, invocations
// cancelled). Returns the done data of the top-level final state left, if any (SCXML 5.7).
Value Session::exitAllStates() {
  Value done;
  for (uint32_t i = static_cast<uint32_t>(doc_->states.size()); i-- > 1;) {
    if (!has(configuration_, i)) continue;
    const State& s = doc_->states[i];
    scope(i);
    for (const Block& b : s.onexit) executeContent(b);
    if (s.isFinal() && s.parent == 0) done = doneData(s.donedata);
    leaveScope(i);
    cancelInvokesOf(i);
    del(configuration_, i);
  }
  return done;
}

// ---- transition selection ----------------------------------------------------------------
Session::IndexList Session::selectEventlessTransitions() {
  Session::IndexList enabled;
  for (const State& atomic : doc_->states) {
    if (!atomic.isAtomic() || atomic.index == 0 || !has(configuration_, atomic.index)) continue;
    for (uint32_t s = atomic.index; s != kNone; s = doc_->states[s].parent) {
      bool found = false;
      for (uint32_t t : doc_->states[s].transitions) {
        const Transition& tr = doc_->transitions[t];
        if (tr.eventless() && conditionMatch(tr)) {
          if (std::find(enabled.begin(), enabled.end(), t) == enabled.end()) enabled.push_back(t);
          found = true;
          break;
        }
      }
      if (found) break;
    }
  }
  return removeConflictingTransitions(enabled);
}

Session::IndexList Session::selectTransitions(const Event& event) {
  Session::IndexList enabled;
  for (const State& atomic : doc_->states) {
    if (!atomic.isAtomic() || atomic.index == 0 || !has(configuration_, atomic.index)) continue;
    for (uint32_t s = atomic.index; s != kNone; s = doc_->states[s].parent) {
      bool found = false;
      for (uint32_t t : doc_->states[s].transitions) {
        const Transition& tr = doc_->transitions[t];
        if (!tr.eventless() && nameMatch(tr.events, event.name) && conditionMatch(tr)) {
          if (std::find(enabled.begin(), enabled.end(), t) == enabled.end()) enabled.push_back(t);
          found = true;
          break;
        }
      }
      if (found) break;
    }
  }
  return removeConflictingTransitions(enabled);
}

bool Session::conditionMatch(const Transition& t) {
  if (!t.cond.present()) return true;
  scope(t.source);
  Result<bool> r = dm_->evalCond(t.cond);
  if (!r) {
    raiseError("error.execution", r.status().message());
    return false;
  }
  return *r;
}

Session::IndexList Session::removeConflictingTransitions(const Session::IndexList& enabled) {
  if (enabled.size() <= 1) return enabled;
  Session::IndexList filtered;
  std::vector<StateSet> exitSets;  // parallel to filtered
  for (uint32_t t1 : enabled) {
    bool preempted = false;
    StateSet exit1 = computeExitSet({t1});
    std::vector<size_t> toRemove;
    for (size_t k = 0; k < filtered.size(); ++k) {
      bool intersect = false;
      for (size_t w = 0; w < exit1.size(); ++w) intersect = intersect || (exit1[w] & exitSets[k][w]);
      if (!intersect) continue;
      if (doc_->isDescendant(doc_->transitions[t1].source, doc_->transitions[filtered[k]].source)) {
        toRemove.push_back(k);
      } else {
        preempted = true;
        break;
      }
    }
    if (preempted) continue;
    for (size_t k = toRemove.size(); k-- > 0;) {
      filtered.erase(filtered.begin() + static_cast<long>(toRemove[k]));
      exitSets.erase(exitSets.begin() + static_cast<long>(toRemove[k]));
    }
    filtered.push_back(t1);
    exitSets.push_back(std::move(exit1));
  }
  return filtered;
}

// ---- microstep -----------------------------------------------------------------------------
void Session::microstep(const Session::IndexList& enabled) {
  host_.countMicrostep();
  exitStates(enabled);
  executeTransitionContent(enabled);
  // The scopes of the states left close once their transitions' content has run in them (and
  // before a state re-entered gets its new one).
  for (uint32_t s : closing_) leaveScope(s);
  closing_.clear();
  enterStates(enabled);
}

void Session::executeTransitionContent(const Session::IndexList& enabled) {
  for (uint32_t t : enabled) {
    scope(doc_->transitions[t].source);
    executeContent(doc_->transitions[t].actions);
  }
}

Session::StateSet Session::computeExitSet(const Session::IndexList& transitions) {
  StateSet exit(configuration_.size(), 0);
  for (uint32_t t : transitions) {
    const Transition& tr = doc_->transitions[t];
    if (tr.targets.empty()) continue;
    uint32_t domain = getTransitionDomain(tr);
    if (domain == kNone) continue;
    uint32_t last = doc_->states[domain].lastDescendant;
    for (uint32_t s = domain + 1; s <= last; ++s)
      if (has(configuration_, s)) add(exit, s);
  }
  return exit;
}

void Session::exitStates(const Session::IndexList& enabled) {
  StateSet exit = computeExitSet(enabled);
  for (size_t w = 0; w < exit.size(); ++w) statesToInvoke_[w] &= ~exit[w];
  Session::IndexList order;  // exit order: reverse document order
  for (uint32_t i = static_cast<uint32_t>(doc_->states.size()); i-- > 1;)
    if (has(exit, i)) order.push_back(i);
  for (uint32_t s : order) {
    for (uint32_t h : doc_->states[s].children) {
      const State& hs = doc_->states[h];
      if (!hs.isHistory()) continue;
      Session::IndexList record;
      for (uint32_t c = s + 1; c <= doc_->states[s].lastDescendant; ++c) {
        if (!has(configuration_, c)) continue;
        if (hs.deepHistory ? doc_->states[c].isAtomic() : doc_->states[c].parent == s) record.push_back(c);
      }
      auto it = std::find_if(history_.begin(), history_.end(), [&](const HistoryEntry& e) { return e.history == h; });
      if (it == history_.end()) history_.push_back({h, std::move(record)});
      else it->states = std::move(record);
    }
  }
  for (uint32_t s : order) {
    scope(s);
    for (const Block& b : doc_->states[s].onexit) executeContent(b);
    if (doc_->vendor) closing_.push_back(s);
    cancelInvokesOf(s);
    del(configuration_, s);
  }
}

void Session::enterStates(const Session::IndexList& enabled) {
  StateSet statesToEnter(configuration_.size(), 0);
  StateSet statesForDefaultEntry(configuration_.size(), 0);
  DefaultHistoryContent defaultHistoryContent;  // state -> transition
  computeEntrySet(enabled, statesToEnter, statesForDefaultEntry, defaultHistoryContent);
  for (uint32_t s = 1; s < doc_->states.size(); ++s) {
    if (!has(statesToEnter, s)) continue;
    const State& st = doc_->states[s];
    add(configuration_, s);
    add(statesToInvoke_, s);
    if (doc_->lateBinding && !has(dataInitialised_, s)) {
      add(dataInitialised_, s);
      scope(0);  // <data> is the session's
      initDataItems(s);
    }
    if (doc_->vendor) {
      if (st.scripted) dm_->enterScope(s);
      dm_->setScope(s);
    }
    for (const Block& b : st.onentry) executeContent(b);
    if (has(statesForDefaultEntry, s) && st.initial != kNone) executeContent(doc_->transitions[st.initial].actions);
    for (const auto& [state, t] : defaultHistoryContent)
      if (state == s) executeContent(doc_->transitions[t].actions);
    if (st.isFinal()) {
      if (st.parent == 0) {
        running_ = false;
        finalState_ = st.id;
      } else {
        const State& parent = doc_->states[st.parent];
        Event done;
        done.name = "done.state." + parent.id;
        done.type = Event::Type::kInternal;
        done.data = doneData(st.donedata);
        internal_.push_back(std::move(done));
        uint32_t gp = parent.parent;
        if (gp != kNone && doc_->states[gp].isParallel()) {
          bool all = true;
          for (uint32_t c : doc_->states[gp].children)
            if (!doc_->states[c].isHistory() && !isInFinalState(c)) all = false;
          if (all) {
            Event done2;
            done2.name = "done.state." + doc_->states[gp].id;
            done2.type = Event::Type::kInternal;
            internal_.push_back(std::move(done2));
          }
        }
      }
    }
  }
}

void Session::computeEntrySet(const Session::IndexList& transitions, StateSet& statesToEnter,
                              StateSet& statesForDefaultEntry,
                              DefaultHistoryContent& defaultHistoryContent) {
  for (uint32_t t : transitions) {
    const Transition& tr = doc_->transitions[t];
    for (uint32_t s : tr.targets) addDescendantStatesToEnter(s, statesToEnter, statesForDefaultEntry, defaultHistoryContent);
    uint32_t ancestor = getTransitionDomain(tr);
    for (uint32_t s : getEffectiveTargetStates(tr))
      addAncestorStatesToEnter(s, ancestor, statesToEnter, statesForDefaultEntry, defaultHistoryContent);
  }
}

void Session::addDescendantStatesToEnter(uint32_t state, StateSet& statesToEnter, StateSet& statesForDefaultEntry,
                                         DefaultHistoryContent& defaultHistoryContent) {
  const State& st = doc_->states[state];
  if (st.isHistory()) {
    auto it = std::find_if(history_.begin(), history_.end(), [&](const HistoryEntry& e) { return e.history == state; });
    if (it != history_.end()) {
      Session::IndexList hv = it->states;
      for (uint32_t s : hv) addDescendantStatesToEnter(s, statesToEnter, statesForDefaultEntry, defaultHistoryContent);
      for (uint32_t s : hv) addAncestorStatesToEnter(s, st.parent, statesToEnter, statesForDefaultEntry, defaultHistoryContent);
    } else if (!st.transitions.empty()) {
      const Transition& dt = doc_->transitions[st.transitions[0]];
      defaultHistoryContent.emplace_back(st.parent, dt.index);
      for (uint32_t s : dt.targets) addDescendantStatesToEnter(s, statesToEnter, statesForDefaultEntry, defaultHistoryContent);
      for (uint32_t s : dt.targets) addAncestorStatesToEnter(s, st.parent, statesToEnter, statesForDefaultEntry, defaultHistoryContent);
    }
    return;
  }
  add(statesToEnter, state);
  if (st.isCompound()) {
    add(statesForDefaultEntry, state);
    const Transition& it = doc_->transitions[st.initial];
    for (uint32_t s : it.targets) addDescendantStatesToEnter(s, statesToEnter, statesForDefaultEntry, defaultHistoryContent);
    for (uint32_t s : it.targets) addAncestorStatesToEnter(s, state, statesToEnter, statesForDefaultEntry, defaultHistoryContent);
  } else if (st.isParallel()) {
    for (uint32_t child : st.children) {
      if (doc_->states[child].isHistory()) continue;
      bool covered = false;
      for (uint32_t d = child; d <= doc_->states[child].lastDescendant && !covered; ++d) covered = has(statesToEnter, d);
      if (!covered) addDescendantStatesToEnter(child, statesToEnter, statesForDefaultEntry, defaultHistoryContent);
    }
  }
}

void Session::addAncestorStatesToEnter(uint32_t state, uint32_t ancestor, StateSet& statesToEnter,
                                       StateSet& statesForDefaultEntry,
                                       DefaultHistoryContent& defaultHistoryContent) {
  for (uint32_t anc = doc_->states[state].parent; anc != ancestor && anc != kNone && anc != 0;
       anc = doc_->states[anc].parent) {
    add(statesToEnter, anc);
    if (doc_->states[anc].isParallel()) {
      for (uint32_t child : doc_->states[anc].children) {
        if (doc_->states[child].isHistory()) continue;
        bool covered = false;
        for (uint32_t d = child; d <= doc_->states[child].lastDescendant && !covered; ++d) covered = has(statesToEnter, d);
        if (!covered) addDescendantStatesToEnter(child, statesToEnter, statesForDefaultEntry, defaultHistoryContent);
      }
    }
  }
}

bool Session::isInFinalState(uint32_t state) const {
  const State& st = doc_->states[state];
  if (st.isCompound()) {
    for (uint32_t c : st.children)
      if (doc_->states[c].isFinal() && has(configuration_, c)) return true;
    return false;
  }
  if (st.isParallel()) {
    for (uint32_t c : st.children)
      if (!doc_->states[c].isHistory() && !isInFinalState(c)) return false;
    return true;
  }
  return false;
}

uint32_t Session::getTransitionDomain(const Transition& t) {
  if (t.staticDomain) return t.domain;  // no history target: computed once, by the parser
  Session::IndexList tstates = getEffectiveTargetStates(t);
  if (tstates.empty()) return kNone;
  if (t.source == 0) return 0;  // the document's initial transition
  const State& src = doc_->states[t.source];
  if (t.internal && src.isCompound() &&
      std::all_of(tstates.begin(), tstates.end(), [&](uint32_t s) { return doc_->isDescendant(s, t.source); }))
    return t.source;
  return findLCCA(t.source, tstates);
}

uint32_t Session::findLCCA(uint32_t head, const Session::IndexList& tail) const {
  for (uint32_t anc = doc_->states[head].parent; anc != kNone; anc = doc_->states[anc].parent) {
    if (anc != 0 && !doc_->states[anc].isCompound()) continue;
    if (std::all_of(tail.begin(), tail.end(), [&](uint32_t s) { return doc_->isDescendant(s, anc); })) return anc;
  }
  return 0;
}

Session::IndexList Session::getEffectiveTargetStates(const Transition& t) {
  Session::IndexList out;
  for (uint32_t s : t.targets) {
    if (doc_->states[s].isHistory()) {
      auto it = std::find_if(history_.begin(), history_.end(), [&](const HistoryEntry& e) { return e.history == s; });
      Session::IndexList more;
      if (it != history_.end()) more = it->states;
      else if (!doc_->states[s].transitions.empty())
        more = getEffectiveTargetStates(doc_->transitions[doc_->states[s].transitions[0]]);
      for (uint32_t m : more)
        if (std::find(out.begin(), out.end(), m) == out.end()) out.push_back(m);
    } else if (std::find(out.begin(), out.end(), s) == out.end()) {
      out.push_back(s);
    }
  }
  return out;
}

// ---- executable content --------------------------------------------------------------------
void Session::raiseError(const char* name, const std::string& message, const std::string& sendid) {
  Event e;
  e.name = name;
  e.type = Event::Type::kPlatform;
  e.sendid = sendid;
  e.data = boost::json::object{{"message", message}};
  internal_.push_back(std::move(e));
}

void Session::executeContent(const Block& block) {
  Status s = executeBlock(block);
  if (!s) {
    // SCXML 5.10.1: an error caused by a <send> carries that send's id.
    raiseError("error.execution", s.message(), failedSendId_);
  }
  failedSendId_.clear();
}

Status Session::executeBlock(const Block& block) {
  for (const auto& a : block) {
    Status s = execute(*a);
    if (!s) return s;
  }
  return Status::ok();
}

Value contentToValue(std::string_view text) {
  size_t b = text.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return Value(std::string());
  size_t e = text.find_last_not_of(" \t\r\n");
  std::string_view trimmed = text.substr(b, e - b + 1);
  boost::system::error_code ec;
  Value v = boost::json::parse(trimmed, ec);
  if (!ec) return v;
  if (trimmed.front() == '<') {
    XmlError xe;
    if (parseXml(trimmed, &xe)) return boost::json::object{{kXmlValueKey, trimmed}};
  }
  // B.2: any other text is a string, with white space normalised.
  std::string out;
  bool space = false;
  for (char c : trimmed) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c;
  }
  return Value(std::move(out));
}


Status Session::evalData(const std::vector<Expr>& namelist, const std::vector<Param>& params, const Content& content,
                         Value* out) {
  if (content.present) {
    if (content.expr.present()) {
      Result<Value> v = dm_->evalValue(content.expr);
      if (!v) return v.status();
      *out = std::move(*v);
    } else {
      *out = contentToValue(content.body);
    }
    return Status::ok();
  }
  if (namelist.empty() && params.empty()) return Status::ok();
  boost::json::object obj;
  for (const Expr& n : namelist) {
    Result<Value> v = dm_->evalValue(n);
    if (!v) return v.status();
    obj[n.text] = std::move(*v);
  }
  for (const Param& p : params) {
    Result<Value> v = dm_->evalValue(p.expr);
    if (!v) return v.status();
    obj[p.name] = std::move(*v);
  }
  *out = std::move(obj);
  return Status::ok();
}

Status Session::execute(const Action& action) {
  switch (action.kind) {
    case Action::Kind::kRaise: {
      const auto& r = static_cast<const Raise&>(action);
      Event e;
      e.name = r.event;
      if (r.eventexpr.present()) {
        Result<std::string> name = dm_->evalString(r.eventexpr);
        if (!name) return name.status();
        e.name = std::move(*name);
      }
      if (!r.params.empty()) {
        Status s = evalData({}, r.params, Content{}, &e.data);
        if (!s) return s;
      }
      e.type = Event::Type::kInternal;
      internal_.push_back(std::move(e));
      return Status::ok();
    }
    case Action::Kind::kSend: {
      Status s = executeSend(static_cast<const Send&>(action));
      if (s.isOk()) failedSendId_.clear();
      return s;
    }
    case Action::Kind::kCancel: {
      const auto& c = static_cast<const Cancel&>(action);
      std::string id = c.sendid;
      if (c.sendidexpr.present()) {
        Result<std::string> r = dm_->evalString(c.sendidexpr);
        if (!r) return r.status();
        id = std::move(*r);
      }
      bool cancelled = host_.cancelSend(*this, id);
      // The vendor's dialect: a cancel completes by an event (what its generated code waits for).
      if (doc_->vendor) {
        Event done;
        done.name = cancelled ? "cancel.successful" : "error.notallowed";
        done.type = cancelled ? Event::Type::kInternal : Event::Type::kPlatform;
        done.data = boost::json::object{{"sendid", id}};
        internal_.push_back(std::move(done));
      }
      return Status::ok();
    }
    case Action::Kind::kAssign: {
      const auto& a = static_cast<const Assign&>(action);
      if (dm::DataModel::isSystemLocation(a.location.text))
        return Status::error("cannot assign to system variable '" + a.location.text + "'");
      if (a.expr.present()) return dm_->assign(a.location, a.expr);
      return dm_->assignValue(a.location, contentToValue(a.content.body));
    }
    case Action::Kind::kIf: {
      for (const If::Branch& b : static_cast<const If&>(action).branches) {
        bool take = true;
        if (b.cond.present()) {
          Result<bool> r = dm_->evalCond(b.cond);
          if (!r) return r.status();
          take = *r;
        }
        if (take) return executeBlock(b.body);
      }
      return Status::ok();
    }
    case Action::Kind::kForeach: {
      const auto& f = static_cast<const Foreach&>(action);
      return dm_->forEach(f.array, f.item, f.index, [&] { return executeBlock(f.body); });
    }
    case Action::Kind::kLog: {
      const auto& l = static_cast<const Log&>(action);
      std::string text;
      if (l.expr.present()) {
        Result<std::string> r = dm_->evalString(l.expr);
        if (!r) return r.status();
        text = std::move(*r);
      }
      host_.log(*this, l.label, text);
      return Status::ok();
    }
    case Action::Kind::kScript:
      return dm_->execScript(static_cast<const Script&>(action).body);
    case Action::Kind::kForeign:
      return Status::ok();  // SCXML 4.1: unknown elements of other namespaces are ignored
    case Action::Kind::kExtension: {
      const auto& x = static_cast<const ExtensionAction&>(action);
      boost::json::object attrs;
      for (const auto& [name, expr] : x.attrs) {
        // Values (a resource or the headers of a fetch are objects); the session actions'
        // others are read as text.
        if (x.valueAttrs || name == "headers") {
          Result<Value> v = dm_->evalValue(expr);
          if (!v) return v.status();
          attrs[name] = std::move(*v);
          continue;
        }
        Result<std::string> v = dm_->evalString(expr);
        if (!v) return v.status();
        attrs[name] = std::move(*v);
      }
      if (!x.children.empty()) {
        Result<Value> children = evalModuleElements(x.children);
        if (!children) return children.status();
        attrs["children"] = std::move(*children);
      }
      Value params = boost::json::object();
      Status s = evalData({}, x.params, x.content, &params);
      if (!s) return s;
      Result<std::string> id = host_.extension(*this, x, attrs, params);
      if (!id) return id.status();
      if (x.idlocation.present()) return dm_->assignValue(x.idlocation, Value(*id));
      return Status::ok();
    }
    case Action::Kind::kWsResponse: {
      const auto& r = static_cast<const WsResponse&>(action);
      std::string requestid, type = "positive", resultcode;
      for (auto [expr, out] : {std::pair{&r.requestid, &requestid}, std::pair{&r.type, &type},
                               std::pair{&r.resultcode, &resultcode}}) {
        if (!expr->present()) continue;
        Result<std::string> v = dm_->evalString(*expr);
        if (!v) return v.status();
        *out = std::move(*v);
      }
      if (type != "positive" && type != "negative")
        return Status::error("<ws:response> type must be 'positive' or 'negative', not '" + type + "'");
      Value params = boost::json::object();
      Status s = evalData({}, r.params, Content{}, &params);
      if (!s) return s;
      host_.respond(*this, requestid, type, resultcode, params);
      return Status::ok();
    }
  }
  return Status::ok();
}

// A module action's nested element as the telephony side gets it: {"element", "attrs", "text",
// "children"}, its attributes evaluated.
Result<Value> Session::evalModuleElement(const ModuleElement& m) {
  boost::json::object attrs;
  for (const auto& [name, value] : m.literals) attrs[name] = value;
  for (const auto& [name, expr] : m.attrs) {
    Result<Value> v = dm_->evalValue(expr);
    if (!v) return v.status();
    attrs[name] = std::move(*v);
  }
  boost::json::object o{{"element", m.element}, {"attrs", std::move(attrs)}};
  if (!m.children.empty()) {
    Result<Value> children = evalModuleElements(m.children);
    if (!children) return children.status();
    o["children"] = std::move(*children);
  }
  if (!m.text.empty()) o["text"] = m.text;
  return Value(std::move(o));
}

Result<Value> Session::evalModuleElements(const std::vector<ModuleElement>& elements) {
  boost::json::array out;
  for (const ModuleElement& e : elements) {
    Result<Value> v = evalModuleElement(e);
    if (!v) return v.status();
    out.push_back(std::move(*v));
  }
  return Value(std::move(out));
}

Status Session::executeSend(const Send& send) {
  SendRequest req;
  Event& ev = req.event;
  ev.name = send.event;
  if (send.eventexpr.present()) {
    Result<std::string> r = dm_->evalString(send.eventexpr);
    if (!r) return r.status();
    ev.name = std::move(*r);
  }
  req.target = send.target;
  if (send.targetexpr.present()) {
    Result<std::string> r = dm_->evalString(send.targetexpr);
    if (!r) return r.status();
    req.target = std::move(*r);
  }
  std::string type = send.type;
  if (send.typeexpr.present()) {
    Result<std::string> r = dm_->evalString(send.typeexpr);
    if (!r) return r.status();
    type = std::move(*r);
  }
  req.type = isScxmlType(type) ? std::string(kScxmlProcessorType) : type;
  std::string delay = send.delay;
  if (send.delayexpr.present()) {
    Result<std::string> r = dm_->evalString(send.delayexpr);
    if (!r) return r.status();
    delay = std::move(*r);
  }
  if (!parseDelay(delay, &req.delayMs)) return Status::error("invalid delay '" + delay + "'");
  if (!send.id.empty()) {
    req.sendid = send.id;
  } else {
    req.sendid = id_ + "." + std::to_string(++nextSendId_);
    if (send.idlocation.present()) {
      Status s = dm_->assignValue(send.idlocation, Value(req.sendid));
      if (!s) return s;
    }
  }
  if (!send.id.empty() || send.idlocation.present()) failedSendId_ = req.sendid;
  Status s = evalData(send.namelist, send.params, send.content, &ev.data);
  if (!s) return s;
  bool explicitId = !send.id.empty() || send.idlocation.present();
  if (req.type == kScxmlProcessorType) {
    // SCXML C.1: validate the target before anything is delivered.
    const std::string& t = req.target;
    if (t == "#_internal") {
      ev.type = Event::Type::kInternal;
      if (explicitId) ev.sendid = req.sendid;
      internal_.push_back(std::move(ev));
      return Status::ok();
    }
    if (!t.empty() && t.rfind("#_", 0) != 0) return Status::error("unsupported send target '" + t + "'");
  }
  ev.type = Event::Type::kExternal;
  if (explicitId) ev.sendid = req.sendid;
  ev.origin = "#_scxml_" + id_;
  ev.origintype = kScxmlProcessorType;
  std::string sendid = req.sendid;
  switch (host_.send(*this, std::move(req))) {
    case SendOutcome::kOk:
      return Status::ok();
    case SendOutcome::kInvalid:
      return Status::error("unsupported send type or target");
    case SendOutcome::kUnreachable:
      raiseError("error.communication", "send target unreachable", sendid);
      return Status::ok();
  }
  return Status::ok();
}

Value Session::doneData(const DoneData& dd) {
  if (!dd.present) return nullptr;
  Value v;
  Status s = evalData({}, dd.params, dd.content, &v);
  if (!s) {
    raiseError("error.execution", s.message());
    return nullptr;
  }
  return v;
}

void Session::invoke(const Invoke& inv, uint32_t state) {
  scope(state);
  InvokeRequest req;
  req.invokeid = inv.id;
  if (req.invokeid.empty()) {
    req.invokeid = doc_->states[state].id + "." + id_ + "." + std::to_string(++nextSendId_);
    if (inv.idlocation.present()) {
      Status s = dm_->assignValue(inv.idlocation, Value(req.invokeid));
      if (!s) {
        raiseError("error.execution", s.message());
        return;
      }
    }
  }
  std::string type = inv.type;
  if (inv.typeexpr.present()) {
    Result<std::string> r = dm_->evalString(inv.typeexpr);
    if (!r) return raiseError("error.execution", r.status().message());
    type = *r;
  }
  if (!isScxmlType(type)) return raiseError("error.execution", "unsupported invoke type '" + type + "'");
  req.type = kScxmlProcessorType;
  std::string src = inv.src;
  if (inv.srcexpr.present()) {
    Result<std::string> r = dm_->evalString(inv.srcexpr);
    if (!r) return raiseError("error.execution", r.status().message());
    src = *r;
  }
  if (!src.empty()) req.src = src;
  if (inv.content.present) {
    if (inv.content.document) {
      req.document = inv.content.document;
    } else if (inv.content.expr.present()) {
      Result<std::string> r = dm_->evalString(inv.content.expr);
      if (!r) return raiseError("error.execution", r.status().message());
      req.content = *r;
    } else {
      req.content = inv.content.body;
    }
  }
  Value data;
  Status s = evalData(inv.namelist, inv.params, Content{}, &data);
  if (!s) return raiseError("error.execution", s.message());
  if (data.is_object()) req.data = std::move(data);
  req.autoforward = inv.autoforward;
  std::string invokeid = req.invokeid;
  invokes_.push_back({invokeid, inv.index, state});
  Status st = host_.invoke(*this, std::move(req));
  if (!st) {
    invokes_.pop_back();
    raiseError("error.execution", st.message());
  }
}

void Session::cancelInvokesOf(uint32_t state) {
  for (size_t i = 0; i < invokes_.size();) {
    if (invokes_[i].state == state) {
      std::string id = std::move(invokes_[i].invokeid);
      invokes_.erase(invokes_.begin() + static_cast<long>(i));
      host_.cancelInvoke(*this, id);
    } else {
      ++i;
    }
  }
}

}  // namespace ors::scxml
