// Snapshots of the ECMAScript datamodel: a session's variables as JSON text, and back into a
// fresh environment (DataModel::snapshot / restore).
//
// The walk is written in JavaScript (kSnapshotSource, compiled on the engine's global before
// lockdown, so it holds the pristine built-ins and no document can tamper with them), and kept
// off the global: documents cannot see or call it.
//
// Encoding. A value that JSON can hold as it is (null, booleans, finite numbers other than -0,
// strings) is itself; anything else is an object with a "$" tag:
//   {"$":"u"} undefined           {"$":"num","v":"NaN"|"Infinity"|"-Infinity"|"-0"}
//   {"$":"big","v":"123"} BigInt  {"$":"ref","i":N} the object numbered N again (shared or cyclic)
//   {"$":"o","i":N,"p":{key: value...}, "ro":[keys], "ne":[keys], "pr":"null"|"xml", "fz":1}
//        an object: own string-keyed properties (accessors as {"$":"acc","g":fn,"s":fn}),
//        read-only and non-enumerable keys, prototype when not Object.prototype, frozen/sealed
//   {"$":"a","i":N,"e":[values, {"$":"h"} for a hole]}   an array
//   {"$":"fn","i":N,"s":source}  a function, recompiled from its source in the session's scope
//   {"$":"date","i":N,"v":ms}  {"$":"re","i":N,"s":source,"f":flags}
//   {"$":"map","i":N,"e":[[k,v]...]}  {"$":"set","i":N,"e":[v...]}
//   {"$":"err","i":N,"n":name,"m":message}
// Objects are numbered in the order first met. What cannot be written (symbols, native and bound
// functions, promises, weak collections, typed arrays, proxies' hidden state) is restored as
// undefined and named in the snapshot's "lost" list. Objects with any other prototype keep their
// own properties but become plain objects; functions keep their source but not their own
// properties or closures other than the session's scope. Lone UTF-16 surrogates become U+FFFD.
#include <js/Array.h>
#include <js/CompilationAndEvaluation.h>
#include <js/PropertyAndElement.h>
#include <js/SourceText.h>
#include <js/friend/JSMEnvironment.h>

#include "datamodel/ecmascript/ecmascript_engine.h"

