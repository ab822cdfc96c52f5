// The ECMAScript datamodel on SpiderMonkey 102: process set-up and the engine (see ecmascript.h;
// the evaluation scheme is described in ecmascript_session.cc).
#include "datamodel/ecmascript/ecmascript.h"

#include <malloc.h>
#include <pthread.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include <js/Array.h>
#include <js/BuildId.h>
#include <js/CallAndConstruct.h>
#include <js/CompilationAndEvaluation.h>
#include <js/CompileOptions.h>
#include <js/Context.h>
#include <js/Conversions.h>
#include <js/ErrorReport.h>
#include <js/Exception.h>
#include <js/GCAPI.h>
#include <js/GlobalObject.h>
#include <js/Initialization.h>
#include <js/Interrupt.h>
#include <js/Promise.h>
#include <js/PropertyAndElement.h>
#include <js/SourceText.h>
#include <js/Stack.h>
#include <js/String.h>
#include <js/TracingAPI.h>
#include <js/friend/JSMEnvironment.h>
#include <jsapi.h>
#include <jsfriendapi.h>
#include <mozilla/Utf8.h>

#include "common/thread_name.h"
#include "datamodel/ecmascript/ecmascript_engine.h"

namespace ors::dm {
namespace {

// ---- process-wide initialisation ------------------------------------------------------------
std::once_flag gInitOnce;
bool gInitOk = false;
// SpiderMonkey wants the first context created single-threaded; we serialise every creation.
std::mutex gContextMutex;
// Self-hosted code of the first context, reused by later ones. It must stay alive until
// JS_ShutDown, which we never call: deliberately never freed.
std::vector<uint8_t>* gSelfHosted = nullptr;

// Engines alive in the process. At exit, SpiderMonkey must be shut down (its helper threads
// stopped) before its static mutexes are destroyed, or the process crashes while exiting; that
// is only allowed once every context is gone.
std::atomic<int> gLiveEngines{0};

void shutdownAtExit() {
  if (gLiveEngines.load() == 0) JS_ShutDown();
}

bool saveSelfHosted(JSContext*, JS::SelfHostedCache cache) {
  gSelfHosted = new std::vector<uint8_t>(cache.begin(), cache.end());
  return true;
}

// The self-hosted cache is transcoded XDR, which is stamped with a build id. The cache never
// leaves the process, so any constant identifies "this build".
bool buildId(JS::BuildIdCharVector* id) {
  static const char kId[] = "ors-mozjs-102";
  return id->append(kId, sizeof kId - 1);
}

const JSClass kGlobalClass = {"ors", JSCLASS_GLOBAL_FLAGS, &JS::DefaultGlobalClassOps,
                               nullptr, nullptr, nullptr};


// Bytes of the malloc heap in use (whole process): the sanitizer allocator's count when one
// replaces malloc (ASan), else glibc's.
extern "C" size_t __sanitizer_get_current_allocated_bytes() __attribute__((weak));

size_t mallocInUse() {
  if (__sanitizer_get_current_allocated_bytes) return __sanitizer_get_current_allocated_bytes();
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

// Stack available to JS on the calling thread, leaving headroom for C++ frames (and ASan).
size_t stackQuota() {
  size_t size = 0;
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void* addr = nullptr;
    if (pthread_attr_getstack(&attr, &addr, &size) != 0) size = 0;
    pthread_attr_destroy(&attr);
  }
  if (size == 0 || size > (256u << 20)) size = 8u << 20;
  size_t margin = std::max<size_t>(size / 8, 128u << 10);
  return size > 2 * margin ? size - margin : size / 2;
}



// Does any expression of the document mention `_event` or `eval`? If not, setEvent can skip
// building _event: no code of the document can observe it.
struct EventScan {
  bool found = false;
  void expr(const scxml::Expr& e) {
    if (found || !e.present()) return;
    if (e.text.find("_event") != std::string::npos || e.text.find("eval") != std::string::npos) {
      found = true;
    }
  }
  void content(const scxml::Content& c) { expr(c.expr); }
  void params(const std::vector<scxml::Param>& ps) {
    for (const auto& p : ps) expr(p.expr);
  }
  void exprs(const std::vector<scxml::Expr>& es) {
    for (const auto& e : es) expr(e);
  }
  void block(const scxml::Block& b) {
    for (const auto& a : b) action(*a);
  }
  void action(const scxml::Action& a) {
    using K = scxml::Action::Kind;
    switch (a.kind) {
      case K::kRaise:
        break;
      case K::kSend: {
        const auto& s = static_cast<const scxml::Send&>(a);
        expr(s.eventexpr);
        expr(s.targetexpr);
        expr(s.typeexpr);
        expr(s.idlocation);
        expr(s.delayexpr);
        exprs(s.namelist);
        params(s.params);
        content(s.content);
        break;
      }
      case K::kCancel:
        expr(static_cast<const scxml::Cancel&>(a).sendidexpr);
        break;
      case K::kAssign: {
        const auto& s = static_cast<const scxml::Assign&>(a);
        expr(s.location);
        expr(s.expr);
        content(s.content);
        break;
      }
      case K::kIf:
        for (const auto& br : static_cast<const scxml::If&>(a).branches) {
          expr(br.cond);
          block(br.body);
        }
        break;
      case K::kForeach: {
        const auto& s = static_cast<const scxml::Foreach&>(a);
        expr(s.array);
        expr(s.item);
        expr(s.index);
        block(s.body);
        break;
      }
      case K::kLog:
        expr(static_cast<const scxml::Log&>(a).expr);
        break;
      case K::kScript:
        expr(static_cast<const scxml::Script&>(a).body);
        break;
      default:  // an action this scan does not know: assume it may observe _event
        found = true;
        break;
    }
  }
  void document(const scxml::Document& d) {
    for (const auto& st : d.states) {
      for (const auto& b : st.onentry) block(b);
      for (const auto& b : st.onexit) block(b);
      for (const auto& data : st.data) {
        expr(data.expr);
        content(data.content);
      }
      content(st.donedata.content);
      params(st.donedata.params);
    }
    for (const auto& inv : d.invokes) {
      if (!inv) continue;
      expr(inv->typeexpr);
      expr(inv->srcexpr);
      expr(inv->idlocation);
      exprs(inv->namelist);
      params(inv->params);
      content(inv->content);
      block(inv->finalize);
    }
    for (const auto& t : d.transitions) {
      expr(t.cond);
      block(t.actions);
    }
    block(d.script);
  }
};


}  // namespace

namespace ecma {

// ---- engine implementation --------------------------------------------------------------------

// SpiderMonkey allows one JSContext per thread: so one engine per thread at a time.
thread_local bool tEngineOnThread = false;

bool EcmaEngine::init() {
  if (tEngineOnThread) {
    std::fprintf(stderr, "ors: an ecmascript engine already exists on this thread\n");
    return false;
  }
  uint32_t limit = static_cast<uint32_t>(
      std::min<size_t>(options_.heapLimitBytes, size_t{UINT32_MAX}));
  {
    std::lock_guard<std::mutex> lock(gContextMutex);
    cx_ = JS_NewContext(limit);
    if (!cx_) return false;
    tEngineOnThread = true;
    gLiveEngines.fetch_add(1);
    JS_SetNativeStackQuota(cx_, stackQuota());
    bool ok = gSelfHosted
                  ? JS::InitSelfHostedCode(
                        cx_, JS::SelfHostedCache(gSelfHosted->data(), gSelfHosted->size()))
                  : JS::InitSelfHostedCode(cx_, nullptr, saveSelfHosted);
    if (!ok) return false;
  }
  JS_SetContextPrivate(cx_, this);
  JS_SetGCParameter(cx_, JSGC_MAX_BYTES, limit);
  JS::SetJobQueue(cx_, &jobs_);
  if (!JS_AddInterruptCallback(cx_, onInterrupt)) return false;
  if (!JS_AddExtraGCRootsTracer(cx_, traceRoots, this)) return false;

  JS::RealmOptions realmOptions;
  // Object.prototype.toSource() and friends: the vendor's generated error paths call them.
  realmOptions.creationOptions().setToSourceEnabled(true);
  global_.emplace(cx_, JS_NewGlobalObject(cx_, &kGlobalClass, nullptr, JS::FireOnNewGlobalHook,
                                          realmOptions));
  if (!global_->get()) return false;
  JSAutoRealm realm(cx_, global_->get());
  JS::HandleObject global = *global_;
  if (!JS_EnumerateStandardClasses(cx_, global)) return false;
  if (!JS_DefineFunction(cx_, global, "In", nativeIn, 1, JSPROP_ENUMERATE)) return false;
  if (!JS_DefineFunction(cx_, global, "__Raise", nativeRaise, 2, JSPROP_ENUMERATE) ||
      !JS_DefineFunction(cx_, global, "__Log", nativeLog, 1, JSPROP_ENUMERATE) ||
      !JS_DefineFunction(cx_, global, "__GetDocumentURL", nativeDocumentUrl, 0, JSPROP_ENUMERATE) ||
      !JS_DefineFunction(cx_, global, "__GetCurrentStates", nativeCurrentStates, 0, JSPROP_ENUMERATE) ||
      !JS_DefineFunction(cx_, global, "__ors_interactions", nativeInteractions, 0, 0) ||
      !JS_DefineFunction(cx_, global, "__ors_sessionid", nativeSessionId, 0, 0) ||
      !JS_DefineFunction(cx_, global, "__ors_request", nativeModuleRequest, 3, 0) ||
      !JS_DefineFunction(cx_, global, "__ors_config", nativeVendorConfig, 0, 0))
    return false;

  auto compileGlobal = [&](const char* file, const char* text) -> JSScript* {
    JS::CompileOptions co(cx_);
    co.setFileAndLine(file, 1);
    JS::SourceText<mozilla::Utf8Unit> src;
    if (!src.init(cx_, text, std::strlen(text), JS::SourceOwnership::Borrowed)) return nullptr;
    return JS::Compile(cx_, co, src);
  };
  JS::RootedScript dom(cx_, compileGlobal("ors:xmldom", ecma::kXmlDomSource));
  JS::RootedScript snap(cx_, compileGlobal("ors:snapshot", ecma::kSnapshotSource));
  JS::RootedScript genesys(cx_, compileGlobal("ors:genesys", ecma::kGenesysSource));
  JS::RootedScript boot(cx_, compileGlobal("ors:lockdown", ecma::kBootstrapSource));
  JS::RootedValue rv(cx_), walk(cx_);
  if (!dom || !JS_ExecuteScript(cx_, dom, &rv) || !snap || !JS_ExecuteScript(cx_, snap, &walk) ||
      !genesys || !JS_ExecuteScript(cx_, genesys, &rv) ||
      !walk.isObject() || !boot || !JS_ExecuteScript(cx_, boot, &rv)) {
    Status st = takeError();
    std::fprintf(stderr, "ors: ecmascript lockdown failed: %s\n", st.message().c_str());
    return false;
  }
  emptyRegExp_.emplace(cx_, JS::NewUCRegExpObject(cx_, u"", 0, JS::RegExpFlags(JS::RegExpFlag::NoFlags)));
  if (!emptyRegExp_->get()) return false;
  {
    JS::RootedObject table(cx_, JS::NewArrayObject(cx_, 0));
    if (!table) return false;
    envTable_.emplace(cx_, table);
    stepEnv_.emplace(cx_, nullptr);
  }
  {
    auto frozenFunction = [&](JSNative native, const char* name) -> JSObject* {
      JSFunction* f = JS_NewFunction(cx_, native, 0, 0, name);
      if (!f) return nullptr;
      JS::RootedObject obj(cx_, JS_GetFunctionObject(f));
      return JS_FreezeObject(cx_, obj) ? obj.get() : nullptr;
    };
    JSObject* eventGetter = frozenFunction(nativeLazyGetter<&EcmaSession::materializeEvent>, "_event");
    if (!eventGetter) return false;
    eventGetter_.emplace(cx_, eventGetter);
    JSObject* ioGetter = frozenFunction(nativeLazyGetter<&EcmaSession::materializeIoProcessors>, "_ioprocessors");
    if (!ioGetter) return false;
    ioGetter_.emplace(cx_, ioGetter);
    JS::RootedObject walkObj(cx_, &walk.toObject());
    JS::RootedValue write(cx_), read(cx_);
    if (!JS_GetProperty(cx_, walkObj, "write", &write) || !write.isObject() ||
        !JS_GetProperty(cx_, walkObj, "read", &read) || !read.isObject())
      return false;
    snapWrite_.emplace(cx_, &write.toObject());
    snapRead_.emplace(cx_, &read.toObject());
    JSObject* compile = frozenFunction(nativeCompileFunction, "compile");
    if (!compile) return false;
    snapCompile_.emplace(cx_, compile);
  }

  idResult_ = pinnedId("__ors_r");
  idEvent_ = pinnedId("_event");
  idSessionId_ = pinnedId("_sessionid");
  idName_ = pinnedId("_name");
  idIoProcessors_ = pinnedId("_ioprocessors");
  idEvName_ = pinnedId("name");
  idRaw_ = pinnedId("raw");
  idType_ = pinnedId("type");
  idSendId_ = pinnedId("sendid");
  idOrigin_ = pinnedId("origin");
  idOriginType_ = pinnedId("origintype");
  idInvokeId_ = pinnedId("invokeid");
  idData_ = pinnedId("data");
  if (idResult_.isVoid() || idData_.isVoid() || idEvent_.isVoid()) return false;

  if (options_.scriptBudget.count() > 0) {
    watchdog_ = std::thread([this] {
      nameThread("ors-watchdog");
      watchdogLoop();
    });
  }
  return true;
}

jsid EcmaEngine::pinnedId(const char* name) {
  JSString* atom = JS_AtomizeAndPinString(cx_, name);
  if (!atom) return JS::PropertyKey::Void();
  return JS::PropertyKey::fromPinnedString(atom);
}

EcmaEngine::~EcmaEngine() {
  if (watchdog_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(wdMutex_);
      wdStop_ = true;
    }
    wdCv_.notify_all();
    watchdog_.join();
  }
  if (cx_) {
    docs_.clear();
    idleDocs_.clear();
    jobs_.jobs.clear();
    emptyRegExp_.reset();
    eventGetter_.reset();
    ioGetter_.reset();
    snapWrite_.reset();
    snapRead_.reset();
    snapCompile_.reset();
    stepEnv_.reset();
    envTable_.reset();
    global_.reset();
    JS_RemoveExtraGCRootsTracer(cx_, traceRoots, this);
    JS_SetContextPrivate(cx_, nullptr);
    JS_DestroyContext(cx_);
    cx_ = nullptr;
    tEngineOnThread = false;
    gLiveEngines.fetch_sub(1);
  }
}

void EcmaEngine::watchdogLoop() {
  // Sampling, so that entering the engine costs no clock read: an evaluation still running with
  // the same sequence number at consecutive ticks has run for at least that many periods.
  const auto budget = options_.scriptBudget;
  auto period = std::clamp<std::chrono::milliseconds>(budget / 8, std::chrono::milliseconds(1),
                                                      std::chrono::milliseconds(100));
  uint64_t lastSeq = UINT64_MAX;
  std::chrono::milliseconds seen{0};
  std::unique_lock<std::mutex> lock(wdMutex_);
  while (!wdStop_) {
    wdCv_.wait_for(lock, period);
    if (wdStop_) break;
    uint64_t seq = runSeq_.load(std::memory_order_relaxed);
    if (!running_.load(std::memory_order_acquire) || seq != lastSeq) {
      lastSeq = seq;
      seen = std::chrono::milliseconds(0);
      continue;
    }
    seen += period;
    if (seen >= budget && killSeq_.load() != seq) {
      killSeq_.store(seq);
      JS_RequestInterruptCallback(cx_);
    } else {
      // A long evaluation: have the engine thread check its heap at the next interrupt check.
      memCheck_.store(true);
      JS_RequestInterruptCallback(cx_);
    }
  }
}

bool EcmaEngine::onInterrupt(JSContext* cx) {
  auto* e = static_cast<EcmaEngine*>(JS_GetContextPrivate(cx));
  if (!e) return true;
  if (!e->running_.load(std::memory_order_acquire)) return true;
  if (e->killSeq_.load() == e->runSeq_.load()) {
    e->stopped_ = Stop::kTime;
    return false;  // terminate the evaluation (uncatchable)
  }
  if (e->memCheck_.exchange(false)) {
    // JSGC_MAX_BYTES bounds the GC heap only; the malloc'd buffers of objects and strings
    // (elements, characters) are unbounded. So a long evaluation is also stopped once the
    // process' malloc heap has grown by more than the limit since the evaluation's first check
    // (SpiderMonkey allocates with the C library's malloc). Collect before concluding.
    // Near JSGC_MAX_BYTES, SpiderMonkey keeps collecting rather than failing: treat a GC heap
    // still above 90% of the limit after a full GC as exhausted too.
    const size_t limit = e->options_.heapLimitBytes;
    auto exhausted = [&] {
      return mallocInUse() > e->memBaseline_ + limit ||
             JS_GetGCParameter(cx, JSGC_BYTES) > limit / 10 * 9;
    };
    if (e->memBaseline_ == 0) e->memBaseline_ = mallocInUse();
    if (exhausted()) {
      JS_GC(cx);
      if (exhausted()) {
        e->stopped_ = Stop::kMemory;
        return false;
      }
    }
  }
  return true;
}

void EcmaEngine::traceRoots(JSTracer* trc, void* data) {
  auto* e = static_cast<EcmaEngine*>(data);
  for (auto& [uid, doc] : e->docs_) {
    size_t n = size_t{doc->exprCount} * kKinds;
    for (size_t i = 0; i < n; ++i) JS::TraceEdge(trc, &doc->scripts[i], "ors-script");
  }
  for (auto& job : e->jobs_.jobs) JS::TraceEdge(trc, &job, "ors-job");
}

// The getters of the lazily built system variables (_event, _ioprocessors): they build the
// value for the session running now, which rebinds the name to it.
template <bool (EcmaSession::*Build)(JS::MutableHandleValue)>
bool EcmaEngine::nativeLazyGetter(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  auto* e = static_cast<EcmaEngine*>(JS_GetContextPrivate(cx));
  if (!e || !e->current_) {
    args.rval().setUndefined();
    return true;
  }
  return (e->current_->*Build)(args.rval());
}

// The host of the session evaluating now (the natives' way to it), or null outside a session.
Host* EcmaEngine::currentHost(JSContext* cx) {
  auto* e = static_cast<EcmaEngine*>(JS_GetContextPrivate(cx));
  return e && e->current_ ? &e->current_->host_ : nullptr;
}

bool EcmaEngine::nativeIn(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  Host* host = currentHost(cx);
  bool result = false;
  if (host && args.length() > 0) {
    JSString* str = JS::ToString(cx, args[0]);
    if (!str) return false;
    std::string id;
    if (!ecma::toUtf8(cx, str, id)) return false;
    result = host->isInState(id);
  }
  args.rval().setBoolean(result);
  return true;
}

// __Raise(name[, data]): an internal event for the session evaluating, as <raise> would.
bool EcmaEngine::nativeRaise(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  Host* host = currentHost(cx);
  args.rval().setUndefined();
  if (!host) return true;
  if (args.length() < 1) {
    JS_ReportErrorASCII(cx, "__Raise needs an event name");
    return false;
  }
  JSString* str = JS::ToString(cx, args[0]);
  std::string name;
  if (!str || !ecma::toUtf8(cx, str, name)) return false;
  scxml::Value data;
  if (args.length() > 1 && !args[1].isUndefined()) {
    std::string error;
    if (!ecma::valueFromJS(cx, args[1], data, error)) {
      if (!JS_IsExceptionPending(cx)) JS_ReportErrorUTF8(cx, "__Raise: %s", error.c_str());
      return false;
    }
  }
  host->raiseEvent(std::move(name), std::move(data));
  return true;
}

// __Log(value...): the values as text, logged as <log> would.
bool EcmaEngine::nativeLog(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  Host* host = currentHost(cx);
  args.rval().setUndefined();
  if (!host) return true;
  std::string text;
  for (unsigned i = 0; i < args.length(); ++i) {
    JSString* str = JS::ToString(cx, args[i]);
    std::string part;
    if (!str || !ecma::toUtf8(cx, str, part)) return false;
    text += (i ? " " : "") + part;
  }
  host->logText(text);
  return true;
}

bool EcmaEngine::nativeDocumentUrl(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  Host* host = currentHost(cx);
  std::string url = host ? host->documentUrl() : std::string();
  JSString* s = ecma::newString(cx, url);
  if (!s) return false;
  args.rval().setString(s);
  return true;
}

// The vendor's object model's per-session parts (ecmascript_genesys.cc).
bool EcmaEngine::nativeInteractions(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  Host* host = currentHost(cx);
  scxml::Value v = host ? host->interactions() : scxml::Value();
  if (!v.is_object()) v = boost::json::object{};
  if (args.length() > 0 && args[0].isTrue()) {
    // __ors_interactions(true): their ids in the order they were added (a JavaScript object
    // would list integer-like ids first).
    boost::json::array ids;
    for (const auto& kv : v.get_object()) ids.emplace_back(kv.key());
    return ecma::valueToJS(cx, scxml::Value(std::move(ids)), args.rval());
  }
  return ecma::valueToJS(cx, v, args.rval());
}

bool EcmaEngine::nativeSessionId(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  Host* host = currentHost(cx);
  JSString* s = ecma::newString(cx, host ? host->sessionId() : std::string());
  if (!s) return false;
  args.rval().setString(s);
  return true;
}

// __ors_request(module, name, attrs): a module request made from script; its request id.
bool EcmaEngine::nativeModuleRequest(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  Host* host = currentHost(cx);
  if (!host || args.length() < 3) {
    JS_ReportErrorASCII(cx, "no session to make the request for");
    return false;
  }
  std::string module, name, error;
  JSString* m = JS::ToString(cx, args[0]);
  if (!m || !ecma::toUtf8(cx, m, module)) return false;
  JSString* n = JS::ToString(cx, args[1]);
  if (!n || !ecma::toUtf8(cx, n, name)) return false;
  scxml::Value attrs;
  if (!ecma::valueFromJS(cx, args[2], attrs, error) || !attrs.is_object()) {
    if (!JS_IsExceptionPending(cx)) JS_ReportErrorUTF8(cx, "%s.%s: %s", module.c_str(), name.c_str(), error.c_str());
    return false;
  }
  Result<std::string> id = host->moduleRequest(module, name, attrs.get_object());
  if (!id) {
    JS_ReportErrorUTF8(cx, "%s", id.status().message().c_str());
    return false;
  }
  JSString* s = ecma::newString(cx, *id);
  if (!s) return false;
  args.rval().setString(s);
  return true;
}

// __ors_config(): EcmaOptions::vendor, a fresh copy (strategies cannot change the configuration).
bool EcmaEngine::nativeVendorConfig(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  auto* e = static_cast<EcmaEngine*>(JS_GetContextPrivate(cx));
  return ecma::valueToJS(cx, e ? scxml::Value(e->options_.vendor) : scxml::Value(boost::json::object{}), args.rval());
}

// __GetCurrentStates(): the ids of every active state, in document order.
bool EcmaEngine::nativeCurrentStates(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  Host* host = currentHost(cx);
  std::vector<std::string> ids;
  if (host) ids = host->currentStates();
  JS::RootedObject array(cx, JS::NewArrayObject(cx, ids.size()));
  if (!array) return false;
  for (size_t i = 0; i < ids.size(); ++i) {
    JSString* s = ecma::newString(cx, ids[i]);
    if (!s) return false;
    JS::RootedValue v(cx, JS::StringValue(s));
    if (!JS_SetElement(cx, array, static_cast<uint32_t>(i), v)) return false;
  }
  args.rval().setObject(*array);
  return true;
}

DocCache& EcmaEngine::docCache(const Document& doc) {
  auto it = docs_.find(doc.uid);
  if (it != docs_.end() && it->second->exprCount == doc.exprCount) {
    DocCache& dc = *it->second;
    if (dc.refs++ == 0) idleDocs_.erase(dc.idlePos);
    return dc;
  }
  if (it != docs_.end()) {
    // A different document under a known uid: should not happen. Keep the old cache alive for
    // its sessions (leaked until the engine dies) and start a new one.
    if (it->second->refs == 0) {
      idleDocs_.erase(it->second->idlePos);
      docs_.erase(it);
    } else {
      auto node = docs_.extract(it);
      node.key() = UINT64_MAX - orphans_++;
      docs_.insert(std::move(node));
    }
  }
  auto dc = std::make_unique<DocCache>();
  dc->uid = doc.uid;
  dc->exprCount = doc.exprCount;
  dc->file = doc.url.empty() ? std::string("scxml") : doc.url;
  dc->files = doc.files;
  if (doc.vendor) {
    dc->vendor = true;
    for (const scxml::State& st : doc.states) {
      dc->parents.push_back(st.parent);
      dc->scripted.push_back(st.scripted ? 1 : 0);
    }
  }
  dc->scripts = std::make_unique<JS::Heap<JSScript*>[]>(size_t{doc.exprCount} * kKinds);
  EventScan scan;
  scan.document(doc);
  dc->usesEvent = scan.found;
  dc->refs = 1;
  DocCache& ref = *dc;
  docs_[doc.uid] = std::move(dc);
  return ref;
}

void EcmaEngine::release(DocCache* doc) {
  if (--doc->refs > 0) return;
  idleDocs_.push_back(doc->uid);
  doc->idlePos = std::prev(idleDocs_.end());
  while (idleDocs_.size() > kMaxIdleDocs) {
    uint64_t uid = idleDocs_.front();
    idleDocs_.pop_front();
    docs_.erase(uid);
  }
}

const FastExpr* EcmaEngine::fast(DocCache& doc, const scxml::Expr& expr) {
  if (!expr.present() || expr.id >= doc.exprCount) return nullptr;
  if (doc.fast.empty()) {
    doc.fast.resize(doc.exprCount);
    doc.fastTried.assign(doc.exprCount, 0);
  }
  if (!doc.fastTried[expr.id]) {
    doc.fastTried[expr.id] = 1;
    doc.fast[expr.id] = FastExpr::compile(cx_, expr.text);
  }
  return doc.fast[expr.id].get();
}

namespace {

// `s` as a JavaScript string literal.
std::string jsStringLiteral(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      default: out += c;
    }
  }
  return out + "\"";
}

}  // namespace

