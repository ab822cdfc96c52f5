// Internal declarations of the ECMAScript datamodel: the engine (one JSContext, one hardened
// global, the compiled scripts of each document, the watchdog) and its sessions (one JSM
// environment each). Not a public header: see ecmascript.h.
// Threading: everything here belongs to the engine's thread, except the watchdog's atomics.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include <js/CallAndConstruct.h>
#include <js/CompilationAndEvaluation.h>
#include <js/Exception.h>
#include <js/GCAPI.h>
#include <js/Promise.h>
#include <js/RegExp.h>
#include <jsapi.h>

#include "datamodel/ecmascript/ecmascript.h"
#include "datamodel/ecmascript/ecmascript_fast.h"
#include "datamodel/ecmascript/ecmascript_internal.h"

namespace ors::dm::ecma {

using scxml::Document;


// ---- per-document compiled scripts ----------------------------------------------------------
enum Kind : uint32_t { kValue = 0, kScript = 1, kLocation = 2 };
constexpr uint32_t kKinds = 3;

struct DocCache {
  uint64_t uid = 0;
  uint32_t exprCount = 0;
  std::string file;
  std::vector<std::string> files;  // Document::files: where included code came from
  // Document::vendor (state scopes), and what the session needs of the states for them.
  bool vendor = false;
  std::vector<uint32_t> parents;
  std::vector<uint8_t> scripted;
  bool usesEvent = true;
  size_t refs = 0;
  std::list<uint64_t>::iterator idlePos;  // valid when refs == 0
  std::unique_ptr<JS::Heap<JSScript*>[]> scripts;  // exprCount * kKinds
  std::unordered_map<uint32_t, std::string> errors;  // compile errors by slot
  // Native forms of the simplest expressions (ecmascript_fast.h), by Expr id; compiled lazily.
  std::vector<std::unique_ptr<FastExpr>> fast;
  std::vector<uint8_t> fastTried;
};

// ---- Promise jobs -----------------------------------------------------------------------------
class JobQueue final : public JS::JobQueue {
 public:
  std::deque<JS::Heap<JSObject*>> jobs;

  JSObject* getIncumbentGlobal(JSContext* cx) override { return JS::CurrentGlobalOrNull(cx); }
  bool enqueuePromiseJob(JSContext*, JS::HandleObject, JS::HandleObject job, JS::HandleObject,
                         JS::HandleObject) override {
    jobs.emplace_back(job);
    return true;
  }
  void runJobs(JSContext* cx) override {
    JS::RootedObject job(cx);
    JS::RootedValue rval(cx);
    while (!jobs.empty()) {
      job = jobs.front();
      jobs.pop_front();
      if (!JS::Call(cx, JS::UndefinedHandleValue, job, JS::HandleValueArray::empty(), &rval)) {
        if (!JS_IsExceptionPending(cx)) {  // terminated (time budget): drop the rest
          jobs.clear();
          return;
        }
        JS_ClearPendingException(cx);
      }
    }
  }
  bool empty() const override { return jobs.empty(); }

 private:
  js::UniquePtr<SavedJobQueue> saveJobQueue(JSContext*) override { return nullptr; }
};

class EcmaSession;

// ---- the engine -------------------------------------------------------------------------------
class EcmaEngine final : public Engine {
 public:
  explicit EcmaEngine(const EcmaOptions& options) : options_(options) {}
  ~EcmaEngine() override;
  EcmaEngine(const EcmaEngine&) = delete;
  EcmaEngine& operator=(const EcmaEngine&) = delete;

  bool init();
  std::unique_ptr<DataModel> create(const Document& doc, Host& host) override;

  JSContext* cx() const { return cx_; }
  JSObject* global() const { return global_->get(); }