namespace ors::dm::ecma {

const char kSnapshotSource[] = R"JS(
(function (global) {
  'use strict';
  const O = Object, R = Reflect;
  const getOwnPropertyNames = O.getOwnPropertyNames, getDesc = O.getOwnPropertyDescriptor;
  const getProto = O.getPrototypeOf, isFrozen = O.isFrozen, isSealed = O.isSealed,
        isExtensible = O.isExtensible, defineProperty = O.defineProperty, create = O.create,
        freeze = O.freeze, seal = O.seal, preventExtensions = O.preventExtensions;
  const apply = R.apply, isArray = Array.isArray, ObjectProto = O.prototype;
  const fnToString = Function.prototype.toString;
  const dateTime = Date.prototype.getTime;
  const reSource = getDesc(RegExp.prototype, 'source').get, reFlags = getDesc(RegExp.prototype, 'flags').get;
  const mapSize = getDesc(Map.prototype, 'size').get, setSize = getDesc(Set.prototype, 'size').get;
  const mapForEach = Map.prototype.forEach, setForEach = Set.prototype.forEach;
  const mapSet = Map.prototype.set, setAdd = Set.prototype.add, mapGet = Map.prototype.get;
  const push = Array.prototype.push, replace = String.prototype.replace, test = RegExp.prototype.test;
  const errorToString = Error.prototype.toString, isView = ArrayBuffer.isView;
  const stringify = JSON.stringify, parse = JSON.parse;
  const Num = Number, Str = String, BigIntCtor = BigInt;
  const xmlProto = global.__orsXmlNode;
  const errorCtors = {Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError};
  const surrogate = /[\uD800-\uDFFF]/, lone = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
  const wellFormed = (s) => apply(test, surrogate, [s]) ? apply(replace, s, [lone, '\uFFFD']) : s;
  const nativeCode = /\[native code\]\s*\}$/;
  const is = (f, v) => { try { apply(f, v, []); return true; } catch (e) { return false; } };

  function write(vars) {
    const seen = new Map();
    const lost = [];
    let next = 0;
    const enc = (v, path) => {
      switch (typeof v) {
        case 'undefined': return {$: 'u'};
        case 'boolean': return v;
        case 'string': return wellFormed(v);
        case 'number':
          if (v !== v) return {$: 'num', v: 'NaN'};
          if (v === Infinity) return {$: 'num', v: 'Infinity'};
          if (v === -Infinity) return {$: 'num', v: '-Infinity'};
          if (v === 0 && 1 / v < 0) return {$: 'num', v: '-0'};
          return v;
        case 'bigint': return {$: 'big', v: Str(v)};
        case 'symbol': apply(push, lost, [path + ': a symbol']); return {$: 'u'};
      }
      if (v === null) return null;
      const known = apply(mapGet, seen, [v]);
      if (known !== undefined) return {$: 'ref', i: known};
      const i = next++;
      apply(mapSet, seen, [v, i]);
      if (typeof v === 'function') {
        const s = apply(fnToString, v, []);
        if (apply(test, nativeCode, [s])) {
          apply(push, lost, [path + ': a native or bound function']);
          return {$: 'u', i};
        }
        return {$: 'fn', i, s: wellFormed(s)};
      }
      if (isArray(v)) {
        const e = [];
        const n = v.length;
        for (let k = 0; k < n; ++k) {
          const d = getDesc(v, k);
          apply(push, e, [d === undefined ? {$: 'h'} : 'value' in d ? enc(d.value, path + '[' + k + ']') : {$: 'u'}]);
        }
        return {$: 'a', i, e};
      }
      const proto = getProto(v);
      // Plain objects (the common case) skip the brand checks, which throw for them.
      if (proto !== ObjectProto && proto !== null && proto !== xmlProto) {
        if (is(dateTime, v)) return {$: 'date', i, v: enc(apply(dateTime, v, []), path)};
        if (is(reSource, v) && v !== RegExp.prototype) return {$: 're', i, s: apply(reSource, v, []), f: apply(reFlags, v, [])};
        if (is(mapSize, v)) {
          const e = [];
          apply(mapForEach, v, [(val, key) => apply(push, e, [[enc(key, path + '.<key>'), enc(val, path + '.<value>')]])]);
          return {$: 'map', i, e};
        }
        if (is(setSize, v)) {
          const e = [];
          apply(setForEach, v, [(val) => apply(push, e, [enc(val, path + '.<value>')])]);
          return {$: 'set', i, e};
        }
        if (isView(v)) { apply(push, lost, [path + ': a typed array or DataView']); return {$: 'u', i}; }
        // Class instances and host-like objects: their own properties survive, not their kind.
        if (!(v instanceof Error)) apply(push, lost, [path + ': prototype (restored as a plain object)']);
      }
      if (v instanceof Error) {
        let name = 'Error';
        for (const k in errorCtors) if (proto === errorCtors[k].prototype) name = k;
        const m = getDesc(v, 'message');
        return {$: 'err', i, n: name, m: m && typeof m.value === 'string' ? wellFormed(m.value) : ''};
      }
      const out = {$: 'o', i, p: {}};
      const ro = [], ne = [];
      for (const k of getOwnPropertyNames(v)) {
        const d = getDesc(v, k);
        const key = wellFormed(k);
        if ('value' in d) {
          out.p[key] = enc(d.value, path + '.' + key);
          if (!d.writable) apply(push, ro, [key]);
        } else {
          out.p[key] = {$: 'acc', g: enc(d.get, path + '.' + key), s: enc(d.set, path + '.' + key)};
        }
        if (!d.enumerable) apply(push, ne, [key]);
      }
      if (ro.length) out.ro = ro;
      if (ne.length) out.ne = ne;
      if (proto === null) out.pr = 'null';
      else if (proto === xmlProto) out.pr = 'xml';
      if (!isExtensible(v)) out.fz = isFrozen(v) ? 2 : isSealed(v) ? 1 : 0;
      return out;
    };
    const out = {};
    for (const k of getOwnPropertyNames(vars)) out[wellFormed(k)] = enc(vars[k], k);
    return stringify(lost.length ? {vars: out, lost} : {vars: out});
  }

  // Returns [[name, value]...] in the order written; `compile(source)` makes a function in the
  // session's scope.
  function read(text, compile) {
    const data = parse(text);
    const objs = [];
    const dec = (e) => {
      if (e === null || typeof e !== 'object') return e;
      switch (e.$) {
        case 'u': if (e.i !== undefined) objs[e.i] = undefined; return undefined;
        case 'h': return undefined;
        case 'num': return Num(e.v === '-0' ? '-0' : e.v);
        case 'big': return BigIntCtor(e.v);
        case 'ref': return objs[e.i];
        case 'fn': return (objs[e.i] = compile(e.s));
        case 'date': return (objs[e.i] = new Date(dec(e.v)));
        case 're': return (objs[e.i] = new RegExp(e.s, e.f));
        case 'err': return (objs[e.i] = new (errorCtors[e.n] || Error)(e.m));
        case 'map': {
          const m = objs[e.i] = new Map();
          for (const [k, v] of e.e) apply(mapSet, m, [dec(k), dec(v)]);
          return m;
        }
        case 'set': {
          const s = objs[e.i] = new Set();
          for (const v of e.e) apply(setAdd, s, [dec(v)]);
          return s;
        }
        case 'a': {
          const a = objs[e.i] = [];
          a.length = e.e.length;
          for (let k = 0; k < e.e.length; ++k) if (!(e.e[k] !== null && typeof e.e[k] === 'object' && e.e[k].$ === 'h')) a[k] = dec(e.e[k]);
          return a;
        }
        case 'o': {
          const o = objs[e.i] = create(e.pr === 'null' ? null : e.pr === 'xml' ? xmlProto : ObjectProto);
          const ro = e.ro || [], ne = e.ne || [];
          for (const k of getOwnPropertyNames(e.p)) {
            const p = e.p[k];
            const enumerable = ne.indexOf(k) < 0;
            if (p !== null && typeof p === 'object' && p.$ === 'acc') {
              defineProperty(o, k, {get: dec(p.g), set: dec(p.s), enumerable, configurable: true});
            } else {
              defineProperty(o, k, {value: dec(p), writable: ro.indexOf(k) < 0, enumerable, configurable: true});
            }
          }
          if (e.fz === 2) freeze(o); else if (e.fz === 1) seal(o); else if (e.fz === 0) preventExtensions(o);
          return o;
        }
      }
      return undefined;
    };
    const out = [];
    for (const k of getOwnPropertyNames(data.vars)) apply(push, out, [[k, dec(data.vars[k])]]);
    return out;
  }
  return {write, read};
})(this)
)JS";