JSScript* EcmaEngine::compiled(DocCache& doc, const scxml::Expr& expr, Kind kind,
                               Status& error) {
  if (!expr.present() || expr.id >= doc.exprCount) {
    error = Status::error(expr.present() ? "expression id out of range" : "missing expression");
    return nullptr;
  }
  uint32_t slot = expr.id * kKinds + kind;
  if (JSScript* s = doc.scripts[slot].get()) return s;
  if (auto it = doc.errors.find(slot); it != doc.errors.end()) {
    error = Status::error(it->second);
    return nullptr;
  }
  std::string text;
  switch (kind) {
    case kValue: {
      // Authors write statement-style expressions such as expr="new Foo();" (W3C test 452):
      // trailing semicolons and white space are not part of the expression.
      std::string_view body = expr.text;
      while (!body.empty() && (body.back() == ';' || std::isspace(static_cast<unsigned char>(body.back()))))
        body.remove_suffix(1);
      text.reserve(body.size() + 16);
      text.append("__ors_r=(").append(body).append("\n);");
      break;
    }
    case kScript:
      text = expr.text;
      break;
    case kLocation:
      text.reserve(expr.text.size() + 32);
      text.append("\"use strict\";(").append(expr.text).append("\n)=__ors_r;");
      break;
  }
  JS::CompileOptions co(cx_);
  const std::string& file = expr.loc.file != 0 && expr.loc.file < doc.files.size() ? doc.files[expr.loc.file] : doc.file;
  co.setFileAndLine(file.c_str(), std::max<uint32_t>(expr.loc.line, 1))
      .setNonSyntacticScope(true)
      .setNoScriptRval(true);
  if (kind == kScript && expr.loc.col > 0) co.setColumn(expr.loc.col - 1);
  JS::SourceText<mozilla::Utf8Unit> src;
  JSScript* script = nullptr;
  if (src.init(cx_, text.data(), text.size(), JS::SourceOwnership::Borrowed)) {
    script = JS::Compile(cx_, co, src);
  }
  if (!script) {
    error = takeError();
    // The vendor evaluates a value expression as a script and takes its completion value, so
    // generated documents hold expressions that are statements: expr="caller_id: x.connid" (a
    // label). In its dialect, what does not compile as an expression is evaluated that way.
    // (Only when the text compiles as a script, so that other mistakes keep their message.)
    bool outOfMemory = error.message() == "out of memory";  // (not remembered: a retry may have it)
    if (kind == kValue && doc.vendor && error.message().rfind("SyntaxError", 0) == 0 &&
        src.init(cx_, expr.text.data(), expr.text.size(), JS::SourceOwnership::Borrowed) &&
        JS::Compile(cx_, co, src)) {
      text = "__ors_r=eval(" + jsStringLiteral(expr.text) + ");";
      if (src.init(cx_, text.data(), text.size(), JS::SourceOwnership::Borrowed)) script = JS::Compile(cx_, co, src);
    }
    if (!script && JS_IsThrowingOutOfMemory(cx_)) outOfMemory = true;
    if (JS_IsExceptionPending(cx_)) JS_ClearPendingException(cx_);
    if (!script && !outOfMemory) doc.errors.emplace(slot, error.message());
  }
  if (!script) return nullptr;
  doc.scripts[slot] = script;
  return script;
}

