// The expression fast path (see ecmascript_fast.h).
#include "datamodel/ecmascript/ecmascript_fast.h"
#include "datamodel/ecmascript/ecmascript_internal.h"  // diagnostics pragma for JS::Rooted

#include <cmath>
#include <cstdlib>
#include <string>

#include <js/Array.h>

#include <js/Conversions.h>
#include <js/Equality.h>
#include <js/PropertyAndElement.h>
#include <js/PropertyDescriptor.h>
#include <js/Proxy.h>

namespace ors::dm::ecma {

enum class Op : uint8_t {
  kConst, kString, kIdent, kMember, kArray, kObject, kNot, kNeg,
  kAdd, kSub, kMul, kDiv, kMod, kLt, kLe, kGt, kGe, kEq, kNe, kStrictEq, kStrictNe, kAnd, kOr
};

struct FastExpr::Node {
  Op op = Op::kConst;
  JS::Value constant = JS::UndefinedValue();  // kConst: only non-GC values (numbers, bools, null)
  std::string text;                           // kString: ASCII literal
  jsid id = JS::PropertyKey::Void();          // kIdent, kMember: pinned atom
  std::string name;                           // kIdent, kMember: the identifier
  bool isEvent = false;                       // kIdent `_event`
  std::unique_ptr<Node> a, b;
  std::vector<std::unique_ptr<Node>> items;   // kArray elements; kObject values
  std::vector<jsid> keys;                     // kObject keys (pinned atoms)
};

namespace {

using Node = FastExpr::Node;

class Parser {
 public:
  Parser(JSContext* cx, std::string_view s) : cx_(cx), s_(s) {}

  std::unique_ptr<Node> parseAll() {
    auto n = parseBinary(0);
    skipSpace();
    if (!n || pos_ != s_.size()) return nullptr;
    return n;
  }

 private:
  void skipSpace() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  static bool identStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == '$'; }
  static bool identPart(char c) { return identStart(c) || std::isdigit(static_cast<unsigned char>(c)); }

  // Binary operators by JS precedence; 0 = not a binary operator here.
  int peekBinary(Op* op, size_t* len) {
    skipSpace();
    std::string_view r = s_.substr(pos_);
    struct Entry { const char* tok; Op op; int prec; };
    static constexpr Entry kOps[] = {
        {"===", Op::kStrictEq, 10}, {"!==", Op::kStrictNe, 10}, {"==", Op::kEq, 10}, {"!=", Op::kNe, 10},
        {"&&", Op::kAnd, 5},        {"||", Op::kOr, 4},         {"<=", Op::kLe, 11}, {">=", Op::kGe, 11},
        {"<", Op::kLt, 11},         {">", Op::kGt, 11},         {"+", Op::kAdd, 13}, {"-", Op::kSub, 13},
        {"*", Op::kMul, 14},        {"/", Op::kDiv, 14},        {"%", Op::kMod, 14}};
    for (const Entry& e : kOps) {
      std::string_view t(e.tok);
      if (r.substr(0, t.size()) == t) {
        // Reject longer operators we do not handle (<<, >>, **, ++, --, &&=, ||=, =>, ...).
        char next = r.size() > t.size() ? r[t.size()] : '\0';
        if ((t == "<" && (next == '<' || next == '=')) || (t == ">" && (next == '>' || next == '=')) ||
            (t == "*" && next == '*') || (t == "+" && next == '+') || (t == "-" && next == '-') ||
            (t.size() <= 2 && next == '=' && t != "<=" && t != ">=" ) || (t == "/" && (next == '/' || next == '*')))
          return -1;
        *op = e.op;
        *len = t.size();
        return e.prec;
      }
    }
    return 0;
  }

  std::unique_ptr<Node> parseBinary(int minPrec) {
    auto left = parseUnary();
    if (!left) return nullptr;
    for (;;) {
      Op op;
      size_t len = 0;
      int prec = peekBinary(&op, &len);
      if (prec < 0) return nullptr;
      if (prec == 0 || prec <= minPrec) return left;
      pos_ += len;
      auto right = parseBinary(prec);
      if (!right) return nullptr;
      auto n = std::make_unique<Node>();
      n->op = op;
      n->a = std::move(left);
      n->b = std::move(right);
      left = std::move(n);
    }
  }