bool EcmaEngine::nativeCompileFunction(JSContext* cx, unsigned argc, JS::Value* vp) {
  JS::CallArgs args = JS::CallArgsFromVp(argc, vp);
  auto* e = static_cast<EcmaEngine*>(JS_GetContextPrivate(cx));
  args.rval().setUndefined();
  if (!e || !e->current_ || !e->current_->envRoot_ || argc < 1 || !args[0].isString()) return true;
  std::string source;
  if (!toUtf8(cx, args[0].toString(), source)) return false;
  JS::RootedObject env(cx, e->current_->env());
  JS::RootedId result(cx, e->idResult_);
  // A function's source is an expression, except a method's (`f() {}`, `get x() {}`), which is
  // one inside an object literal.
  for (int form = 0; form < 2; ++form) {
    std::string text = form == 0 ? "__ors_r=(" + source + "\n);" : "__ors_r=({" + source + "\n});";
    JS::CompileOptions co(cx);
    co.setFileAndLine("ors:restore", 1).setNonSyntacticScope(true).setNoScriptRval(true);
    JS::SourceText<mozilla::Utf8Unit> src;
    if (!src.init(cx, text.data(), text.size(), JS::SourceOwnership::Borrowed)) return false;
    JS::RootedScript script(cx, JS::Compile(cx, co, src));
    if (!script) {
      if (JS_IsThrowingOutOfMemory(cx)) return false;
      JS_ClearPendingException(cx);
      continue;
    }
    JS::RootedValue v(cx);
    if (!JS::ExecuteInJSMEnvironment(cx, script, env) || !JS_GetPropertyById(cx, env, result, &v) ||
        !JS_SetPropertyById(cx, env, result, JS::UndefinedHandleValue))
      return false;
    if (form == 1 && v.isObject()) {
      JS::RootedObject holder(cx, &v.toObject());
      JS::Rooted<JS::IdVector> ids(cx, JS::IdVector(cx));
      if (!JS_Enumerate(cx, holder, &ids) || ids.length() != 1) return true;
      JS::Rooted<mozilla::Maybe<JS::PropertyDescriptor>> desc(cx);
      if (!JS_GetOwnPropertyDescriptorById(cx, holder, ids[0], &desc) || desc.isNothing()) return false;
      if (desc->hasValue()) v = desc->value();
      else if (desc->hasGetter() && desc->getter()) v.setObject(*desc->getter());
      else if (desc->hasSetter() && desc->setter()) v.setObject(*desc->setter());
      else v.setUndefined();
    }
    args.rval().set(v);
    return true;
  }
  return true;
}

