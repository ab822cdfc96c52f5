// Conversions between host values (boost::json) and JS values, and string helpers.
#include <cmath>
#include <cstdint>
#include <limits>

#include <js/Array.h>
#include <js/CharacterEncoding.h>
#include <js/Conversions.h>
#include <js/JSON.h>
#include <js/PropertyAndElement.h>
#include <js/String.h>
#include <jsfriendapi.h>
#include <mozilla/Span.h>

#include "datamodel/ecmascript/ecmascript_internal.h"

namespace ors::dm::ecma {
namespace {

constexpr int kMaxDepth = 100;

void appendUtf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

// UTF-16 -> UTF-8 with a carry for surrogate pairs split across chunks.
struct Utf16Sink {
  std::string out;
  char16_t pendingHigh = 0;
  void put(const char16_t* s, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      char16_t c = s[i];
      if (pendingHigh) {
        if (c >= 0xDC00 && c <= 0xDFFF) {
          appendUtf8(out, 0x10000 + ((char32_t(pendingHigh) - 0xD800) << 10) + (c - 0xDC00));
          pendingHigh = 0;
          continue;
        }
        appendUtf8(out, 0xFFFD);
        pendingHigh = 0;
      }
      if (c >= 0xD800 && c <= 0xDBFF) {
        pendingHigh = c;
      } else if (c >= 0xDC00 && c <= 0xDFFF) {
        appendUtf8(out, 0xFFFD);
      } else {
        appendUtf8(out, c);
      }
    }
  }
  void finish() {
    if (pendingHigh) appendUtf8(out, 0xFFFD);
    pendingHigh = 0;
  }
};

bool stringifyCallback(const char16_t* buf, uint32_t len, void* data) {
  static_cast<Utf16Sink*>(data)->put(buf, len);
  return true;
}

bool numberToValue(double d, scxml::Value& out) {
  if (std::isfinite(d) && std::trunc(d) == d && d >= -9223372036854775808.0 &&
      d < 9223372036854775808.0 && !(d == 0 && std::signbit(d))) {
    out = static_cast<int64_t>(d);
  } else if (std::isfinite(d)) {
    out = d;
  } else {
    out = nullptr;  // NaN and infinities have no JSON form
  }
  return true;
}

bool fromJS(JSContext* cx, JS::HandleValue v, scxml::Value& out, std::string& error, int depth) {
  if (v.isNullOrUndefined() || v.isSymbol()) {
    out = nullptr;
    return true;
  }
  if (v.isBoolean()) {
    out = v.toBoolean();
    return true;
  }
  if (v.isInt32()) {
    out = static_cast<int64_t>(v.toInt32());
    return true;
  }
  if (v.isNumber()) return numberToValue(v.toNumber(), out);
  if (v.isString()) {
    std::string s;
    if (!toUtf8(cx, v.toString(), s)) return false;
    out = boost::json::string(s);
    return true;
  }
  if (v.isBigInt()) {
    JSString* str = JS::ToString(cx, v);
    std::string s;
    if (!str || !toUtf8(cx, str, s)) return false;
    out = boost::json::string(s);
    return true;
  }
  if (!v.isObject()) {
    out = nullptr;
    return true;
  }
  if (depth >= kMaxDepth) {
    error = "value is nested too deeply or is cyclic";
    return false;
  }
  JS::RootedObject obj(cx, &v.toObject());
  if (JS::IsCallable(obj)) {
    out = nullptr;
    return true;
  }
  if (isXmlNode(cx, obj)) {  // an XML DOM node travels as its markup
    JSString* markup = JS::ToString(cx, v);
    std::string s;
    if (!markup || !toUtf8(cx, markup, s)) return false;
    out = boost::json::object{{scxml::kXmlValueKey, s}};
    return true;
  }
  // toJSON (Date and user objects), as JSON.stringify does.
  JS::RootedValue toJSON(cx);
  if (!JS_GetProperty(cx, obj, "toJSON", &toJSON)) return false;
  if (toJSON.isObject() && JS::IsCallable(&toJSON.toObject())) {
    JS::RootedValue res(cx);
    if (!JS::Call(cx, v, toJSON, JS::HandleValueArray::empty(), &res)) return false;
    if (res.isObject() && &res.toObject() == obj.get()) {
      error = "toJSON returned its receiver";
      return false;
    }
    return fromJS(cx, res, out, error, depth + 1);
  }
  bool isArray = false;
  if (!JS::IsArrayObject(cx, obj, &isArray)) return false;
  if (isArray) {
    uint32_t len = 0;
    if (!JS::GetArrayLength(cx, obj, &len)) return false;
    boost::json::array arr;
    arr.reserve(len);
    JS::RootedValue el(cx);
    for (uint32_t i = 0; i < len; ++i) {
      if (!JS_GetElement(cx, obj, i, &el)) return false;
      scxml::Value item;
      if (!fromJS(cx, el, item, error, depth + 1)) return false;
      arr.push_back(std::move(item));
    }
    out = std::move(arr);
    return true;
  }
  JS::RootedIdVector ids(cx);
  if (!js::GetPropertyKeys(cx, obj, JSITER_OWNONLY, &ids)) return false;
  boost::json::object o;
  JS::RootedValue key(cx), el(cx);
  JS::RootedId id(cx);
  for (size_t i = 0; i < ids.length(); ++i) {
    id = ids[i];
    if (id.isSymbol()) continue;
    if (!JS_IdToValue(cx, id, &key)) return false;
    JSString* ks = JS::ToString(cx, key);
    std::string k;
    if (!ks || !toUtf8(cx, ks, k)) return false;
    if (!JS_GetPropertyById(cx, obj, id, &el)) return false;
    scxml::Value item;
    if (!fromJS(cx, el, item, error, depth + 1)) return false;
    o[k] = std::move(item);
  }
  out = std::move(o);
  return true;
}

bool toJS(JSContext* cx, const scxml::Value& v, JS::MutableHandleValue out, int depth) {
  if (depth >= kMaxDepth) {
    JS_ReportErrorASCII(cx, "host value is nested too deeply");
    return false;
  }
  switch (v.kind()) {
    case boost::json::kind::null:
      out.setNull();
      return true;
    case boost::json::kind::bool_:
      out.setBoolean(v.get_bool());
      return true;
    case boost::json::kind::int64:
      out.set(JS::NumberValue(static_cast<double>(v.get_int64())));
      return true;
    case boost::json::kind::uint64:
      out.set(JS::NumberValue(static_cast<double>(v.get_uint64())));
      return true;
    case boost::json::kind::double_:
      out.set(JS::NumberValue(v.get_double()));
      return true;
    case boost::json::kind::string: {
      const auto& s = v.get_string();
      JSString* str = newString(cx, std::string_view(s.data(), s.size()));
      if (!str) return false;
      out.setString(str);
      return true;
    }
    case boost::json::kind::array: {
      const auto& a = v.get_array();
      JS::RootedObject arr(cx, JS::NewArrayObject(cx, a.size()));
      if (!arr) return false;
      JS::RootedValue el(cx);
      for (size_t i = 0; i < a.size(); ++i) {
        if (!toJS(cx, a[i], &el, depth + 1)) return false;
        if (!JS_DefineElement(cx, arr, static_cast<uint32_t>(i), el, JSPROP_ENUMERATE)) {
          return false;
        }
      }
      out.setObject(*arr);
      return true;
    }
    case boost::json::kind::object: {
      const auto& o = v.get_object();
      if (o.size() == 1) {
        auto it = o.find(scxml::kXmlValueKey);
        if (it != o.end() && it->value().is_string()) {
          const auto& m = it->value().get_string();
          return xmlToJS(cx, std::string_view(m.data(), m.size()), out);
        }
      }
      JS::RootedObject obj(cx, JS_NewPlainObject(cx));
      if (!obj) return false;
      JS::RootedValue el(cx);
      JS::RootedString ks(cx);
      JS::RootedId id(cx);
      for (const auto& kv : v.get_object()) {
        ks = newString(cx, std::string_view(kv.key().data(), kv.key().size()));
        if (!ks || !JS_StringToId(cx, ks, &id)) return false;
        if (!toJS(cx, kv.value(), &el, depth + 1)) return false;
        if (!JS_DefinePropertyById(cx, obj, id, el, JSPROP_ENUMERATE)) return false;
      }
      out.setObject(*obj);
      return true;
    }
  }
  out.setUndefined();
  return true;
}

constexpr std::string_view kReserved[] = {
    "await",  "break",    "case",       "catch",   "class",     "const",   "continue",
    "debugger", "default", "delete",    "do",      "else",      "enum",    "export",
    "extends", "false",   "finally",    "for",     "function",  "if",      "import",
    "in",     "instanceof", "new",      "null",    "return",    "super",   "switch",
    "this",   "throw",    "true",       "try",     "typeof",    "var",     "void",
    "while",  "with",     "yield",      "let",     "static",    "implements", "interface",
    "package", "private", "protected",  "public"};

}  // namespace