  std::unique_ptr<Node> parseUnary() {
    skipSpace();
    if (pos_ < s_.size() && (s_[pos_] == '!' || s_[pos_] == '-')) {
      char c = s_[pos_++];
      if (pos_ < s_.size() && (s_[pos_] == '-' || s_[pos_] == '=')) return nullptr;
      auto operand = parseUnary();
      if (!operand) return nullptr;
      auto n = std::make_unique<Node>();
      n->op = c == '!' ? Op::kNot : Op::kNeg;
      n->a = std::move(operand);
      return n;
    }
    return parsePostfix();
  }

  std::unique_ptr<Node> parsePostfix() {
    auto n = parsePrimary();
    for (;;) {
      if (!n) return nullptr;
      skipSpace();
      if (pos_ < s_.size() && s_[pos_] == '.') {
        ++pos_;
        skipSpace();
        std::string name = identifier();
        if (name.empty()) return nullptr;
        auto m = std::make_unique<Node>();
        m->op = Op::kMember;
        m->a = std::move(n);
        if (!pin(name, &m->id)) return nullptr;
        m->name = name;
        n = std::move(m);
        continue;
      }
      if (pos_ < s_.size() && (s_[pos_] == '(' || s_[pos_] == '[' || s_[pos_] == '`' || s_[pos_] == '?')) return nullptr;
      return n;
    }
  }

  // After a list item: 1 for ',' (another item), 0 for `close` (the end), -1 otherwise.
  int listNext(char close) {
    skipSpace();
    if (pos_ < s_.size() && s_[pos_] == ',') return ++pos_, 1;
    if (pos_ < s_.size() && s_[pos_] == close) return ++pos_, 0;
    return -1;
  }

  std::string identifier() {
    if (pos_ >= s_.size() || !identStart(s_[pos_])) return {};
    size_t b = pos_;
    while (pos_ < s_.size() && identPart(s_[pos_])) ++pos_;
    return std::string(s_.substr(b, pos_ - b));
  }

  bool pin(const std::string& name, jsid* out) {
    JSString* atom = JS_AtomizeAndPinString(cx_, name.c_str());
    if (!atom) {
      JS_ClearPendingException(cx_);
      return false;
    }
    *out = JS::PropertyKey::fromPinnedString(atom);
    return true;
  }

