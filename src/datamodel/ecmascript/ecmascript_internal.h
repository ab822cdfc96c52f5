// Internals of the ECMAScript datamodel shared by its translation units. Not a public header.
#pragma once

#include <string>
#include <string_view>

#include <jsapi.h>

#include "common/status.h"
#include "scxml/event.h"

// g++ 12 reports JS::Rooted's registration in the context's root list (it stores the address of
// a stack object, removed again by its destructor) as -Wdangling-pointer once inlined. A false
// positive; silenced for the translation units of this datamodel only.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#endif

namespace ors::dm::ecma {

// The hardening script (ecmascript_bootstrap.cc).
extern const char kBootstrapSource[];

// The XML DOM (ecmascript_xml.cc): its prototype script, run on the global before lockdown;
// markup -> Document node (false with an exception pending); whether an object is a DOM node.
extern const char kXmlDomSource[];
// The snapshot walk (ecmascript_snapshot.cc): a script whose value is {write, read}.
extern const char kSnapshotSource[];
// The vendor's `_genesys` object model (ecmascript_genesys.cc), run on the global before lockdown.
extern const char kGenesysSource[];
bool xmlToJS(JSContext* cx, std::string_view markup, JS::MutableHandleValue out);
bool isXmlNode(JSContext* cx, JS::HandleObject obj);

// ---- conversions (ecmascript_convert.cc); all need a realm entered ----
// JS string -> UTF-8 (lone surrogates become U+FFFD). False on OOM (exception pending).
bool toUtf8(JSContext* cx, JSString* str, std::string& out);
// UTF-8 -> JS string (invalid UTF-8 is taken as Latin-1). Null on OOM (exception pending).
JSString* newString(JSContext* cx, std::string_view utf8);
// Host value -> JS value (plain objects/arrays). False with an exception pending on failure.
bool valueToJS(JSContext* cx, const scxml::Value& v, JS::MutableHandleValue out);
// JS value -> host value (see DataModel::evalValue). False with an exception pending, or with
// no exception and `error` set for values too deep or cyclic.
bool valueFromJS(JSContext* cx, JS::HandleValue v, scxml::Value& out, std::string& error);
// JSON.stringify into UTF-8. `isUndefined` is set when stringify yields undefined.
bool stringifyJSON(JSContext* cx, JS::HandleValue v, std::string& out, bool& isUndefined);
// ECMAScript IdentifierName that is not a reserved word (ASCII rules; non-ASCII letters allowed).
bool isIdentifier(std::string_view s);

}  // namespace ors::dm::ecma