  // The compiled script for `expr` in `role`, or null with `error` set.
  JSScript* compiled(DocCache& doc, const scxml::Expr& expr, Kind kind, Status& error);
  // The fast-path form of an expression, or null when it is outside the subset.
  const FastExpr* fast(DocCache& doc, const scxml::Expr& expr);
  // Turns the pending exception (or termination) into a Status and clears it.
  Status takeError();
  void release(DocCache* doc);
  size_t gcHeapBytes(bool collectFirst);

 private:
  friend class Entry;
  friend class EcmaSession;

  static bool onInterrupt(JSContext* cx);
  static void traceRoots(JSTracer* trc, void* data);
  static Host* currentHost(JSContext* cx);
  static bool nativeIn(JSContext* cx, unsigned argc, JS::Value* vp);
  // The vendor's built-ins (docs/dialect.md).
  static bool nativeRaise(JSContext* cx, unsigned argc, JS::Value* vp);
  static bool nativeLog(JSContext* cx, unsigned argc, JS::Value* vp);
  static bool nativeDocumentUrl(JSContext* cx, unsigned argc, JS::Value* vp);
  static bool nativeCurrentStates(JSContext* cx, unsigned argc, JS::Value* vp);
  static bool nativeInteractions(JSContext* cx, unsigned argc, JS::Value* vp);
  static bool nativeSessionId(JSContext* cx, unsigned argc, JS::Value* vp);
  static bool nativeModuleRequest(JSContext* cx, unsigned argc, JS::Value* vp);
  static bool nativeVendorConfig(JSContext* cx, unsigned argc, JS::Value* vp);
  // compile(source): a function made from its source in the current session's scope (restore).
  static bool nativeCompileFunction(JSContext* cx, unsigned argc, JS::Value* vp);
  template <bool (EcmaSession::*Build)(JS::MutableHandleValue)>
  static bool nativeLazyGetter(JSContext* cx, unsigned argc, JS::Value* vp);
  void watchdogLoop();
  DocCache& docCache(const Document& doc);
  jsid pinnedId(const char* name);

  EcmaOptions options_;
  JSContext* cx_ = nullptr;
  std::optional<JS::PersistentRootedObject> global_;
  std::optional<JS::PersistentRootedObject> emptyRegExp_;  // /(?:)/, which scrubs RegExp statics
  std::optional<JS::PersistentRootedObject> eventGetter_;  // the lazy `_event` getter
  std::optional<JS::PersistentRootedObject> ioGetter_;     // the lazy `_ioprocessors` getter
  // The snapshot walk's write and read functions and the compile callback read is given.
  std::optional<JS::PersistentRootedObject> snapWrite_, snapRead_, snapCompile_;
  JobQueue jobs_;
  // Every session's JSM environment, by slot: one array, one root. (A PersistentRooted per
  // session made every minor GC trace all sessions: milliseconds with 100,000 of them.)
  std::optional<JS::PersistentRootedObject> envTable_;
  std::vector<uint32_t> freeSlots_;
  uint32_t slotCount_ = 0;
  uint32_t storeEnv(JS::HandleObject env);  // realm entered; EcmaSession::kNoSlot on failure
  JSObject* envAt(uint32_t slot);
  void releaseEnv(uint32_t slot);

  // Pinned property keys: the result slot, system variables, fields of _event.
  jsid idResult_{}, idEvent_{}, idSessionId_{}, idName_{}, idIoProcessors_{};
  jsid idEvName_{}, idType_{}, idSendId_{}, idOrigin_{}, idOriginType_{}, idInvokeId_{},
      idData_{}, idRaw_{};

  std::unordered_map<uint64_t, std::unique_ptr<DocCache>> docs_;
  std::list<uint64_t> idleDocs_;  // documents without sessions, oldest first
  uint64_t orphans_ = 0;
  static constexpr size_t kMaxIdleDocs = 64;

  // The session whose step is in progress (DataModel::beginStep): the global's realm stays
  // entered and its environment is held in stepEnv_, so each evaluation skips both.
  EcmaSession* stepSession_ = nullptr;
  std::optional<JS::PersistentRootedObject> stepEnv_;

