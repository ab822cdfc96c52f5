// An SCXML session: the W3C algorithm (SCXML 1.0 Appendix D) over a shared, immutable Document.
// A Session has no thread of its own: its host calls start(), enqueue() and run() from one thread
// at a time (the worker that owns it), and the session calls back into its SessionHost for
// everything outside itself (sends to other targets, timers, invocations, logging).
#pragma once

#include <boost/container/small_vector.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "datamodel/datamodel.h"
#include "scxml/document.h"
#include "scxml/event.h"

namespace ors::scxml {

class Session;

// A <send> the session could not handle on its own queues, after evaluation (SCXML 6.2).
struct SendRequest {
  std::string sendid;    // as given by id/idlocation or generated
  std::string target;    // "" (own external queue), "#_parent", "#_scxml_<id>", "#_<invokeid>", URI
  std::string type;      // normalised: kScxmlProcessorType for the SCXML processor
  uint64_t delayMs = 0;
  Event event;           // name, data, origin, origintype, sendid already set
};

// An <invoke> after evaluation (SCXML 6.4).
struct InvokeRequest {
  std::string invokeid;
  std::string type;                           // normalised ("scxml" processor type)
  std::string src;                            // resolved URL, or "" when content is given
  std::shared_ptr<const Document> document;   // inline <content><scxml>
  std::string content;                        // content given as text (expr or markup)
  Value data = boost::json::object();         // params / namelist
  bool autoforward = false;
};

enum class SendOutcome : uint8_t {
  kOk,
  kInvalid,      // error.execution: target or type not supported
  kUnreachable,  // error.communication: target cannot be reached
};

class SessionHost {
 public:
  virtual ~SessionHost() = default;
  virtual SendOutcome send(Session& from, SendRequest request) = 0;
  // True when a pending send was cancelled.
  virtual bool cancelSend(Session& from, const std::string& sendid) = 0;
  // Starts the invoked service; an error becomes error.execution in the invoking session.
  virtual Status invoke(Session& from, InvokeRequest request) = 0;
  virtual void cancelInvoke(Session& from, const std::string& invokeid) = 0;
  // autoforward="true": a copy of an external event for the invoked service.
  virtual void forward(Session& from, const std::string& invokeid, const Event& event) = 0;
  virtual void log(Session& from, const std::string& label, const std::string& text) = 0;
  // <ws:response>: the answer to the request event whose sendid is `requestid`. Hosts without
  // requests ignore it.
  virtual void respond(Session& /*from*/, const std::string& /*requestid*/, const std::string& /*type*/,
                       const std::string& /*resultcode*/, const Value& /*params*/) {}
  // A vendor extension action (<session:start> ...), its attributes evaluated. Returns the id to
  // store in its idlocation (started session, fetch request), or an error → error.execution.
  virtual Result<std::string> extension(Session& /*from*/, const ExtensionAction& action,
                                        const boost::json::object& /*attrs*/, const Value& /*params*/) {
    return Status::error("<" + action.module + ":" + action.name + "> is not supported here");
  }
  // A microstep was taken (for the vendor's state-rate counter).
  virtual void countMicrostep() {}
  // The session reached a top-level final state (or was ended); `doneData` per SCXML 5.7.
  virtual void finished(Session& from, const Value& doneData) = 0;
};

class Session final : private dm::Host {
 public:
  struct Options {
    std::string sessionId;
    Value ioprocessors;  // null: the SCXML processor only
    // Values for top-level <data> items given by the starter (invoke params, HTTP start).
    boost::json::object initialData;
  };

