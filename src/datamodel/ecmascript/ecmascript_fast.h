// Fast path for the simplest expressions of the ECMAScript datamodel: identifiers, member access,
// number/boolean/null literals, ASCII string literals, ! and unary -, + - * / %, comparisons,
// (strict) equality, && and ||. Such an expression is compiled once into a small tree and
// evaluated natively against the session environment: no script execution for `count < N` or
// `count + 1`. Exactness rule: the tree only handles operands for which the result is certain
// (numbers for arithmetic, own data properties of ordinary objects, primitives for ==); anything
// else returns kFallback *before any observable effect*, and the caller runs the compiled script,
// so semantics are always those of SpiderMonkey.
// Threading: a FastExpr belongs to one engine (its pinned ids are that runtime's).
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include <jsapi.h>

#include "scxml/event.h"

namespace ors::dm::ecma {

class FastExpr {
 public:
  enum class Outcome : uint8_t { kOk, kFallback };

  // Null when `text` is outside the subset.
  static std::unique_ptr<FastExpr> compile(JSContext* cx, std::string_view text);
  ~FastExpr();

  // `lazyEvent`: the host event while the session's `_event` object has not been built; member
  // chains on `_event` that end in a primitive are then read from it directly.
  // `scopes`: objects searched for a name before `env`, innermost first (the vendor's state
  // scopes, docs/dialect.md).
  Outcome eval(JSContext* cx, JS::HandleObject env, const scxml::Event* lazyEvent,
               JS::MutableHandleValue out, const JS::RootedObjectVector* scopes = nullptr) const;
  // For a location (identifier or member chain): stores `v` if the target is an existing,
  // writable own data property; otherwise kFallback with nothing changed.
  // A location under a `_event` not built yet meets its getter and falls back: JavaScript
  // builds the object first.
  Outcome assign(JSContext* cx, JS::HandleObject env, JS::HandleValue v,
                 const JS::RootedObjectVector* scopes = nullptr) const;

  struct Node;

 private:
  explicit FastExpr(std::unique_ptr<Node> root);
  std::unique_ptr<Node> root_;
};

}  // namespace ors::dm::ecma