  // Who is running. Entry maintains these.
  EcmaSession* current_ = nullptr;
  uint64_t lastSerial_ = 0;
  uint64_t nextSerial_ = 0;
  int depth_ = 0;

  // Watchdog. runSeq_ counts outermost entries (written by the engine thread only); running_ is
  // set while one runs. The watchdog samples both every period: no clock read on the hot path.
  std::atomic<uint64_t> runSeq_{0};
  std::atomic<bool> running_{false};
  std::atomic<uint64_t> killSeq_{UINT64_MAX};
  // Why the current evaluation was terminated (engine thread only).
  enum class Stop : uint8_t { kNone, kTime, kMemory };
  Stop stopped_ = Stop::kNone;
  std::atomic<bool> memCheck_{false};  // watchdog -> interrupt callback: check the heap
  size_t memBaseline_ = 0;             // malloc in use at the first check of this evaluation
  std::thread watchdog_;
  std::mutex wdMutex_;
  std::condition_variable wdCv_;
  bool wdStop_ = false;
};

// ---- a session --------------------------------------------------------------------------------
class EcmaSession final : public DataModel {
 public:
  EcmaSession(EcmaEngine& engine, DocCache& doc, Host& host, uint32_t slot, uint64_t serial)
      : eng_(engine), doc_(doc), host_(host), serial_(serial), slot_(slot) {}
  ~EcmaSession() override;

  void setSystemVariables(const std::string& sessionId, const std::string& name,
                          const Value& ioprocessors) override;
  void declareData(const scxml::Data& data) override;
  Status initData(const scxml::Data& data) override;
  void setEvent(const scxml::Event& event) override;
  void beginStep() override;
  void endStep() override;
  Result<bool> evalCond(const Expr& cond) override;
  Result<Value> evalValue(const Expr& expr) override;
  Result<std::string> evalString(const Expr& expr) override;
  Status assign(const Expr& location, const Expr& expr) override;
  Status assignValue(const Expr& location, const Value& value) override;
  Status execScript(const Expr& script) override;
  Status forEach(const Expr& array, const Expr& item, const Expr& index,
                 const std::function<Status()>& body) override;
  Result<std::string> snapshot() override;
  Status restore(std::string_view snapshot) override;
  void setScope(uint32_t state) override { scopeState_ = state; }
  void enterScope(uint32_t state) override;
  void exitScope(uint32_t state) override;

 private:
  friend class Entry;
  friend class EcmaEngine;

  JSContext* cx() const { return eng_.cx(); }
  static Status broken() {
    return Status::error("ecmascript datamodel: the session has no environment (out of memory)");
  }
  Status exec(JSScript* script);
  // The state scopes around the content that runs now, innermost first (empty without any).
  // False: exception pending.
  bool scopeChain(JS::MutableHandle<JS::StackGCVector<JSObject*>> chain);
  // The environment's object of state scopes by state index (created when `create`).
  bool scopes(bool create, JS::MutableHandleObject out);
  Status evalRaw(const Expr& expr, JS::MutableHandleValue out);
  // Builds `_event` from the host event and binds it (see setEvent). False: exception pending.
  bool materializeEvent(JS::MutableHandleValue out);
  // Builds `_ioprocessors` (deep-frozen) and binds it for good. False: exception pending.
  bool materializeIoProcessors(JS::MutableHandleValue out);
  // The host event while `_event` has not been built yet (fast path reads it), else null.
  const scxml::Event* lazyEvent() const { return eventMaterialized_ ? nullptr : event_; }
  Status storeAndAssign(const Expr& location, JS::HandleValue v);
  Status contentValue(const std::string& body, JS::MutableHandleValue out);
  bool ensureDeclared(const std::string& name);
  Status jsFailure(const std::string& what);