bool toUtf8(JSContext* cx, JSString* str, std::string& out) {
  JSLinearString* lin = JS_EnsureLinearString(cx, str);
  if (!lin) return false;
  size_t n = JS::GetDeflatedUTF8StringLength(lin);
  out.resize(n);
  size_t written = JS::DeflateStringToUTF8Buffer(lin, mozilla::Span<char>(out.data(), n));
  out.resize(written);
  return true;
}

JSString* newString(JSContext* cx, std::string_view utf8) {
  bool ascii = true;
  for (char c : utf8) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return JS_NewStringCopyN(cx, utf8.data(), utf8.size());
  JSString* s = JS_NewStringCopyUTF8N(cx, JS::UTF8Chars(utf8.data(), utf8.size()));
  if (s) return s;
  if (JS_IsThrowingOutOfMemory(cx)) return nullptr;
  JS_ClearPendingException(cx);  // malformed UTF-8: take the bytes as Latin-1
  return JS_NewStringCopyN(cx, utf8.data(), utf8.size());
}

bool valueToJS(JSContext* cx, const scxml::Value& v, JS::MutableHandleValue out) {
  return toJS(cx, v, out, 0);
}

bool valueFromJS(JSContext* cx, JS::HandleValue v, scxml::Value& out, std::string& error) {
  return fromJS(cx, v, out, error, 0);
}

bool stringifyJSON(JSContext* cx, JS::HandleValue v, std::string& out, bool& isUndefined) {
  Utf16Sink sink;
  JS::RootedValue value(cx, v);
  if (!JS_Stringify(cx, &value, nullptr, JS::NullHandleValue, stringifyCallback, &sink)) {
    return false;
  }
  sink.finish();
  isUndefined = sink.out.empty();  // stringify writes nothing when the result is undefined
  out = std::move(sink.out);
  return true;
}

bool isIdentifier(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    bool ok = c >= 0x80 || c == '_' || c == '$' || (c >= 'a' && c <= 'z') ||
              (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  for (auto r : kReserved) {
    if (s == r) return false;
  }
  return true;
}

}  // namespace ors::dm::ecma