Status EcmaEngine::takeError() {
  if (!JS_IsExceptionPending(cx_)) {
    if (stopped_ == Stop::kTime) return Status::error("script exceeded its time budget");
    if (stopped_ == Stop::kMemory) {
      return Status::error("script exceeded the heap limit (out of memory)");
    }
    return Status::error("script terminated");
  }
  if (JS_IsThrowingOutOfMemory(cx_)) {
    JS_ClearPendingException(cx_);
    return Status::error("out of memory");
  }
  JS::ExceptionStack exn(cx_);
  if (!JS::StealPendingExceptionStack(cx_, &exn)) {
    JS_ClearPendingException(cx_);
    return Status::error("unknown JavaScript error");
  }
  std::string msg;
  {
    JS::ErrorReportBuilder builder(cx_);
    if (builder.init(cx_, exn, JS::ErrorReportBuilder::NoSideEffects)) {
      if (builder.toStringResult()) msg = builder.toStringResult().c_str();
      if (JSErrorReport* r = builder.report()) {
        if (msg.empty() && r->message()) msg = r->message().c_str();
        if (r->lineno > 0) {
          msg += " (";
          if (r->filename) msg.append(r->filename).append(":");
          msg += std::to_string(r->lineno) + ":" + std::to_string(r->column + 1) + ")";
        }
      }
    }
  }
  if (JS_IsExceptionPending(cx_)) JS_ClearPendingException(cx_);
  if (msg.empty()) msg = "uncaught JavaScript exception";
  return Status::error(std::move(msg));
}