  std::unique_ptr<Node> parsePrimary() {
    skipSpace();
    if (pos_ >= s_.size()) return nullptr;
    char c = s_[pos_];
    auto n = std::make_unique<Node>();
    if (c == '[') {  // array literal of fast expressions: [a, 1, 'x']
      ++pos_;
      n->op = Op::kArray;
      skipSpace();
      if (pos_ < s_.size() && s_[pos_] == ']') {
        ++pos_;
        return n;
      }
      for (;;) {
        auto item = parseBinary(0);
        if (!item) return nullptr;
        n->items.push_back(std::move(item));
        int next = listNext(']');
        if (next > 0) continue;
        return next == 0 ? std::move(n) : nullptr;
      }
    }
    if (c == '{') {  // object literal with plain keys: {x: 1, 'y': a}
      ++pos_;
      n->op = Op::kObject;
      skipSpace();
      if (pos_ < s_.size() && s_[pos_] == '}') {
        ++pos_;
        return n;
      }
      for (;;) {
        skipSpace();
        std::string key;
        if (pos_ < s_.size() && (s_[pos_] == '\'' || s_[pos_] == '"')) {
          auto k = parsePrimary();
          if (!k || k->op != Op::kString) return nullptr;
          key = k->text;
        } else {
          key = identifier();
        }
        // __proto__ sets the prototype; numeric-looking keys are array indices: leave both to JS.
        if (key.empty() || key == "__proto__" || std::isdigit(static_cast<unsigned char>(key[0]))) return nullptr;
        skipSpace();
        if (pos_ >= s_.size() || s_[pos_] != ':') return nullptr;
        ++pos_;
        auto value = parseBinary(0);
        if (!value) return nullptr;
        jsid id;
        if (!pin(key, &id)) return nullptr;
        for (const jsid& other : n->keys)
          if (other == id) return nullptr;  // duplicate keys: JS semantics, not ours
        n->keys.push_back(id);
        n->items.push_back(std::move(value));
        int next = listNext('}');
        if (next > 0) continue;
        return next == 0 ? std::move(n) : nullptr;
      }
    }
    if (c == '(') {
      ++pos_;
      auto inner = parseBinary(0);
      skipSpace();
      if (!inner || pos_ >= s_.size() || s_[pos_] != ')') return nullptr;
      ++pos_;
      return inner;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || (c == '.' && pos_ + 1 < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_ + 1])))) {
      size_t b = pos_;
      while (pos_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '.')) ++pos_;
      if (pos_ < s_.size() && (identPart(s_[pos_]))) return nullptr;  // 0x.., 1e5, 1n, 10_000
      std::string num(s_.substr(b, pos_ - b));
      if (num.size() > 1 && num[0] == '0' && num[1] != '.') return nullptr;  // legacy octal
      if (std::count(num.begin(), num.end(), '.') > 1) return nullptr;
      n->op = Op::kConst;
      n->constant = JS::NumberValue(std::strtod(num.c_str(), nullptr));
      return n;
    }
    if (c == '\'' || c == '"') {
      size_t b = ++pos_;
      while (pos_ < s_.size() && s_[pos_] != c) {
        unsigned char ch = static_cast<unsigned char>(s_[pos_]);
        if (ch == '\\' || ch == '\n' || ch == '\r' || ch >= 0x80) return nullptr;
        ++pos_;
      }
      if (pos_ >= s_.size()) return nullptr;
      n->op = Op::kString;
      n->text = std::string(s_.substr(b, pos_ - b));
      ++pos_;
      return n;
    }
    std::string name = identifier();
    if (name.empty()) return nullptr;
    if (name == "true" || name == "false") {
      n->op = Op::kConst;
      n->constant = JS::BooleanValue(name == "true");
      return n;
    }
    if (name == "null") {
      n->op = Op::kConst;
      n->constant = JS::NullValue();
      return n;
    }
    static constexpr std::string_view kKeywords[] = {
        "typeof", "new", "this", "in", "instanceof", "void", "delete", "function", "class", "yield",
        "await", "var", "let", "const", "if", "return", "super", "import", "arguments", "eval", "async"};
    for (std::string_view k : kKeywords)
      if (name == k) return nullptr;
    n->op = Op::kIdent;
    if (!pin(name, &n->id)) return nullptr;
    n->isEvent = name == "_event";
    n->name = std::move(name);
    return n;
  }

  JSContext* cx_;
  std::string_view s_;
  size_t pos_ = 0;
};

using Outcome = FastExpr::Outcome;

// An own data property of an ordinary (non-proxy) object, without running any code.
Outcome ownData(JSContext* cx, JS::HandleObject obj, JS::HandleId id, JS::MutableHandleValue out,
                bool needWritable = false) {
  if (js::IsProxy(obj)) return Outcome::kFallback;
  JS::Rooted<mozilla::Maybe<JS::PropertyDescriptor>> desc(cx);
  if (!JS_GetOwnPropertyDescriptorById(cx, obj, id, &desc)) {
    JS_ClearPendingException(cx);
    return Outcome::kFallback;
  }
  if (desc.isNothing() || !desc->isDataDescriptor()) return Outcome::kFallback;
  if (needWritable && !desc->writable()) return Outcome::kFallback;
  out.set(desc->value());
  return Outcome::kOk;
}

