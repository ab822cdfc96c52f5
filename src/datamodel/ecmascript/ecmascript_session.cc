// The ECMAScript datamodel: one session, a JSM environment on the engine's shared global.
//
// Evaluation scheme. Every Expr is compiled at most once per (engine, document, role) as a
// non-syntactic script and run in the session's JSM environment with ExecuteInJSMEnvironment:
//   value/cond   `__ors_r=(TEXT\n);`                read back from the environment
//   script       `TEXT`
//   location     `"use strict";(TEXT\n)=__ors_r;`   the host stores the value in __ors_r first;
//                                                   strict mode makes undeclared and read-only
//                                                   targets errors (SCXML 5.4, 5.10)
// `__ors_r` is a non-enumerable var of each session environment.
#include <iostream>

#include <js/Array.h>
#include <js/Conversions.h>
#include <js/ForOfIterator.h>
#include <js/GCAPI.h>
#include <js/JSON.h>
#include <js/PropertyAndElement.h>
#include <js/String.h>
#include <js/friend/JSMEnvironment.h>

#include "datamodel/ecmascript/ecmascript_engine.h"

namespace ors::dm::ecma {

// ---- session implementation -------------------------------------------------------------------

EcmaSession::~EcmaSession() {
  eng_.releaseEnv(slot_);
  eng_.release(&doc_);
}

Status EcmaSession::exec(JSScript* script) {
  JS::RootedScript s(cx(), script);
  if (doc_.vendor && scopeState_ != 0) {
    JS::RootedObjectVector chain(cx());
    if (!scopeChain(&chain)) return eng_.takeError();
    if (!chain.empty()) {
      // The scopes go on the environment chain, the innermost receiving the script's `var`s.
      if (!JS::ExecuteInJSMEnvironment(cx(), s, env(), chain)) return eng_.takeError();
      return Status::ok();
    }
  }
  if (!JS::ExecuteInJSMEnvironment(cx(), s, env())) return eng_.takeError();
  return Status::ok();
}

// ---- the vendor's state scopes (Document::vendor) -------------------------------------------
// Each scripted state, while active, has a plain object of its own `var`s: an element (by state
// index) of the environment's non-enumerable `__ors_scopes`, so that it lives with the session
// and is written with its snapshot. Content running in a state sees its scope and its
// ancestors', innermost first, then the session's variables.

bool EcmaSession::scopes(bool create, JS::MutableHandleObject out) {
  JSContext* c = cx();
  JS::RootedValue v(c);
  if (!JS_GetProperty(c, env(), "__ors_scopes", &v)) return false;
  if (v.isObject()) {
    out.set(&v.toObject());
    return true;
  }
  out.set(nullptr);
  if (!create) return true;
  JS::RootedObject o(c, JS_NewPlainObject(c));
  if (!o || !JS_DefineProperty(c, env(), "__ors_scopes", o, JSPROP_PERMANENT | JSPROP_READONLY)) return false;
  out.set(o);
  return true;
}

bool EcmaSession::scopeChain(JS::MutableHandle<JS::StackGCVector<JSObject*>> chain) {
  JSContext* c = cx();
  JS::RootedObject all(c);
  if (!scopes(false, &all)) return false;
  if (!all) return true;
  JS::RootedValue v(c);
  for (uint32_t s = scopeState_; s != scxml::kNone && s < doc_.parents.size(); s = doc_.parents[s]) {
    if (!doc_.scripted[s]) continue;
    if (!JS_GetElement(c, all, s, &v)) return false;
    if (v.isObject() && !chain.append(&v.toObject())) return false;
  }
  return true;
}

void EcmaSession::enterScope(uint32_t state) {
  if (!hasEnv()) return;
  Entry en(*this);
  JSContext* c = cx();
  JS::RootedObject all(c);
  // No prototype: names such as toString or __proto__ are no scope's unless it declares them.
  JS::RootedObject scope(c, JS_NewObjectWithGivenProto(c, nullptr, nullptr));
  if (!scope || !scopes(true, &all) || !JS_SetElement(c, all, state, scope)) {
    std::clog << "ecmascript datamodel: a state's scope could not be made: " << eng_.takeError().message() << "\n";
  }
}

void EcmaSession::exitScope(uint32_t state) {
  if (!hasEnv()) return;
  Entry en(*this);
  JSContext* c = cx();
  JS::RootedObject all(c);
  if (!scopes(false, &all) || (all && !JS_DeleteElement(c, all, state))) JS_ClearPendingException(c);
  // Each evaluation inside scopes makes environment objects that SpiderMonkey collects only when
  // asked (an embedding's job): without this, a long run of scoped steps grows the heap until
  // collections thrash.
  JS_MaybeGC(c);
}

Status EcmaSession::evalRaw(const Expr& expr, JS::MutableHandleValue out) {
  if (const FastExpr* f = eng_.fast(doc_, expr)) {
    if (!doc_.vendor || scopeState_ == 0) {
      if (f->eval(cx(), env(), lazyEvent(), out) == FastExpr::Outcome::kOk) return Status::ok();
    } else {
      // Inside the vendor's state scopes, names are looked for in them first.
      JS::RootedObjectVector chain(cx());
      if (!scopeChain(&chain)) JS_ClearPendingException(cx());
      else if (f->eval(cx(), env(), lazyEvent(), out, &chain) == FastExpr::Outcome::kOk) return Status::ok();
    }
  }
  Status st;
  JSScript* s = eng_.compiled(doc_, expr, kValue, st);
  if (!s) return st;
  st = exec(s);
  if (!st) return st;
  JS::RootedId id(cx(), eng_.idResult_);
  if (!JS_GetPropertyById(cx(), env(), id, out)) return eng_.takeError();
  if (out.isObject() && !JS_SetPropertyById(cx(), env(), id, JS::UndefinedHandleValue)) {
    JS_ClearPendingException(cx());
  }
  return Status::ok();
}

Status EcmaSession::storeAndAssign(const Expr& location, JS::HandleValue v) {
  if (const FastExpr* f = eng_.fast(doc_, location)) {
    if (!doc_.vendor || scopeState_ == 0) {
      if (f->assign(cx(), env(), v) == FastExpr::Outcome::kOk) return Status::ok();
    } else {
      JS::RootedObjectVector chain(cx());
      if (!scopeChain(&chain)) JS_ClearPendingException(cx());
      else if (f->assign(cx(), env(), v, &chain) == FastExpr::Outcome::kOk) return Status::ok();
    }
  }
  Status st;
  JSScript* s = eng_.compiled(doc_, location, kLocation, st);
  if (!s) return st;
  JS::RootedId id(cx(), eng_.idResult_);
  if (!JS_SetPropertyById(cx(), env(), id, v)) return eng_.takeError();
  st = exec(s);
  if (v.isObject() && !JS_SetPropertyById(cx(), env(), id, JS::UndefinedHandleValue)) {
    JS_ClearPendingException(cx());
  }
  return st;
}

Status EcmaSession::jsFailure(const std::string& what) {
  Status st = eng_.takeError();
  return Status::error(what + ": " + st.message());
}

void EcmaSession::setSystemVariables(const std::string& sessionId, const std::string& name,
                                     const Value& ioprocessors) {
  if (!hasEnv()) return;
  Entry en(*this);
  JSContext* c = cx();
  const unsigned attrs = JSPROP_ENUMERATE | JSPROP_READONLY | JSPROP_PERMANENT;
  JS::RootedValue v(c);
  JS::RootedId id(c);
  auto define = [&](jsid key) {
    id = key;
    if (!JS_DefinePropertyById(c, env(), id, v, attrs)) JS_ClearPendingException(c);
  };
  if (JSString* s = ecma::newString(c, sessionId)) {
    v.setString(s);
    define(eng_.idSessionId_);
  }
  if (JSString* s = ecma::newString(c, name)) {
    v.setString(s);
    define(eng_.idName_);
  }
  // _data: the session's variables as one object (the vendor's; the authoring tool's documents
  // write `_data.system.context = system`). Not enumerable, so not in snapshots: set again here.
  v.setObject(*env());
  if (!JS_DefineProperty(c, env(), "_data", v, JSPROP_READONLY | JSPROP_PERMANENT)) JS_ClearPendingException(c);
  // _ioprocessors is built on first read (most documents never read it): a getter until then.
  ioprocessors_ = &ioprocessors;
  {
    id = eng_.idIoProcessors_;
    JS::RootedObject getter(c, eng_.ioGetter_->get());
    if (!JS_DefinePropertyById(c, env(), id, getter, nullptr, JSPROP_ENUMERATE)) JS_ClearPendingException(c);
  }
  if (doc_.usesEvent) {
    // Bound (to undefined) before the first event, so that `cond="_event"` is simply false
    // (W3C test 319); setEvent redefines it, hence configurable.
    id = eng_.idEvent_;
    if (!JS_DefinePropertyById(c, env(), id, JS::UndefinedHandleValue,
                               JSPROP_ENUMERATE | JSPROP_READONLY)) {
      JS_ClearPendingException(c);
    }
  }
  if (JS_IsExceptionPending(c)) JS_ClearPendingException(c);
}

void EcmaSession::declareData(const scxml::Data& data) {
  if (!hasEnv()) return;
  Entry en(*this);
  JSContext* c = cx();
  JS::RootedString name(c, ecma::newString(c, data.id));
  JS::RootedId id(c);
  bool has = false;
  if (!name || !JS_StringToId(c, name, &id) || !JS_HasOwnPropertyById(c, env(), id, &has) ||
      (!has && !JS_DefinePropertyById(c, env(), id, JS::UndefinedHandleValue,
                                      JSPROP_ENUMERATE | JSPROP_PERMANENT))) {
    JS_ClearPendingException(c);
  }
}

// <data> content: one conversion for every datamodel and every kind of content (SCXML 5.6, B.2):
// JSON, markup (a DOM here) or space-normalised text, see scxml::contentToValue.
Status EcmaSession::contentValue(const std::string& body, JS::MutableHandleValue out) {
  if (!ecma::valueToJS(cx(), scxml::contentToValue(body), out)) return eng_.takeError();
  return Status::ok();
}

Status EcmaSession::initData(const scxml::Data& data) {
  if (!hasEnv()) return broken();
  Entry en(*this);
  JSContext* c = cx();
  JS::RootedValue v(c);
  Status st;
  if (!data.loadError.empty()) {
    st = Status::error(data.loadError);
  } else if (data.expr.present()) {
    st = evalRaw(data.expr, &v);
  } else if (data.content.present) {
    st = data.content.expr.present() ? evalRaw(data.content.expr, &v)
                                     : contentValue(data.content.body, &v);
  }
  if (!st) v.setUndefined();
  JS::RootedString name(c, ecma::newString(c, data.id));
  JS::RootedId id(c);
  if (!name || !JS_StringToId(c, name, &id) ||
      !JS_DefinePropertyById(c, env(), id, v, JSPROP_ENUMERATE | JSPROP_PERMANENT)) {
    Status def = jsFailure("cannot define data '" + data.id + "'");
    if (st) st = def;
  }
  return st;
}

void EcmaSession::beginStep() {
  if (!hasEnv() || stepDepth_++ > 0) return;
  JSContext* c = cx();
  prevStep_ = eng_.stepSession_;
  stepRealm_ = JS::EnterRealm(c, eng_.global());
  eng_.stepSession_ = this;
  eng_.stepEnv_->set(eng_.envAt(slot_));
}

void EcmaSession::endStep() {
  if (!hasEnv() || --stepDepth_ > 0) return;
  JSContext* c = cx();
  eng_.stepSession_ = prevStep_;
  eng_.stepEnv_->set(prevStep_ ? eng_.envAt(prevStep_->slot_) : nullptr);
  prevStep_ = nullptr;
  JS::ClearKeptObjects(c);
  JS::LeaveRealm(c, stepRealm_);
}

// SCXML 5.10.1 `_event`, built lazily: setEvent only records the host event and binds `_event`
// to the engine's getter; the first read from JavaScript builds the (frozen) object and rebinds
// `_event` to it. The fast path reads primitive fields straight from the host event, so a macrostep
// whose expressions read `_event.name` or `_event.data.n` never builds an object.
void EcmaSession::setEvent(const scxml::Event& event) {
  if (!hasEnv() || !doc_.usesEvent) return;
  event_ = &event;
  eventMaterialized_ = false;
  Entry en(*this);
  JSContext* c = cx();
  JS::RootedId id(c, eng_.idEvent_);
  JS::RootedObject getter(c, eng_.eventGetter_->get());
  if (!JS_DefinePropertyById(c, env(), id, getter, nullptr, JSPROP_ENUMERATE)) {
    JS_ClearPendingException(c);
  }
}

bool EcmaSession::materializeIoProcessors(JS::MutableHandleValue out) {
  JSContext* c = cx();
  if (!ioprocessors_) {
    out.setUndefined();
    return true;
  }
  if (!ecma::valueToJS(c, *ioprocessors_, out)) return false;
  if (out.isObject()) {
    JS::RootedObject o(c, &out.toObject());
    if (!JS_DeepFreezeObject(c, o)) return false;
  }
  JS::RootedId id(c, eng_.idIoProcessors_);
  return JS_DefinePropertyById(c, env(), id, out, JSPROP_ENUMERATE | JSPROP_READONLY | JSPROP_PERMANENT);
}

bool EcmaSession::materializeEvent(JS::MutableHandleValue out) {
  JSContext* c = cx();
  if (!event_) {
    out.setUndefined();
    return true;
  }
  const scxml::Event& event = *event_;
  JS::RootedObject ev(c, JS_NewPlainObject(c));
  if (!ev) return false;
  JS::RootedValue v(c);
  JS::RootedId id(c);
  bool ok = true;
  auto put = [&](jsid key) {
    id = key;
    ok = ok && JS_DefinePropertyById(c, ev, id, v, JSPROP_ENUMERATE);
  };
  auto putString = [&](jsid key, const std::string& s, bool emptyIsUndefined) {
    if (s.empty() && emptyIsUndefined) {
      v.setUndefined();
    } else if (JSString* js = ecma::newString(c, s)) {
      v.setString(js);
    } else {
      ok = false;
      return;
    }
    put(key);
  };
  putString(eng_.idEvName_, event.name, false);
  putString(eng_.idType_, scxml::Event::typeName(event.type), false);
  putString(eng_.idSendId_, event.sendid, true);
  putString(eng_.idOrigin_, event.origin, true);
  putString(eng_.idOriginType_, event.origintype, true);
  putString(eng_.idInvokeId_, event.invokeid, true);
  if (!event.raw.empty()) putString(eng_.idRaw_, event.raw, false);
  if (ok) {
    if (event.data.is_null()) {
      v.setUndefined();
    } else if (!ecma::valueToJS(c, event.data, &v)) {
      return false;
    }
    put(eng_.idData_);
  }
  if (!ok || !JS_FreezeObject(c, ev)) return false;
  v.setObject(*ev);
  id = eng_.idEvent_;
  if (!JS_DefinePropertyById(c, env(), id, v, JSPROP_ENUMERATE | JSPROP_READONLY)) return false;
  eventMaterialized_ = true;
  out.set(v);
  return true;
}

Result<bool> EcmaSession::evalCond(const Expr& cond) {
  if (!hasEnv()) return broken();
  Entry en(*this);
  JS::RootedValue v(cx());
  Status st = evalRaw(cond, &v);
  if (!st) return st;
  return JS::ToBoolean(v);
}

Result<Value> EcmaSession::evalValue(const Expr& expr) {
  if (!hasEnv()) return broken();
  Entry en(*this);
  JS::RootedValue v(cx());
  Status st = evalRaw(expr, &v);
  if (!st) return st;
  Value out;
  std::string error;
  if (!ecma::valueFromJS(cx(), v, out, error)) {
    if (!error.empty()) {
      if (JS_IsExceptionPending(cx())) JS_ClearPendingException(cx());
      return Status::error(error);
    }
    return eng_.takeError();
  }
  return out;
}

Result<std::string> EcmaSession::evalString(const Expr& expr) {
  if (!hasEnv()) return broken();
  Entry en(*this);
  JSContext* c = cx();
  JS::RootedValue v(c);
  Status st = evalRaw(expr, &v);
  if (!st) return st;
  std::string out;
  if (v.isString()) {
    if (!ecma::toUtf8(c, v.toString(), out)) return eng_.takeError();
    return out;
  }
  JS::RootedObject asObject(c, v.isObject() ? &v.toObject() : nullptr);
  if (asObject && !ecma::isXmlNode(c, asObject)) {  // XML nodes are written as markup, below
    bool isUndefined = false;
    if (ecma::stringifyJSON(c, v, out, isUndefined) && !isUndefined) return out;
    if (JS_IsExceptionPending(c)) {
      if (JS_IsThrowingOutOfMemory(c)) return eng_.takeError();
      JS_ClearPendingException(c);
    } else if (eng_.stopped_ != EcmaEngine::Stop::kNone) {
      return eng_.takeError();
    }
  }
  JSString* s = JS::ToString(c, v);
  if (!s || !ecma::toUtf8(c, s, out)) return eng_.takeError();
  return out;
}

Status EcmaSession::assign(const Expr& location, const Expr& expr) {
  if (!hasEnv()) return broken();
  Entry en(*this);
  JS::RootedValue v(cx());
  Status st = evalRaw(expr, &v);
  if (!st) return st;
  return storeAndAssign(location, v);
}

Status EcmaSession::assignValue(const Expr& location, const Value& value) {
  if (!hasEnv()) return broken();
  Entry en(*this);
  JS::RootedValue v(cx());
  if (!ecma::valueToJS(cx(), value, &v)) return eng_.takeError();
  return storeAndAssign(location, v);
}

Status EcmaSession::execScript(const Expr& script) {
  if (!hasEnv()) return broken();
  Entry en(*this);
  Status st;
  JSScript* s = eng_.compiled(doc_, script, kScript, st);
  if (!s) return st;
  return exec(s);
}

bool EcmaSession::ensureDeclared(const std::string& name) {
  JSContext* c = cx();
  JS::RootedString str(c, ecma::newString(c, name));
  JS::RootedId id(c);
  if (!str || !JS_StringToId(c, str, &id)) return false;
  bool has = false;
  if (!JS_HasOwnPropertyById(c, env(), id, &has)) return false;
  if (has) return true;
  JS::RootedObject lexical(c, JS_ExtensibleLexicalEnvironment(env()));
  if (lexical && !JS_HasOwnPropertyById(c, lexical, id, &has)) return false;
  if (has) return true;
  JS::RootedObject global(c, eng_.global());
  if (!JS_HasPropertyById(c, global, id, &has)) return false;
  if (has) return true;
  return JS_DefinePropertyById(c, env(), id, JS::UndefinedHandleValue,
                               JSPROP_ENUMERATE | JSPROP_PERMANENT);
}

Status EcmaSession::forEach(const Expr& array, const Expr& item, const Expr& index,
                            const std::function<Status()>& body) {
  if (!hasEnv()) return broken();
  JSContext* c = cx();
  JS::RootedValueVector items(c);
  {
    Entry en(*this);
    JS::RootedValue arr(c);
    Status st = evalRaw(array, &arr);
    if (!st) return st;
    if (!arr.isObject()) {
      return Status::error("foreach: array '" + array.text + "' is not an iterable collection");
    }
    if (!item.present() || !ecma::isIdentifier(item.text)) {
      return Status::error("foreach: item '" + item.text + "' is not a legal variable name");
    }
    if (index.present() && !ecma::isIdentifier(index.text)) {
      return Status::error("foreach: index '" + index.text + "' is not a legal variable name");
    }
    JS::RootedObject obj(c, &arr.toObject());
    bool isArray = false;
    if (!JS::IsArrayObject(c, obj, &isArray)) return jsFailure("foreach");
    JS::RootedValue el(c);
    if (isArray) {
      uint32_t len = 0;
      if (!JS::GetArrayLength(c, obj, &len)) return jsFailure("foreach");
      if (!items.reserve(len)) return Status::error("foreach: out of memory");
      for (uint32_t i = 0; i < len; ++i) {
        if (!JS_GetElement(c, obj, i, &el)) return jsFailure("foreach");
        items.infallibleAppend(el);
      }
    } else {
      JS::ForOfIterator it(c);
      if (!it.init(arr, JS::ForOfIterator::AllowNonIterable)) return jsFailure("foreach");
      if (!it.valueIsIterable()) {
        return Status::error("foreach: array '" + array.text + "' is not an iterable collection");
      }
      while (true) {
        bool done = false;
        if (!it.next(&el, &done)) return jsFailure("foreach");
        if (done) break;
        if (!items.append(el)) return Status::error("foreach: out of memory");
      }
    }
    if (!ensureDeclared(item.text) || (index.present() && !ensureDeclared(index.text))) {
      return jsFailure("foreach: cannot declare item/index");
    }
  }
  JS::RootedValue idx(c);
  for (size_t i = 0; i < items.length(); ++i) {
    {
      Entry en(*this);
      Status st = storeAndAssign(item, items[i]);
      if (!st) return st;
      if (index.present()) {
        idx.setNumber(static_cast<double>(i));
        st = storeAndAssign(index, idx);
        if (!st) return st;
      }
    }
    Status st = body();
    if (!st) return st;
  }
  return Status::ok();
}

}  // namespace ors::dm::ecma