size_t EcmaEngine::gcHeapBytes(bool collectFirst) {
  if (collectFirst) JS_GC(cx_);
  return JS_GetGCParameter(cx_, JSGC_BYTES);
}

std::unique_ptr<DataModel> EcmaEngine::create(const Document& doc, Host& host) {
  DocCache& dc = docCache(doc);
  JSAutoRealm realm(cx_, global());
  JS::RootedObject env(cx_, JS::NewJSMEnvironment(cx_));
  JS::RootedId id(cx_, idResult_);
  if (env && !JS_DefinePropertyById(cx_, env, id, JS::UndefinedHandleValue, JSPROP_PERMANENT)) {
    env = nullptr;
  }
  uint32_t slot = env ? storeEnv(env) : EcmaSession::kNoSlot;
  if (JS_IsExceptionPending(cx_)) JS_ClearPendingException(cx_);
  return std::make_unique<EcmaSession>(*this, dc, host, slot, ++nextSerial_);
}

uint32_t EcmaEngine::storeEnv(JS::HandleObject env) {
  uint32_t slot;
  if (!freeSlots_.empty()) {
    slot = freeSlots_.back();
    freeSlots_.pop_back();
  } else {
    slot = slotCount_++;
  }
  JS::RootedObject table(cx_, envTable_->get());
  if (!JS_SetElement(cx_, table, slot, env)) {
    JS_ClearPendingException(cx_);
    freeSlots_.push_back(slot);
    return EcmaSession::kNoSlot;
  }
  return slot;
}