// `_event.a.b...` read from the host event while `_event` is not built: primitives only (an
// object would need the identity and mutability of the one JavaScript object).
Outcome hostEventPath(JSContext* cx, const Node& n, const scxml::Event& ev, JS::MutableHandleValue out) {
  const Node* chain[16];
  size_t len = 0;
  const Node* p = &n;
  while (p->op == Op::kMember) {
    if (len == 16) return Outcome::kFallback;
    chain[len++] = p;
    p = p->a.get();
  }
  if (p->op != Op::kIdent || !p->isEvent || len == 0) return Outcome::kFallback;
  const std::string& field = chain[len - 1]->name;
  auto putString = [&](const std::string& s, bool emptyIsUndefined) {
    if (len != 1) return Outcome::kFallback;  // e.g. _event.name.length
    if (s.empty() && emptyIsUndefined) {
      out.setUndefined();
      return Outcome::kOk;
    }
    JSString* str = newString(cx, s);
    if (!str) {
      JS_ClearPendingException(cx);
      return Outcome::kFallback;
    }
    out.setString(str);
    return Outcome::kOk;
  };
  if (field == "name") return putString(ev.name, false);
  if (field == "type") return putString(scxml::Event::typeName(ev.type), false);
  if (field == "sendid") return putString(ev.sendid, true);
  if (field == "origin") return putString(ev.origin, true);
  if (field == "origintype") return putString(ev.origintype, true);
  if (field == "invokeid") return putString(ev.invokeid, true);
  if (field == "raw") {
    if (ev.raw.empty()) return Outcome::kFallback;
    return putString(ev.raw, false);
  }
  if (field != "data") return Outcome::kFallback;
  const scxml::Value* v = &ev.data;
  if (v->is_null()) {
    if (len != 1) return Outcome::kFallback;  // a TypeError, from JavaScript
    out.setUndefined();
    return Outcome::kOk;
  }
  for (size_t i = len - 1; i-- > 0;) {
    const auto* obj = v->if_object();
    if (!obj || obj->contains(scxml::kXmlValueKey)) return Outcome::kFallback;
    auto it = obj->find(chain[i]->name);
    if (it == obj->end()) return Outcome::kFallback;  // maybe inherited (toString ...): JavaScript
    v = &it->value();
  }
  switch (v->kind()) {
    case boost::json::kind::null: out.setNull(); return Outcome::kOk;
    case boost::json::kind::bool_: out.setBoolean(v->get_bool()); return Outcome::kOk;
    case boost::json::kind::int64: out.set(JS::NumberValue(static_cast<double>(v->get_int64()))); return Outcome::kOk;
    case boost::json::kind::uint64: out.set(JS::NumberValue(static_cast<double>(v->get_uint64()))); return Outcome::kOk;
    case boost::json::kind::double_: out.set(JS::NumberValue(v->get_double())); return Outcome::kOk;
    case boost::json::kind::string: {
      JSString* str = newString(cx, std::string_view(v->get_string().data(), v->get_string().size()));
      if (!str) {
        JS_ClearPendingException(cx);
        return Outcome::kFallback;
      }
      out.setString(str);
      return Outcome::kOk;
    }
    default:
      return Outcome::kFallback;
  }
}

// Where a name is found: the innermost state scope that has it as its own, else the session's
// environment (as SpiderMonkey's scope chain would find it). False on a JSAPI failure.
bool holderOf(JSContext* cx, JS::HandleObject env, const JS::RootedObjectVector* scopes, JS::HandleId id,
              JS::MutableHandleObject holder) {
  holder.set(env);
  if (!scopes) return true;
  JS::RootedObject scope(cx);
  for (size_t i = 0; i < scopes->length(); ++i) {
    scope = (*scopes)[i];
    bool has = false;
    if (!JS_HasOwnPropertyById(cx, scope, id, &has)) {
      JS_ClearPendingException(cx);
      return false;
    }
    if (has) {
      holder.set(scope);
      return true;
    }
  }
  return true;
}