  EcmaEngine& eng_;
  DocCache& doc_;
  Host& host_;
  uint64_t serial_;
  // The session's JSM environment lives in the engine's environment table (see EcmaEngine), so
  // that minor GCs need not trace one root per session. Entry roots it while the session runs.
  static constexpr uint32_t kNoSlot = UINT32_MAX;
  uint32_t slot_ = kNoSlot;
  // Step bracketing (beginStep/endStep): depth, the step this one interrupted, the realm to
  // return to.
  int stepDepth_ = 0;
  EcmaSession* prevStep_ = nullptr;
  JS::Realm* stepRealm_ = nullptr;
  JS::Rooted<JSObject*>* envRoot_ = nullptr;  // set by the innermost Entry for this session
  bool hasEnv() const { return slot_ != kNoSlot; }
  JS::HandleObject env() const { return *envRoot_; }
  const scxml::Event* event_ = nullptr;  // valid until the next setEvent (DataModel contract)
  const Value* ioprocessors_ = nullptr;   // valid for the session's life (DataModel contract)
  bool eventMaterialized_ = false;
  uint32_t scopeState_ = 0;  // whose content runs (DataModel::setScope)
};

// Every entry into JS: enters the global's realm, marks the current session (for In() and the
// RegExp statics scrub) and, when outermost, arms the watchdog and runs Promise jobs on exit.
class Entry {
 public:
  explicit Entry(EcmaSession& s) : e_(s.eng_), s_(s), env_(s.eng_.cx()) {
    if (e_.stepSession_ == &s) {
      env_ = e_.stepEnv_->get();  // realm entered and environment held by the step
    } else {
      realm_.emplace(e_.cx_, e_.global());
      if (s.hasEnv()) env_ = e_.envAt(s.slot_);
    }
    prevEnv_ = s.envRoot_;
    s.envRoot_ = &env_;
    outer_ = e_.depth_++ == 0;
    prev_ = e_.current_;
    e_.current_ = &s;
    if (outer_) {
      e_.stopped_ = EcmaEngine::Stop::kNone;
      e_.memBaseline_ = 0;
      e_.runSeq_.store(e_.runSeq_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      e_.running_.store(true, std::memory_order_release);
    }
    if (e_.lastSerial_ != s.serial_) {
      // RegExp statics (RegExp.$1, lastMatch, input) live on the shared global: an empty
      // match on '' scrubs them, run from C++ (a scrub script cost ~2k instructions on every
      // change of session; JS::ClearRegExpStatics leaves them unusable in SpiderMonkey 102).
      e_.lastSerial_ = s.serial_;
      JS::RootedValue matched(e_.cx_);
      size_t index = 0;
      const char16_t none = 0;
      if (!JS::ExecuteRegExp(e_.cx_, *e_.global_, *e_.emptyRegExp_, &none, 0, &index, true, &matched))
        JS_ClearPendingException(e_.cx_);
    }
  }
  ~Entry() {
    if (outer_) {
      if (!e_.jobs_.jobs.empty() && e_.stopped_ == EcmaEngine::Stop::kNone) {
        e_.jobs_.runJobs(e_.cx_);
      }
      if (!e_.jobs_.jobs.empty()) e_.jobs_.jobs.clear();
      // WeakRef targets are kept until the end of the job: the step, or this evaluation.
      if (e_.stepSession_ != &s_) JS::ClearKeptObjects(e_.cx_);
      if (JS_IsExceptionPending(e_.cx_)) JS_ClearPendingException(e_.cx_);
      e_.running_.store(false, std::memory_order_release);
    }
    e_.current_ = prev_;
    --e_.depth_;
    s_.envRoot_ = prevEnv_;
  }
  Entry(const Entry&) = delete;
  Entry& operator=(const Entry&) = delete;

 private:
  EcmaEngine& e_;
  EcmaSession& s_;
  std::optional<JSAutoRealm> realm_;  // engaged outside of this session's step
  JS::RootedObject env_;
  JS::Rooted<JSObject*>* prevEnv_ = nullptr;
  EcmaSession* prev_ = nullptr;
  bool outer_ = false;
};

}  // namespace ors::dm::ecma