JSObject* EcmaEngine::envAt(uint32_t slot) {
  JS::RootedObject table(cx_, envTable_->get());
  JS::RootedValue v(cx_);
  if (!JS_GetElement(cx_, table, slot, &v) || !v.isObject()) {
    JS_ClearPendingException(cx_);
    return nullptr;
  }
  return &v.toObject();
}

void EcmaEngine::releaseEnv(uint32_t slot) {
  if (slot == EcmaSession::kNoSlot) return;
  JSAutoRealm realm(cx_, global());
  JS::RootedObject table(cx_, envTable_->get());
  if (!JS_SetElement(cx_, table, slot, JS::UndefinedHandleValue)) JS_ClearPendingException(cx_);
  freeSlots_.push_back(slot);
}

}  // namespace ecma

std::unique_ptr<Engine> makeEcmaScriptEngine(const EcmaOptions& options) {
  std::call_once(gInitOnce, [] {
    JS::SetProcessBuildIdOp(buildId);
    gInitOk = JS_Init();
    if (gInitOk) std::atexit(shutdownAtExit);
  });
  if (!gInitOk) return nullptr;
  auto engine = std::make_unique<ecma::EcmaEngine>(options);
  if (!engine->init()) return nullptr;
  return engine;
}

void ecmaShrink(Engine& engine) {
  auto* e = dynamic_cast<ecma::EcmaEngine*>(&engine);
  if (!e) return;
  JS::PrepareForFullGC(e->cx());
  JS::NonIncrementalGC(e->cx(), JS::GCOptions::Shrink, JS::GCReason::API);
}

size_t ecmaGcHeapBytes(Engine& engine, bool collectFirst) {
  auto* e = dynamic_cast<ecma::EcmaEngine*>(&engine);
  return e ? e->gcHeapBytes(collectFirst) : 0;
}

}  // namespace ors::dm