Outcome evalNode(JSContext* cx, const Node& n, JS::HandleObject env, const JS::RootedObjectVector* scopes,
                 const scxml::Event* lazyEvent, JS::MutableHandleValue out) {
  switch (n.op) {
    case Op::kConst:
      out.set(n.constant);
      return Outcome::kOk;
    case Op::kString: {
      JSString* s = JS_NewStringCopyN(cx, n.text.data(), n.text.size());
      if (!s) {
        JS_ClearPendingException(cx);
        return Outcome::kFallback;
      }
      out.setString(s);
      return Outcome::kOk;
    }
    case Op::kIdent: {
      JS::RootedId id(cx, n.id);
      JS::RootedObject holder(cx);
      if (!holderOf(cx, env, scopes, id, &holder)) return Outcome::kFallback;
      return ownData(cx, holder, id, out);
    }
    case Op::kMember: {
      if (lazyEvent) {
        const Node* root = &n;
        while (root->op == Op::kMember) root = root->a.get();
        if (root->op == Op::kIdent && root->isEvent) {
          JS::RootedId id(cx, root->id);
          JS::RootedObject holder(cx);
          if (!holderOf(cx, env, scopes, id, &holder)) return Outcome::kFallback;
          if (holder == env) return hostEventPath(cx, n, *lazyEvent, out);  // (not a state's own _event)
        }
      }
      JS::RootedValue base(cx);
      if (evalNode(cx, *n.a, env, scopes, lazyEvent, &base) != Outcome::kOk || !base.isObject()) return Outcome::kFallback;
      JS::RootedObject obj(cx, &base.toObject());
      JS::RootedId id(cx, n.id);
      return ownData(cx, obj, id, out);
    }
    case Op::kArray: {
      JS::RootedObject arr(cx, JS::NewArrayObject(cx, n.items.size()));
      if (!arr) {
        JS_ClearPendingException(cx);
        return Outcome::kFallback;
      }
      JS::RootedValue v(cx);
      for (size_t i = 0; i < n.items.size(); ++i) {
        if (evalNode(cx, *n.items[i], env, scopes, lazyEvent, &v) != Outcome::kOk) return Outcome::kFallback;
        if (!JS_DefineElement(cx, arr, static_cast<uint32_t>(i), v, JSPROP_ENUMERATE)) {
          JS_ClearPendingException(cx);
          return Outcome::kFallback;
        }
      }
      out.setObject(*arr);
      return Outcome::kOk;
    }
    case Op::kObject: {
      JS::RootedObject obj(cx, JS_NewPlainObject(cx));
      if (!obj) {
        JS_ClearPendingException(cx);
        return Outcome::kFallback;
      }
      JS::RootedValue v(cx);
      JS::RootedId id(cx);
      for (size_t i = 0; i < n.items.size(); ++i) {
        if (evalNode(cx, *n.items[i], env, scopes, lazyEvent, &v) != Outcome::kOk) return Outcome::kFallback;
        id = n.keys[i];
        if (!JS_DefinePropertyById(cx, obj, id, v, JSPROP_ENUMERATE)) {
          JS_ClearPendingException(cx);
          return Outcome::kFallback;
        }
      }
      out.setObject(*obj);
      return Outcome::kOk;
    }
    case Op::kNot: {
      JS::RootedValue v(cx);
      if (evalNode(cx, *n.a, env, scopes, lazyEvent, &v) != Outcome::kOk) return Outcome::kFallback;
      out.setBoolean(!JS::ToBoolean(v));
      return Outcome::kOk;
    }
    case Op::kNeg: {
      JS::RootedValue v(cx);
      if (evalNode(cx, *n.a, env, scopes, lazyEvent, &v) != Outcome::kOk || !v.isNumber()) return Outcome::kFallback;
      out.set(JS::NumberValue(-v.toNumber()));
      return Outcome::kOk;
    }
    case Op::kAnd:
    case Op::kOr: {
      if (evalNode(cx, *n.a, env, scopes, lazyEvent, out) != Outcome::kOk) return Outcome::kFallback;
      bool truthy = JS::ToBoolean(out);
      if ((n.op == Op::kAnd) != truthy) return Outcome::kOk;  // short-circuit: the left operand
      return evalNode(cx, *n.b, env, scopes, lazyEvent, out);
    }
    default:
      break;
  }
  JS::RootedValue a(cx), b(cx);
  if (evalNode(cx, *n.a, env, scopes, lazyEvent, &a) != Outcome::kOk || evalNode(cx, *n.b, env, scopes, lazyEvent, &b) != Outcome::kOk)
    return Outcome::kFallback;
  if (n.op == Op::kStrictEq || n.op == Op::kStrictNe) {
    bool eq = false;  // strict equality never runs user code
    if (!JS::StrictlyEqual(cx, a, b, &eq)) {
      JS_ClearPendingException(cx);
      return Outcome::kFallback;
    }
    out.setBoolean(eq == (n.op == Op::kStrictEq));
    return Outcome::kOk;
  }
  if (n.op == Op::kEq || n.op == Op::kNe) {
    if (a.isObject() || b.isObject()) return Outcome::kFallback;  // valueOf/toString could run
    bool eq = false;
    if (!JS::LooselyEqual(cx, a, b, &eq)) {
      JS_ClearPendingException(cx);
      return Outcome::kFallback;
    }
    out.setBoolean(eq == (n.op == Op::kEq));
    return Outcome::kOk;
  }
  if (!a.isNumber() || !b.isNumber()) return Outcome::kFallback;
  double x = a.toNumber(), y = b.toNumber();
  switch (n.op) {
    case Op::kAdd: out.set(JS::NumberValue(x + y)); break;
    case Op::kSub: out.set(JS::NumberValue(x - y)); break;
    case Op::kMul: out.set(JS::NumberValue(x * y)); break;
    case Op::kDiv: out.set(JS::NumberValue(x / y)); break;
    case Op::kMod: out.set(JS::NumberValue(std::fmod(x, y))); break;
    case Op::kLt: out.setBoolean(x < y); break;
    case Op::kLe: out.setBoolean(x <= y); break;
    case Op::kGt: out.setBoolean(x > y); break;
    case Op::kGe: out.setBoolean(x >= y); break;
    default: return Outcome::kFallback;
  }
  return Outcome::kOk;
}

}  // namespace