  Session(std::shared_ptr<const Document> doc, dm::Engine& engine, SessionHost& host, Options options);
  ~Session() override;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Initialises the datamodel and runs the initial macrostep (SCXML interpret()).
  void start();
  // Queues an external event. May be called at any stable point, or by the host from a callback.
  void enqueue(Event event);
  // Processes queued external events, each a full macrostep, until the queue is empty, the session
  // ends, or `maxEvents` were processed. Returns the number processed.
  size_t run(size_t maxEvents = SIZE_MAX);
  // Snapshots (SCXML sessions that outlive their process, docs/durability.md). snapshot(): the
  // whole state at a stable point (started, not stepping, not finished) as JSON text: document
  // identity, configuration, history, late-binding marks, external queue, running invocations,
  // relations, and the datamodel's variables. restore(): into a Session just constructed with the
  // same document (its hash is checked), instead of start(); Options::ioprocessors, when set,
  // replace the snapshot's (the host's addresses may have changed); the session then
  // goes on as the original would. Delayed sends and timers are the host's to keep.
  Result<std::string> snapshot();
  Status restore(const boost::json::object& snapshot);
  // Ends the session without reaching a final state (cancelled invocation, terminate request):
  // runs onexit handlers, cancels invocations. No done event is reported.
  void cancel();

  bool finished() const { return started_ && !running_; }
  // The id of the top-level <final> state the session reached ("" if none, or still running).
  const std::string& finalState() const { return finalState_; }
  bool hasQueuedEvents() const { return extHead_ < external_.size(); }
  bool hasInvocations() const { return !invokes_.empty(); }
  // True while start() or run() is on the stack (a host must not cancel or destroy it then).
  bool stepping() const { return stepping_; }
  const std::string& id() const { return id_; }
  const Document& document() const { return *doc_; }
  const std::shared_ptr<const Document>& sharedDocument() const { return doc_; }
  std::vector<std::string> activeAtomicStates() const;  // ids, sorted
  // A new request id, unique to the session (the vendor's module actions; snapshotted with it).
  std::string newRequestId();
  // Called after the initial macrostep (event == nullptr) and after each external event has been
  // fully processed (for tracing; optional).
  std::function<void(const Session&, const Event*)> observer;
  // Set by the host: who started this session (for routing #_parent and done.invoke).
  std::string parentId;
  std::string invokeId;
  // Who started this session with <session:start> (gets done.scxml when it ends in a final state).
  std::string starterId;

 private:
  // Bitset over state indices; inline up to 128 states, so most steps allocate nothing.
  using StateSet = boost::container::small_vector<uint64_t, 2>;
  // Ordered sets of state or transition indices (the W3C pseudo-code's OrderedSet).
  using IndexList = boost::container::small_vector<uint32_t, 8>;
  using DefaultHistoryContent = boost::container::small_vector<std::pair<uint32_t, uint32_t>, 2>;
  bool has(const StateSet& s, uint32_t i) const { return (s[i >> 6] >> (i & 63)) & 1; }
  void add(StateSet& s, uint32_t i) const { s[i >> 6] |= uint64_t{1} << (i & 63); }
  void del(StateSet& s, uint32_t i) const { s[i >> 6] &= ~(uint64_t{1} << (i & 63)); }

  // dm::Host
  bool isInState(std::string_view stateId) const override;
  void raiseEvent(std::string name, Value data) override;
  void logText(std::string_view text) override;
  std::string documentUrl() const override;
  std::vector<std::string> currentStates() const override;
  std::string sessionId() const override { return id_; }
  Value interactions() const override { return interactions_; }
  Result<std::string> moduleRequest(const std::string& module, const std::string& name,
                                    const boost::json::object& attrs) override;
  // The vendor's interaction events change the session's interaction model before the event is
  // processed: interaction.added (its `interaction` object under `interactionid`),
  // interaction.deleted, interaction.udata.changed.
  void noteInteractionEvent(const Event& ev);

