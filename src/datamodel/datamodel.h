// The datamodel interface (SCXML 5): what the interpreter asks of a datamodel, and nothing more.
// The interpreter knows only this file; implementations (null, ecmascript) live beside it.
// Threading: a DataModel is used by one thread at a time, the one its Engine belongs to.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "scxml/document.h"
#include "scxml/event.h"

namespace ors::dm {

using scxml::Expr;
using scxml::Value;

// What a datamodel may ask of the session that owns it.
class Host {
 public:
  virtual ~Host() = default;
  // SCXML 5.9.1 In(): true if the state with this id is in the active configuration.
  virtual bool isInState(std::string_view stateId) const = 0;
  // The vendor's built-ins (docs/dialect.md): __Raise queues an internal event, __Log logs,
  // __GetDocumentURL and __GetCurrentStates tell where the session is.
  virtual void raiseEvent(std::string /*name*/, scxml::Value /*data*/) {}
  virtual void logText(std::string_view /*text*/) {}
  virtual std::string documentUrl() const { return {}; }
  virtual std::vector<std::string> currentStates() const { return {}; }
  // The vendor's object model: the session's id, and its interactions (`_genesys.ixn.interactions`,
  // by interaction id), as the interaction events so far made them.
  virtual std::string sessionId() const { return {}; }
  virtual scxml::Value interactions() const { return {}; }
  // A request of the vendor's modules made from script (_genesys.ixn.setuData ...), as the
  // module's action element would make it: the request id, or why it cannot be made.
  virtual Result<std::string> moduleRequest(const std::string& module, const std::string& name,
                                            const boost::json::object& /*attrs*/) {
    return Status::error("<" + module + ":" + name + "> is not supported here");
  }
};

// One session's datamodel. Every method that evaluates returns an error Status instead of
// throwing; the interpreter turns such an error into `error.execution` (SCXML 5.10).
class DataModel {
 public:
  virtual ~DataModel() = default;

  // Sets _sessionid, _name and _ioprocessors (read-only to the document). Called once, first.
  // `ioprocessors` stays valid for the datamodel's life, so it may be read lazily.
  virtual void setSystemVariables(const std::string& sessionId, const std::string& name,
                                  const Value& ioprocessors) = 0;

  // SCXML 5.2.2: creates the variable `data.id` with no value (undefined), for late binding.
  virtual void declareData(const scxml::Data& data) = 0;
  // Creates or sets `data.id` from its expr, or its content (JSON text becomes a value, other
  // text a string). On failure the variable still exists (undefined) and the error is returned.
  virtual Status initData(const scxml::Data& data) = 0;

  // A step of the session (its start, a run of events, a cancel) begins / ends: every call in
  // between belongs to this session, so an implementation may keep per-step state (the
  // ECMAScript datamodel keeps its realm entered). Steps of different sessions may nest (a
  // session started by another's step).
  virtual void beginStep() {}
  virtual void endStep() {}

  // The vendor's state scopes (in a Document::vendor): the interpreter says which state's content
  // runs next (`setScope`; 0 for the document's own, <data> and top-level <script>), and when a
  // state with scripts (State::scripted) is entered and left (`enterScope` before its onentry,
  // `exitScope` after its onexit). Only called for such documents.
  virtual void setScope(uint32_t /*state*/) {}
  virtual void enterScope(uint32_t /*state*/) {}
  virtual void exitScope(uint32_t /*state*/) {}

  // Binds _event for the next evaluations (SCXML 5.10.1). `event` stays valid and unchanged
  // until the next setEvent call or the end of this datamodel, so it may be read lazily.
  virtual void setEvent(const scxml::Event& event) = 0;

  virtual Result<bool> evalCond(const Expr& cond) = 0;
  // The value of an expression as a host value (functions and undefined become null).
  virtual Result<Value> evalValue(const Expr& expr) = 0;
  // The value as a string: strings as they are, other primitives by ToString, objects as JSON.
  virtual Result<std::string> evalString(const Expr& expr) = 0;

  // <assign location expr>. Assigning to an undeclared location is an error (SCXML 5.4).
  virtual Status assign(const Expr& location, const Expr& expr) = 0;
  virtual Status assignValue(const Expr& location, const Value& value) = 0;

  // <script>.
  virtual Status execScript(const Expr& script) = 0;

  // <foreach>: iterates a shallow copy of `array` (an error if it is not iterable), assigning
  // item (declared if new; an error if not a legal variable name) and index, then runs `body`;
  // stops at the first error of the body and returns it.
  virtual Status forEach(const Expr& array, const Expr& item, const Expr& index,
                         const std::function<Status()>& body) = 0;

  // Snapshots, at a stable point (no step in progress): the document's variables (data items and
  // script globals, not the system variables) as JSON text; and back, into a new datamodel of
  // the same document whose setSystemVariables has run and nothing else. What an implementation
  // cannot write is its to document (the text may list it); restore never runs document code.
  virtual Result<std::string> snapshot() = 0;
  virtual Status restore(std::string_view snapshot) = 0;

  // True if `location` names one of the system variables (_event, _sessionid, _name,
  // _ioprocessors, _x), which the document must not assign (SCXML 5.10).
  static bool isSystemLocation(std::string_view location);
};

// Creates datamodels of one kind. An Engine belongs to one thread (e.g. a worker's JSContext);
// every DataModel it creates is used on that thread only and must die before the Engine.
class Engine {
 public:
  virtual ~Engine() = default;
  virtual std::unique_ptr<DataModel> create(const scxml::Document& doc, Host& host) = 0;
};

std::unique_ptr<Engine> makeNullEngine();

}  // namespace ors::dm