FastExpr::FastExpr(std::unique_ptr<Node> root) : root_(std::move(root)) {}
FastExpr::~FastExpr() = default;

std::unique_ptr<FastExpr> FastExpr::compile(JSContext* cx, std::string_view text) {
  while (!text.empty() && (text.back() == ';' || std::isspace(static_cast<unsigned char>(text.back()))))
    text.remove_suffix(1);
  if (text.empty() || text.size() > 256) return nullptr;
  Parser p(cx, text);
  std::unique_ptr<Node> root = p.parseAll();
  if (!root) return nullptr;
  return std::unique_ptr<FastExpr>(new FastExpr(std::move(root)));
}

FastExpr::Outcome FastExpr::eval(JSContext* cx, JS::HandleObject env, const scxml::Event* lazyEvent,
                                  JS::MutableHandleValue out, const JS::RootedObjectVector* scopes) const {
  return evalNode(cx, *root_, env, scopes, lazyEvent, out);
}

FastExpr::Outcome FastExpr::assign(JSContext* cx, JS::HandleObject env, JS::HandleValue v,
                                   const JS::RootedObjectVector* scopes) const {
  JS::RootedObject target(cx);
  if (root_->op == Op::kIdent) {
    JS::RootedId id(cx, root_->id);
    if (!holderOf(cx, env, scopes, id, &target)) return Outcome::kFallback;
  } else if (root_->op == Op::kMember) {
    JS::RootedValue base(cx);
    if (evalNode(cx, *root_->a, env, scopes, nullptr, &base) != Outcome::kOk || !base.isObject())
      return Outcome::kFallback;
    target = &base.toObject();
  } else {
    return Outcome::kFallback;
  }
  JS::RootedId id(cx, root_->id);
  JS::RootedValue old(cx);
  if (ownData(cx, target, id, &old, /*needWritable=*/true) != Outcome::kOk) return Outcome::kFallback;
  if (!JS_SetPropertyById(cx, target, id, v)) {
    JS_ClearPendingException(cx);
    return Outcome::kFallback;
  }
  return Outcome::kOk;
}

}  // namespace ors::dm::ecma
