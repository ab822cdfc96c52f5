// The script that hardens the shared global of an ECMAScript engine (see ecmascript.h), run once
// per engine after the standard classes are resolved and the host functions defined:
//   1. collects every object reachable from the global (own properties with string and symbol
//      keys, accessors, prototypes) plus intrinsics reachable only through syntax;
//   2. fixes the "override mistake" as SES does: selected writable data properties of the
//      built-in prototypes become accessors whose setter defines an own property on `this`;
//   3. freezes everything reachable, including the new accessor functions.
#include "datamodel/ecmascript/ecmascript_internal.h"

namespace ors::dm::ecma {

const char kBootstrapSource[] = R"JS(
(function (global) {
  'use strict';
  const freeze = Object.freeze;
  const gopd = Object.getOwnPropertyDescriptor;
  const defineProperty = Object.defineProperty;
  const getPrototypeOf = Object.getPrototypeOf;
  const ownKeys = Reflect.ownKeys;
  const apply = Reflect.apply;
  const hasOwn = Object.prototype.hasOwnProperty;
  const TypeErrorCtor = TypeError;
  const StringCtor = String;

  function collect(roots) {
    const seen = new Set();
    const list = [];
    function visit(v) {
      if ((typeof v === 'object' && v !== null) || typeof v === 'function') {
        if (!seen.has(v)) { seen.add(v); list.push(v); }
      }
    }
    roots.forEach(visit);
    for (let i = 0; i < list.length; i++) {
      const o = list[i];
      visit(getPrototypeOf(o));
      const keys = ownKeys(o);
      for (let j = 0; j < keys.length; j++) {
        const d = gopd(o, keys[j]);
        if (d === undefined) continue;
        if ('value' in d) { visit(d.value); } else { visit(d.get); visit(d.set); }
      }
    }
    return list;
  }

  // Intrinsics that no global property reaches.
  const roots = [global,
    function* () {}, async function () {}, async function* () {},
    (function* () {})(), (async function* () {})(),
    [][Symbol.iterator](), new Map()[Symbol.iterator](), new Set()[Symbol.iterator](),
    ''[Symbol.iterator](), /a/[Symbol.matchAll](''),
    (function () { return arguments; })(),
    (function () { 'use strict'; return arguments; })()];

  // ---- override mistake ----
  function enableOverride(proto, key) {
    const d = gopd(proto, key);
    if (d === undefined || !('value' in d) || !d.writable || !d.configurable) return;
    const value = d.value;
    const accessors = {
      get() { return value; },
      set(newValue) {
        if (this === proto) {
          throw new TypeErrorCtor("Cannot assign to read only property '" + StringCtor(key) +
                                  "' of a built-in prototype");
        }
        if ((typeof this !== 'object' || this === null) && typeof this !== 'function') return;
        if (apply(hasOwn, this, [key])) {
          this[key] = newValue;
        } else {
          defineProperty(this, key, { value: newValue, writable: true, enumerable: true,
                                      configurable: true });
        }
      },
    };
    defineProperty(proto, key, { get: accessors.get, set: accessors.set,
                                 enumerable: d.enumerable, configurable: false });
  }
  const overridable = ['constructor', 'toString', 'valueOf', 'toLocaleString', 'name', 'message'];
  const first = collect(roots);
  for (let i = 0; i < first.length; i++) {
    const o = first[i];
    if (typeof o === 'function' || o === global) continue;
    let isProto = o === Object.prototype;
    if (!isProto) {
      const c = gopd(o, 'constructor');
      isProto = c !== undefined && 'value' in c && typeof c.value === 'function' &&
                c.value.prototype === o;
    }
    if (!isProto) continue;
    const keys = o === Object.prototype ? ownKeys(o) : overridable;
    for (let j = 0; j < keys.length; j++) enableOverride(o, keys[j]);
  }
  // Function.prototype is a function, hence skipped above.
  for (let j = 0; j < overridable.length; j++) enableOverride(Function.prototype, overridable[j]);

  // ---- lockdown ----
  const all = collect(roots);
  for (let i = 0; i < all.length; i++) freeze(all[i]);
})(this);
)JS";

}  // namespace ors::dm::ecma