  // ---- W3C algorithm (Appendix D) ----
  void macrostep();  // eventless and internal transitions until stable, then invokes
  IndexList selectEventlessTransitions();
  IndexList selectTransitions(const Event& event);
  IndexList removeConflictingTransitions(const IndexList& enabled);
  void microstep(const IndexList& enabled);
  void exitStates(const IndexList& enabled);
  void enterStates(const IndexList& enabled);
  StateSet computeExitSet(const IndexList& transitions);
  void computeEntrySet(const IndexList& transitions, StateSet& statesToEnter,
                       StateSet& statesForDefaultEntry, DefaultHistoryContent& defaultHistoryContent);
  void addDescendantStatesToEnter(uint32_t state, StateSet& statesToEnter, StateSet& statesForDefaultEntry,
                                  DefaultHistoryContent& defaultHistoryContent);
  void addAncestorStatesToEnter(uint32_t state, uint32_t ancestor, StateSet& statesToEnter,
                                StateSet& statesForDefaultEntry,
                                DefaultHistoryContent& defaultHistoryContent);
  bool isInFinalState(uint32_t state) const;
  uint32_t getTransitionDomain(const Transition& t);
  uint32_t findLCCA(uint32_t head, const IndexList& tail) const;
  IndexList getEffectiveTargetStates(const Transition& t);
  bool conditionMatch(const Transition& t);
  void exitInterpreter();
  Value exitAllStates();
  void executeTransitionContent(const IndexList& enabled);

  // ---- executable content ----
  void executeContent(const Block& block);  // raises error.execution on failure
  Status executeBlock(const Block& block);
  Status execute(const Action& action);
  Result<Value> evalModuleElement(const ModuleElement& m);
  Result<Value> evalModuleElements(const std::vector<ModuleElement>& elements);  // a JSON array
  Status executeSend(const Send& send);
  Status evalData(const std::vector<Expr>& namelist, const std::vector<Param>& params,
                  const Content& content, Value* out);
  void raiseError(const char* name, const std::string& message, const std::string& sendid = {});
  void initDataItems(uint32_t state);
  // The vendor's state scopes (in a Document::vendor): whose content runs next; a state left.
  void scope(uint32_t state) {
    if (doc_->vendor) dm_->setScope(state);
  }
  void leaveScope(uint32_t state) {
    if (doc_->vendor && doc_->states[state].scripted) dm_->exitScope(state);
  }
  void invoke(const Invoke& inv, uint32_t state);
  void cancelInvokesOf(uint32_t state);
  Value doneData(const DoneData& dd);

  IndexList historyValue(uint32_t history) const;

  std::shared_ptr<const Document> doc_;
  SessionHost& host_;
  std::unique_ptr<dm::DataModel> dm_;
  std::string id_;
  boost::json::object initialData_;
  Value ioprocessors_;

  StateSet configuration_;
  boost::json::object interactions_;  // the vendor's _genesys.ixn.interactions, by interaction id
  StateSet statesToInvoke_;
  StateSet dataInitialised_;  // late binding: states whose <data> ran
  struct HistoryEntry {
    uint32_t history;
    IndexList states;
  };
  std::vector<HistoryEntry> history_;
  // _ioprocessors when the host gives none: the SCXML processor's location only.
  static Value defaultIoProcessors(const std::string& id);
  // Builds an error for a snapshot that does not fit this session.
  static Status badSnapshot(const std::string& why);
  // The events being processed: _event refers to one of them until the next is taken
  // (DataModel::setEvent's contract), the external one also for the observer.
  Event currentExternal_;
  Event currentInternal_;
  std::vector<Event> internal_;
  size_t intHead_ = 0;
  std::vector<Event> external_;
  size_t extHead_ = 0;
  struct ActiveInvoke {
    std::string invokeid;
    uint32_t invoke;  // index in Document::invokes
    uint32_t state;
  };
  std::vector<ActiveInvoke> invokes_;
  std::vector<uint32_t> closing_;  // states left in this microstep, whose scopes close after its content
  std::string finalState_;
  std::string failedSendId_;  // id of the <send> whose evaluation failed, for its error event
  bool running_ = false;
  bool started_ = false;
  bool stepping_ = false;
  // Marks the session as stepping and brackets the step for the datamodel (outermost only).
  struct StepScope {
    explicit StepScope(Session& session) : s(session), outer(!session.stepping_) {
      if (!outer) return;
      s.stepping_ = true;
      s.dm_->beginStep();
    }
    ~StepScope() {
      if (!outer) return;
      s.dm_->endStep();
      s.stepping_ = false;
    }
    Session& s;
    bool outer;
  };
  uint64_t nextSendId_ = 0;
};

}  // namespace ors::scxml