Result<std::string> EcmaSession::snapshot() {
  if (!hasEnv()) return broken();
  Entry en(*this);
  JSContext* c = cx();
  JS::Rooted<JS::IdVector> ids(c, JS::IdVector(c));
  if (!JS_Enumerate(c, env(), &ids)) return jsFailure("snapshot");
  JS::RootedObject vars(c, JS_NewPlainObject(c));
  if (!vars) return jsFailure("snapshot");
  JS::RootedValue v(c);
  JS::RootedId id(c);
  for (size_t i = 0; i < ids.length(); ++i) {
    id = ids[i];
    // The system variables are the host's, set again on restore.
    if (id == eng_.idEvent_ || id == eng_.idSessionId_ || id == eng_.idName_ || id == eng_.idIoProcessors_) continue;
    if (!JS_GetPropertyById(c, env(), id, &v) || !JS_DefinePropertyById(c, vars, id, v, JSPROP_ENUMERATE))
      return jsFailure("snapshot");
  }
  // The state scopes (the vendor's documents) go along, in the same walk: what they share with
  // the session's variables stays shared.
  JS::RootedObject scoped(c);
  if (!scopes(false, &scoped)) return jsFailure("snapshot");
  if (scoped && !JS_DefineProperty(c, vars, "__ors_scopes", scoped, JSPROP_ENUMERATE)) return jsFailure("snapshot");
  JS::RootedValue fn(c, JS::ObjectValue(*eng_.snapWrite_->get()));
  JS::RootedValueArray<1> argv(c);
  argv[0].setObject(*vars);
  if (!JS::Call(c, JS::UndefinedHandleValue, fn, argv, &v) || !v.isString()) return jsFailure("snapshot");
  std::string out;
  if (!toUtf8(c, v.toString(), out)) return jsFailure("snapshot");
  return out;
}

Status EcmaSession::restore(std::string_view snapshot) {
  if (!hasEnv()) return broken();
  Entry en(*this);
  JSContext* c = cx();
  JS::RootedValue fn(c, JS::ObjectValue(*eng_.snapRead_->get()));
  JS::RootedValueArray<2> argv(c);
  JSString* text = newString(c, snapshot);
  if (!text) return jsFailure("restore");
  argv[0].setString(text);
  argv[1].setObject(*eng_.snapCompile_->get());
  JS::RootedValue rv(c);
  if (!JS::Call(c, JS::UndefinedHandleValue, fn, argv, &rv) || !rv.isObject()) return jsFailure("restore");
  JS::RootedObject pairs(c, &rv.toObject());
  uint32_t n = 0;
  if (!JS::GetArrayLength(c, pairs, &n)) return jsFailure("restore");
  JS::RootedValue pair(c), name(c), value(c);
  JS::RootedObject po(c);
  JS::RootedId id(c);
  for (uint32_t i = 0; i < n; ++i) {
    if (!JS_GetElement(c, pairs, i, &pair) || !pair.isObject()) return jsFailure("restore");
    po = &pair.toObject();
    if (!JS_GetElement(c, po, 0, &name) || !JS_GetElement(c, po, 1, &value) || !JS_ValueToId(c, name, &id))
      return jsFailure("restore");
    bool isScopes = false;
    if (name.isString() && !JS_StringEqualsLiteral(c, name.toString(), "__ors_scopes", &isScopes)) return jsFailure("restore");
    if (!JS_DefinePropertyById(c, env(), id, value,
                               isScopes ? JSPROP_PERMANENT | JSPROP_READONLY : JSPROP_ENUMERATE | JSPROP_PERMANENT))
      return jsFailure("restore");
  }
  return Status::ok();
}

}  // namespace ors::dm::ecma
