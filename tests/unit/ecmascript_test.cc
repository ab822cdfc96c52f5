// Unit tests of the ECMAScript datamodel (src/datamodel/ecmascript).
#include "datamodel/ecmascript/ecmascript.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/json.hpp>

namespace ors::dm {
namespace {

using scxml::Document;
using scxml::Expr;
using scxml::Value;

class TestHost : public Host {
 public:
  std::set<std::string> active;
  mutable std::vector<std::string> asked;
  scxml::Value ixns;  // _genesys.ixn.interactions
  std::string url;
  bool isInState(std::string_view id) const override {
    asked.emplace_back(id);
    return active.count(std::string(id)) > 0;
  }
  scxml::Value interactions() const override { return ixns; }
  std::string documentUrl() const override { return url; }
};

// A document built by hand: only uid, exprCount and (optionally) one transition whose cond
// mentions _event, so that the datamodel knows the document observes _event.
class TestDoc {
 public:
  explicit TestDoc(bool observesEvent = true) {
    static uint64_t nextUid = 1000;
    doc_.uid = nextUid++;
    doc_.url = "test.scxml";
    doc_.exprCount = 4096;
    if (observesEvent) {
      scxml::Transition t;
      t.cond = expr("_event.name == 'x'");
      doc_.transitions.push_back(std::move(t));
    }
  }
  // The same text always gets the same id.
  Expr expr(const std::string& text, uint32_t line = 1) {
    auto it = ids_.find(text);
    uint32_t id;
    if (it != ids_.end()) {
      id = it->second;
    } else {
      id = next_++;
      ids_[text] = id;
    }
    Expr e;
    e.text = text;
    e.id = id;
    e.loc.line = line;
    e.loc.col = 1;
    return e;
  }
  const Document& doc() const { return doc_; }

 private:
  Document doc_;
  std::unordered_map<std::string, uint32_t> ids_;
  uint32_t next_ = 0;
};

class EcmaTest : public ::testing::Test {
 protected:
  void SetUp() override { makeEngine({}); }
  void TearDown() override {
    sessions_.clear();
    engine_.reset();
  }
  void makeEngine(const EcmaOptions& o) {
    sessions_.clear();
    engine_.reset();  // one engine per thread at a time
    engine_ = makeEcmaScriptEngine(o);
    ASSERT_NE(engine_, nullptr);
  }
  DataModel& session(TestDoc& d, TestHost* host = nullptr) {
    sessions_.push_back(engine_->create(d.doc(), host ? *host : host_));
    auto& dm = *sessions_.back();
    dm.setSystemVariables("sid-" + std::to_string(sessions_.size()), "test", ioprocessors_);
    return dm;
  }
  // Helpers on a session.
  Value val(DataModel& dm, const std::string& text) {
    auto r = dm.evalValue(doc_.expr(text));
    EXPECT_TRUE(r.isOk()) << text << ": " << r.status().message();
    return r.isOk() ? *r : Value();
  }
  std::string str(DataModel& dm, const std::string& text) {
    auto r = dm.evalString(doc_.expr(text));
    EXPECT_TRUE(r.isOk()) << text << ": " << r.status().message();
    return r.isOk() ? *r : std::string("<error>");
  }
  bool cond(DataModel& dm, const std::string& text) {
    auto r = dm.evalCond(doc_.expr(text));
    EXPECT_TRUE(r.isOk()) << text << ": " << r.status().message();
    return r.isOk() && *r;
  }
  Status script(DataModel& dm, const std::string& text) { return dm.execScript(doc_.expr(text)); }
  Status assign(DataModel& dm, const std::string& loc, const std::string& e) {
    return dm.assign(doc_.expr(loc), doc_.expr(e));
  }

  TestDoc doc_;
  TestHost host_;
  // Outlives every session (DataModel::setSystemVariables's contract).
  const Value ioprocessors_ = boost::json::parse(R"({"scxml":{"location":"#_scxml_x"}})");
  std::unique_ptr<Engine> engine_;
  std::vector<std::unique_ptr<DataModel>> sessions_;
};

TEST_F(EcmaTest, EvaluatesConditionsValuesAndStrings) {
  auto& dm = session(doc_);
  EXPECT_TRUE(cond(dm, "1 < 2"));
  EXPECT_FALSE(cond(dm, "''"));
  EXPECT_TRUE(cond(dm, "[]"));
  EXPECT_EQ(val(dm, "1 + 1"), Value(2));
  EXPECT_EQ(val(dm, "2.5"), Value(2.5));
  EXPECT_EQ(val(dm, "'h\\u00e9llo'"), Value("h\xc3\xa9llo"));
  EXPECT_EQ(val(dm, "({a: 1, b: [1, 2.5, 'x', null], c: {d: true}})"),
            boost::json::parse(R"({"a":1,"b":[1,2.5,"x",null],"c":{"d":true}})"));
  EXPECT_EQ(val(dm, "({f: function () {}, u: undefined, s: Symbol('q')})"),
            boost::json::parse(R"({"f":null,"u":null,"s":null})"));
  EXPECT_EQ(val(dm, "undefined"), Value(nullptr));
  EXPECT_EQ(val(dm, "function () {}"), Value(nullptr));
  EXPECT_EQ(val(dm, "2 ** 60"), Value(int64_t{1} << 60));
  EXPECT_EQ(val(dm, "NaN"), Value(nullptr));
  EXPECT_EQ(val(dm, "new Date(0)"), Value("1970-01-01T00:00:00.000Z"));
  EXPECT_EQ(val(dm, "x = 1 // a comment at the end"), Value(1));

  EXPECT_EQ(str(dm, "'abc'"), "abc");
  EXPECT_EQ(str(dm, "undefined"), "undefined");
  EXPECT_EQ(str(dm, "null"), "null");
  EXPECT_EQ(str(dm, "42"), "42");
  EXPECT_EQ(str(dm, "1.5"), "1.5");
  EXPECT_EQ(str(dm, "true"), "true");
  EXPECT_EQ(str(dm, "({a: 1, b: 'x'})"), R"({"a":1,"b":"x"})");
  EXPECT_EQ(str(dm, "[1, 'two']"), R"([1,"two"])");
  EXPECT_EQ(str(dm, "'\\ud83d\\ude00'"), "\xF0\x9F\x98\x80");

  EXPECT_EQ(str(dm, "_sessionid"), "sid-1");
  EXPECT_EQ(str(dm, "_name"), "test");
  EXPECT_EQ(str(dm, "_ioprocessors.scxml.location"), "#_scxml_x");
  EXPECT_TRUE(cond(dm, "this !== globalThis"));
}

TEST_F(EcmaTest, ErrorsBecomeStatusesAndLeaveNothingPending) {
  auto& dm = session(doc_);
  auto r = dm.evalValue(doc_.expr("1 +", 7));
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("SyntaxError"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("test.scxml:"), std::string::npos) << r.status().message();
  // The compile error is cached and reported again.
  auto r2 = dm.evalValue(doc_.expr("1 +", 7));
  ASSERT_FALSE(r2.isOk());
  EXPECT_EQ(r.status().message(), r2.status().message());

  auto t = dm.evalCond(doc_.expr("(function () { throw new Error('boom') })()"));
  ASSERT_FALSE(t.isOk());
  EXPECT_NE(t.status().message().find("boom"), std::string::npos) << t.status().message();
  auto t2 = dm.execScript(doc_.expr("throw 'plain'"));
  ASSERT_FALSE(t2.isOk());
  EXPECT_NE(t2.message().find("plain"), std::string::npos) << t2.message();
  auto t3 = dm.evalString(doc_.expr("undefinedName"));
  ASSERT_FALSE(t3.isOk());
  EXPECT_NE(t3.status().message().find("undefinedName"), std::string::npos);
  EXPECT_FALSE(dm.execScript(doc_.expr("}{")).isOk());
  EXPECT_FALSE(dm.evalValue(doc_.expr("")).isOk());
  Expr absent;
  EXPECT_FALSE(dm.evalValue(absent).isOk());

  // Cyclic values cannot be converted.
  auto c = dm.evalValue(doc_.expr("(function () { var o = {}; o.o = o; return o })()"));
  EXPECT_FALSE(c.isOk());
  EXPECT_EQ(str(dm, "(function () { var o = {}; o.o = o; return o })()"), "[object Object]");
  EXPECT_EQ(val(dm, "1 + 1"), Value(2));
}

TEST_F(EcmaTest, StackOverflowIsAnError) {
  auto& dm = session(doc_);
  Status st = script(dm, "function f() { return f() + 1; } f();");
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("recursion"), std::string::npos) << st.message();
  EXPECT_EQ(val(dm, "1 + 1"), Value(2));
}

TEST_F(EcmaTest, DataInitialisation) {
  auto& dm = session(doc_);
  scxml::Data a;
  a.id = "a";
  a.expr = doc_.expr("[1, 2, 3]");
  EXPECT_TRUE(dm.initData(a).isOk());
  EXPECT_EQ(val(dm, "a"), boost::json::parse("[1,2,3]"));

  scxml::Data b;
  b.id = "b";
  b.content.present = true;
  b.content.body = "\n  { \"x\": [true, 2], \"y\": \"z\" }\n";
  EXPECT_TRUE(dm.initData(b).isOk());
  EXPECT_EQ(val(dm, "b"), boost::json::parse(R"({"x":[true,2],"y":"z"})"));

  scxml::Data c;
  c.id = "c";
  c.content.present = true;
  c.content.body = "\nthis  is \na string \n";
  EXPECT_TRUE(dm.initData(c).isOk());
  EXPECT_EQ(val(dm, "c"), Value("this is a string"));

  scxml::Data x;
  x.id = "x";
  x.content.present = true;
  x.content.body = "<root><a>1</a></root>";
  EXPECT_TRUE(dm.initData(x).isOk());
  EXPECT_EQ(val(dm, "x"), boost::json::parse(R"({"$xml":"<root><a>1</a></root>"})"));  // a DOM
  EXPECT_EQ(str(dm, "x.getElementsByTagName('a')[0].textContent"), "1");

  scxml::Data d;
  d.id = "d";
  d.expr = doc_.expr("nonexistent.property");
  EXPECT_FALSE(dm.initData(d).isOk());
  EXPECT_TRUE(cond(dm, "d === undefined"));

  scxml::Data e;
  e.id = "e";
  dm.declareData(e);
  EXPECT_TRUE(cond(dm, "e === undefined && 'e' in this"));
  EXPECT_TRUE(assign(dm, "e", "5").isOk());
  EXPECT_EQ(val(dm, "e"), Value(5));
  dm.declareData(e);  // declaring again keeps the value
  EXPECT_EQ(val(dm, "e"), Value(5));
  e.expr = doc_.expr("e * 2");
  EXPECT_TRUE(dm.initData(e).isOk());  // late binding: init after declare
  EXPECT_EQ(val(dm, "e"), Value(10));

  scxml::Data n;
  n.id = "n";
  EXPECT_TRUE(dm.initData(n).isOk());
  EXPECT_TRUE(cond(dm, "n === undefined"));
}

TEST_F(EcmaTest, Assign) {
  auto& dm = session(doc_);
  ASSERT_TRUE(script(dm, "var a = 1; var o = {p: {q: 1}};").isOk());
  EXPECT_TRUE(assign(dm, "a", "a + 41").isOk());
  EXPECT_EQ(val(dm, "a"), Value(42));
  EXPECT_TRUE(assign(dm, "o.p.q", "'deep'").isOk());
  EXPECT_TRUE(assign(dm, "o['r']", "[1]").isOk());
  EXPECT_EQ(val(dm, "o"), boost::json::parse(R"({"p":{"q":"deep"},"r":[1]})"));

  Status u = assign(dm, "undeclared", "1");
  ASSERT_FALSE(u.isOk());
  EXPECT_NE(u.message().find("undeclared"), std::string::npos) << u.message();
  EXPECT_TRUE(cond(dm, "typeof undeclared === 'undefined'"));

  EXPECT_FALSE(assign(dm, "_sessionid", "'hacked'").isOk());
  EXPECT_EQ(str(dm, "_sessionid"), "sid-1");
  EXPECT_FALSE(assign(dm, "_name", "'hacked'").isOk());
  EXPECT_FALSE(assign(dm, "_ioprocessors", "1").isOk());
  EXPECT_FALSE(assign(dm, "_ioprocessors.scxml", "1").isOk());
  EXPECT_FALSE(assign(dm, "In", "1").isOk());
  EXPECT_FALSE(assign(dm, "Math.PI", "3").isOk());
  EXPECT_FALSE(assign(dm, "'literal'", "1").isOk());
  EXPECT_FALSE(assign(dm, "1 +", "1").isOk());
  EXPECT_FALSE(assign(dm, "a, a", "1").isOk());
  EXPECT_FALSE(assign(dm, "nothere.x", "1").isOk());
  EXPECT_FALSE(assign(dm, "a", "nothere").isOk());
  EXPECT_EQ(val(dm, "a"), Value(42));

  EXPECT_TRUE(dm.assignValue(doc_.expr("a"), boost::json::parse(R"({"k":[1,"x",null]})")).isOk());
  EXPECT_EQ(val(dm, "a"), boost::json::parse(R"({"k":[1,"x",null]})"));
  EXPECT_FALSE(dm.assignValue(doc_.expr("zz"), Value(1)).isOk());
  EXPECT_FALSE(dm.assignValue(doc_.expr("_name"), Value(1)).isOk());
}

// The native fast path (ecmascript_fast.h) must be indistinguishable from running the script:
// whenever it cannot be exact it falls back before any observable effect.
TEST_F(EcmaTest, FastPathKeepsJavaScriptSemantics) {
  auto& dm = session(doc_);
  ASSERT_TRUE(script(dm, "var a = 'x', b = 'y', n = 1, calls = 0, hits = 0, log = [];"
                         "var o = { get v() { calls++; return 1; } };"
                         "var p = new Proxy({}, { get() { hits++; return 5; },"
                         "  getOwnPropertyDescriptor() { hits++; return undefined; } });"
                         "var w = { valueOf() { return 4; } };"
                         "var frozen = Object.freeze({ a: 1 });"
                         "var o2 = Object.create({ set z(v) { log.push(v); } });"
                         "let k = 3; const c = 1;")
                  .isOk());
  EXPECT_EQ(val(dm, "a + b"), Value("xy"));          // strings: not numeric, JS concatenates
  EXPECT_EQ(val(dm, "o.v + 1"), Value(2));           // a getter runs once, in JavaScript
  EXPECT_EQ(val(dm, "calls"), Value(1));
  EXPECT_EQ(val(dm, "p.x"), Value(5));               // proxies are never inspected natively
  EXPECT_EQ(val(dm, "hits"), Value(1));
  EXPECT_TRUE(cond(dm, "w == 4"));                   // == on an object calls valueOf
  EXPECT_TRUE(cond(dm, "k === 3"));                  // let bindings are not on the environment
  EXPECT_TRUE(cond(dm, "Math.PI > 3"));              // globals come from JavaScript
  EXPECT_EQ(val(dm, "'abc'.length"), Value(3));
  EXPECT_FALSE(cond(dm, "0 / 0 === 0 / 0"));
  EXPECT_TRUE(cond(dm, "-0 === 0"));
  EXPECT_TRUE(cond(dm, "1 / 0 > 1 && !(n < 0) || nosuch"));
  EXPECT_EQ(val(dm, "n && 'yes'"), Value("yes"));
  EXPECT_EQ(val(dm, "-7 % 3"), Value(-1));
  EXPECT_FALSE(dm.evalValue(doc_.expr("nosuch + 1")).isOk());  // ReferenceError, from JavaScript
  EXPECT_TRUE(assign(dm, "n", "n + 1").isOk());
  EXPECT_EQ(val(dm, "n"), Value(2));
  EXPECT_FALSE(assign(dm, "c", "2").isOk());         // const
  EXPECT_FALSE(assign(dm, "frozen.a", "2").isOk());  // read-only property, strict assignment
  EXPECT_EQ(val(dm, "frozen.a"), Value(1));
  EXPECT_TRUE(assign(dm, "o2.z", "7").isOk());       // an inherited setter runs
  EXPECT_EQ(val(dm, "log.length"), Value(1));
  EXPECT_FALSE(assign(dm, "undeclared", "1").isOk());
  // Literals built natively are ordinary objects and arrays.
  EXPECT_EQ(val(dm, "({x: n, 'y': [1, 'two', n > 1], z: {}})"),
            boost::json::parse(R"({"x":2,"y":[1,"two",true],"z":{}})"));
  EXPECT_TRUE(cond(dm, "Array.isArray([n]) && Object.getPrototypeOf({a: 1}) === Object.prototype"));
  EXPECT_TRUE(cond(dm, "Object.getPrototypeOf({__proto__: null}) === null"));  // left to JS
  EXPECT_EQ(val(dm, "({a: 1, a: 2}).a"), Value(2));
}

// _event is built lazily; reads before and after it is built, and mutations of its data, agree.
TEST_F(EcmaTest, LazyEventReadsAgreeWithTheBuiltObject) {
  auto& dm = session(doc_);
  scxml::Event ev;
  ev.name = "work";
  ev.data = boost::json::parse(R"({"n": 7, "s": "x", "o": {"k": true}, "arr": [1]})");
  dm.setEvent(ev);
  EXPECT_EQ(val(dm, "_event.data.n + 1"), Value(8));        // from the host event
  EXPECT_EQ(val(dm, "_event.data.o.k"), Value(true));
  EXPECT_EQ(val(dm, "_event.data.s.length"), Value(1));     // string property: JavaScript
  EXPECT_TRUE(cond(dm, "_event.data.o === _event.data.o"));  // objects: the one JS object
  EXPECT_TRUE(script(dm, "_event.data.n = 5; _event.data.o.k = false;").isOk());
  EXPECT_EQ(val(dm, "_event.data.n"), Value(5));            // the built object is authoritative
  EXPECT_EQ(val(dm, "_event.data.o.k"), Value(false));
  EXPECT_TRUE(assign(dm, "_event.data.n", "6").isOk());     // data is not frozen, _event is
  EXPECT_EQ(val(dm, "_event.data.n"), Value(6));
  EXPECT_TRUE(cond(dm, "_event.data.missing === undefined && typeof _event.data.toString === 'function'"));
  scxml::Event next;
  next.name = "next";
  dm.setEvent(next);
  EXPECT_EQ(str(dm, "_event.name"), "next");
  EXPECT_TRUE(cond(dm, "_event.data === undefined"));
  EXPECT_FALSE(dm.evalValue(doc_.expr("_event.data.n")).isOk());  // TypeError, from JavaScript
}

TEST_F(EcmaTest, ScriptDeclarationsAreVisibleLater) {
  auto& dm = session(doc_);
  ASSERT_TRUE(script(dm, "var v = 1; function f(x) { return x * 2; } let l = 3; const k = 4;"
                         "class C { m() { return 5; } }")
                  .isOk());
  EXPECT_EQ(val(dm, "v + f(l) + k + new C().m()"), Value(1 + 6 + 4 + 5));
  EXPECT_TRUE(assign(dm, "l", "10").isOk());
  EXPECT_EQ(val(dm, "l"), Value(10));
  EXPECT_FALSE(assign(dm, "k", "10").isOk());  // const
  ASSERT_TRUE(
      script(dm, "implicit = 7; eval('var viaEval = 8; function g() { return 9 }');").isOk());
  EXPECT_EQ(val(dm, "implicit + viaEval + g()"), Value(24));
  EXPECT_TRUE(cond(dm, "this.v === 1 && this.implicit === 7 && this.viaEval === 8"));
}

TEST_F(EcmaTest, SessionsAreIsolated) {
  auto& a = session(doc_);
  auto& b = session(doc_);
  ASSERT_TRUE(script(a, "var x = 1; y = 5; let l = 2; function fa() {}; this.t = 1;"
                        "eval('var ev = 1');"
                        "globalThis.z = 1;"
                        "try { Object.defineProperty(globalThis, 'z2', {value: 1}) } catch (e) {}")
                  .isOk());
  EXPECT_TRUE(cond(a, "x === 1 && y === 5 && l === 2 && ev === 1"));
  EXPECT_TRUE(cond(b, "typeof x === 'undefined' && typeof y === 'undefined'"));
  EXPECT_TRUE(cond(b, "typeof l === 'undefined' && typeof fa === 'undefined'"));
  EXPECT_TRUE(cond(b, "typeof t === 'undefined' && typeof ev === 'undefined'"));
  EXPECT_TRUE(cond(b, "typeof z === 'undefined' && typeof z2 === 'undefined'"));
  EXPECT_TRUE(cond(a, "typeof z === 'undefined'"));

  // Patching built-ins is refused (silently in sloppy code, TypeError in strict code).
  ASSERT_TRUE(script(a, "Array.prototype.push = function () { return 'patched' };"
                        "Object.prototype.foo = 1; Math.max = null; JSON.parse = null;"
                        "delete Array.prototype.map; String.prototype.bar = 2;")
                  .isOk());
  EXPECT_FALSE(script(a, "'use strict'; Array.prototype.push = null;").isOk());
  for (DataModel* dm : {&a, &b}) {
    EXPECT_EQ(val(*dm, "[].push(1)"), Value(1));
    EXPECT_TRUE(cond(*dm, "({}).foo === undefined && ''.bar === undefined"));
    EXPECT_TRUE(cond(*dm, "typeof Math.max === 'function' && typeof [].map === 'function'"));
    EXPECT_TRUE(cond(*dm, "Object.isFrozen(globalThis) && Object.isFrozen(Array.prototype)"));
    EXPECT_TRUE(cond(*dm, "Object.isFrozen(Object.getPrototypeOf(function* () {}))"));
    EXPECT_TRUE(cond(*dm, "Object.isFrozen(Object.getPrototypeOf([][Symbol.iterator]()))"));
  }
  // Sessions of the same document share compiled code but not state.
  ASSERT_TRUE(script(a, "var shared = 'a';").isOk());
  ASSERT_TRUE(script(b, "var shared = 'b';").isOk());
  EXPECT_EQ(str(a, "shared"), "a");
  EXPECT_EQ(str(b, "shared"), "b");
}

TEST_F(EcmaTest, OverrideMistakeIsFixed) {
  auto& dm = session(doc_);
  EXPECT_TRUE(cond(dm, "(function () { function Foo() {}; Foo.prototype.toString = "
                       "function () { return 'foo' }; return String(new Foo()) === 'foo' })()"));
  EXPECT_TRUE(cond(dm, "(function () { 'use strict'; var o = {}; o.constructor = 1; "
                       "o.valueOf = function () { return 41 }; o.hasOwnProperty = 3;"
                       "return o.constructor === 1 && o + 1 === 42 &&"
                       "       o.hasOwnProperty === 3 })()"));
  EXPECT_TRUE(cond(dm, "(function () { var e = new Error('x'); e.message = 'y'; e.name = 'Z';"
                       "return String(e) === 'Z: y' })()"));
  EXPECT_TRUE(cond(dm, "(function () { function F() {};"
                       "F.prototype = Object.create(Error.prototype);"
                       "F.prototype.name = 'F'; return new F().name === 'F' })()"));
  EXPECT_TRUE(cond(dm, "(function () { var f = function () {}; f.toString = function () { "
                       "return 'fn' }; return String(f) === 'fn' })()"));
  // The prototypes themselves still refuse the change.
  EXPECT_FALSE(script(dm, "Object.prototype.toString = null;").isOk());
  EXPECT_FALSE(script(dm, "Error.prototype.message = 'x';").isOk());
  EXPECT_EQ(str(dm, "Object.prototype.toString.call([])"), "[object Array]");
  EXPECT_EQ(str(dm, "({}).toString()"), "[object Object]");
  EXPECT_EQ(str(dm, "new Error('m').message"), "m");
  EXPECT_EQ(str(dm, "[].constructor === Array"), "true");
}

TEST_F(EcmaTest, RegExpStaticsDoNotLeak) {
  auto& a = session(doc_);
  auto& b = session(doc_);
  ASSERT_TRUE(script(a, "/(se)cret/.exec('my secret');").isOk());
  EXPECT_EQ(str(a, "RegExp.$1"), "se");  // the same session still sees its own match
  EXPECT_EQ(str(b, "RegExp.$1"), "");
  EXPECT_EQ(str(b, "RegExp.lastMatch + RegExp.input + RegExp.leftContext"), "");
  ASSERT_TRUE(script(b, "RegExp.input = 'planted';").isOk());
  EXPECT_EQ(str(a, "RegExp.input"), "");
}

TEST_F(EcmaTest, InCallsTheHost) {
  TestHost host;
  host.active = {"s1"};
  auto& dm = session(doc_, &host);
  EXPECT_TRUE(cond(dm, "In('s1')"));
  EXPECT_FALSE(cond(dm, "In('s2')"));
  EXPECT_EQ(host.asked, (std::vector<std::string>{"s1", "s2"}));
  auto& other = session(doc_);  // default host: nothing active
  EXPECT_FALSE(cond(other, "In('s1')"));
  EXPECT_TRUE(cond(dm, "In('s1')"));
}

TEST_F(EcmaTest, EventFields) {
  auto& dm = session(doc_);
  EXPECT_FALSE(cond(dm, "_event"));  // bound to undefined before the first event
  EXPECT_FALSE(assign(dm, "_event", "1").isOk());
  scxml::Event ev;
  ev.name = "foo.bar";
  ev.type = scxml::Event::Type::kExternal;
  ev.sendid = "s1";
  ev.origin = "#_scxml_a";
  ev.origintype = scxml::kScxmlProcessorType;
  ev.data = boost::json::parse(R"({"a":1,"b":["x"]})");
  dm.setEvent(ev);
  EXPECT_EQ(str(dm, "_event.name"), "foo.bar");
  EXPECT_EQ(str(dm, "_event.type"), "external");
  EXPECT_EQ(str(dm, "_event.sendid"), "s1");
  EXPECT_EQ(str(dm, "_event.origin"), "#_scxml_a");
  EXPECT_EQ(str(dm, "_event.origintype"), scxml::kScxmlProcessorType);
  EXPECT_TRUE(cond(dm, "_event.invokeid === undefined && 'invokeid' in _event"));
  EXPECT_EQ(val(dm, "_event.data"), boost::json::parse(R"({"a":1,"b":["x"]})"));
  EXPECT_FALSE(assign(dm, "_event", "1").isOk());
  EXPECT_FALSE(assign(dm, "_event.name", "'x'").isOk());
  EXPECT_TRUE(script(dm, "_event = 1; _event.name = 'changed';").isOk());
  EXPECT_EQ(str(dm, "_event.name"), "foo.bar");

  scxml::Event internal;
  internal.name = "done";
  internal.type = scxml::Event::Type::kInternal;
  dm.setEvent(internal);
  EXPECT_EQ(str(dm, "_event.name + ' ' + _event.type"), "done internal");
  EXPECT_TRUE(cond(dm, "_event.sendid === undefined && _event.origin === undefined && "
                       "_event.data === undefined"));

  // A document whose expressions never mention _event does not pay for it.
  TestDoc quiet(false);
  auto& q = session(quiet);
  q.setEvent(ev);
  auto r = q.evalCond(quiet.expr("typeof _event === 'undefined'"));
  ASSERT_TRUE(r.isOk());
  EXPECT_TRUE(*r);
}

TEST_F(EcmaTest, ForEach) {
  auto& dm = session(doc_);
  ASSERT_TRUE(script(dm, "var arr = [10, 20, 30]; var sum = 0; var seen = [];").isOk());
  int calls = 0;
  Status st = dm.forEach(doc_.expr("arr"), doc_.expr("item"), doc_.expr("idx"), [&] {
    ++calls;
    return script(dm, "sum += item; seen.push(idx); arr.push(99);");
  });
  ASSERT_TRUE(st.isOk()) << st.message();
  EXPECT_EQ(calls, 3);  // a shallow copy: the pushes do not extend the iteration
  EXPECT_EQ(val(dm, "sum"), Value(60));
  EXPECT_EQ(val(dm, "seen"), boost::json::parse("[0,1,2]"));
  EXPECT_EQ(val(dm, "item"), Value(30));  // declared by foreach

  // Iterables, existing let bindings, no index.
  ASSERT_TRUE(script(dm, "let acc = ''; let it;").isOk());
  st = dm.forEach(doc_.expr("new Set(['a', 'b'])"), doc_.expr("it"), Expr(),
                  [&] { return script(dm, "acc += it;"); });
  ASSERT_TRUE(st.isOk()) << st.message();
  EXPECT_EQ(str(dm, "acc"), "ab");

  // Not iterable, illegal names.
  calls = 0;
  auto count = [&] {
    ++calls;
    return Status::ok();
  };
  EXPECT_FALSE(dm.forEach(doc_.expr("7"), doc_.expr("item"), doc_.expr("idx"), count).isOk());
  EXPECT_FALSE(dm.forEach(doc_.expr("null"), doc_.expr("item"), Expr(), count).isOk());
  EXPECT_FALSE(dm.forEach(doc_.expr("'abc'"), doc_.expr("item"), Expr(), count).isOk());
  EXPECT_FALSE(dm.forEach(doc_.expr("({a: 1})"), doc_.expr("item"), Expr(), count).isOk());
  EXPECT_FALSE(dm.forEach(doc_.expr("nothere"), doc_.expr("item"), Expr(), count).isOk());
  EXPECT_FALSE(dm.forEach(doc_.expr("[1, 2]"), doc_.expr("'continue'"), Expr(), count).isOk());
  EXPECT_FALSE(dm.forEach(doc_.expr("[1, 2]"), doc_.expr("continue"), Expr(), count).isOk());
  EXPECT_FALSE(dm.forEach(doc_.expr("[1, 2]"), doc_.expr("a.b"), Expr(), count).isOk());
  EXPECT_FALSE(dm.forEach(doc_.expr("[1, 2]"), doc_.expr("item"), doc_.expr("1x"), count).isOk());
  EXPECT_FALSE(dm.forEach(doc_.expr("[1, 2]"), doc_.expr("_sessionid"), Expr(), count).isOk());
  EXPECT_EQ(calls, 0);

  // The body's first error stops the loop and is returned.
  st = dm.forEach(doc_.expr("[1, 2, 3]"), doc_.expr("item"), Expr(), [&] {
    ++calls;
    return Status::error("body failed");
  });
  EXPECT_EQ(st.message(), "body failed");
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(dm.forEach(doc_.expr("[]"), doc_.expr("item"), Expr(), count).isOk());
}

TEST_F(EcmaTest, RunawayScriptIsInterrupted) {
  EcmaOptions o;
  o.scriptBudget = std::chrono::milliseconds(50);
  makeEngine(o);
  auto& dm = session(doc_);
  auto& other = session(doc_);
  ASSERT_TRUE(script(other, "var kept = 'still here';").isOk());
  auto t0 = std::chrono::steady_clock::now();
  Status st = script(dm, "var before = 1; while (true) {}");
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - t0).count();
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("time budget"), std::string::npos) << st.message();
  EXPECT_LT(ms, 2000);
  // try/catch/finally cannot swallow the termination.
  EXPECT_FALSE(script(dm, "try { for (;;) {} } catch (e) {} finally { }").isOk());
  EXPECT_FALSE(dm.evalCond(doc_.expr("(function () { for (;;) {} })()")).isOk());
  EXPECT_EQ(val(dm, "1 + 1"), Value(2));
  EXPECT_EQ(val(dm, "before"), Value(1));
  EXPECT_EQ(str(other, "kept"), "still here");
  // A runaway Promise job (run after the script) is stopped as well; the script itself
  // completed, and the engine stays usable.
  t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(script(dm, "Promise.resolve().then(function () { for (;;) {} });").isOk());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  EXPECT_EQ(val(dm, "2 + 2"), Value(4));
  // Short scripts under the budget are unaffected.
  for (int i = 0; i < 20; ++i) EXPECT_EQ(val(dm, "1 + 1"), Value(2));
}

TEST_F(EcmaTest, PromiseJobsRun) {
  auto& dm = session(doc_);
  ASSERT_TRUE(script(dm, "var r = 0; Promise.resolve(5).then(function (v) { r = v; });"
                         "(async function () { await null; r += 1; })();")
                  .isOk());
  EXPECT_EQ(val(dm, "r"), Value(6));
}

TEST_F(EcmaTest, SpecialDaysComeFromTheConfiguredTables) {
  EcmaOptions o;
  o.vendor = {{"specialDays",
               {{"Holidays", {{"2026-12-25", ""}, {"01-01", ""}, {"Sunday", "00:00-00:00"}}},
                {"Open", {{"Monday", "00:00-24:00"}}}}}};
  makeEngine(o);
  auto& dm = session(doc_);
  EXPECT_TRUE(cond(dm, "_genesys.session.isSpecialDay('Holidays', '2026-12-25')"));
  EXPECT_TRUE(cond(dm, "_genesys.session.isSpecialDay('Holidays', '2031-01-01')"));  // every year
  EXPECT_TRUE(cond(dm, "_genesys.session.isSpecialDay('Holidays', new Date(Date.UTC(2026, 11, 25)))"));
  EXPECT_FALSE(cond(dm, "_genesys.session.isSpecialDay('Holidays', '2026-12-24')"));
  // A weekday with a time range: the day counts; with useTime, only inside the range.
  EXPECT_TRUE(cond(dm, "_genesys.session.isSpecialDay('Holidays', '2026-11-29')"));  // a Sunday
  EXPECT_FALSE(cond(dm, "_genesys.session.isSpecialDay('Holidays', '2026-11-29', 'UTC', true)"));
  EXPECT_TRUE(cond(dm, "_genesys.session.isSpecialDay('Open', '2026-11-30', 'UTC', true)"));  // a Monday
  // Today, in a zone.
  EXPECT_EQ(val(dm, "_genesys.session.isSpecialDay('Open', undefined, 'EST')"),
            val(dm, "_genesys.session.dayInZone('EST') === 1"));
  EXPECT_FALSE(dm.evalCond(doc_.expr("_genesys.session.isSpecialDay('Nope')")).isOk());
  EXPECT_FALSE(dm.evalCond(doc_.expr("_genesys.session.isSpecialDay('Holidays', '25/12/2026')")).isOk());
}

TEST_F(EcmaTest, ConfigOptionsComeFromTheAnnexesInLookupOrder) {
  EcmaOptions o;
  o.vendor = {{"annexes",
               {{"strategy", {{"flows/main.scxml", {{"routing/priority", "9"}}}}},
                {"dn", {{"7000", {{"routing/priority", "7"}, {"routing/vq", "VQ_dn"}}}}},
                {"tenant", {{"routing/priority", "1"}, {"other/vq", "VQ_tenant"}}},
                {"router", {{"routing/target", "Sales"}}}}}};
  makeEngine(o);
  host_.url = "file:///srv/flows/main.scxml";
  host_.ixns = boost::json::object{
      {"I1", {{"parties", boost::json::array{{{"device", "7000"}, {"devicetype", "routepoint"}}}}}},
      {"I2", {{"voice", {{"dnis", "8000"}}}}},
      {"123", {{"voice", {{"dnis", "8000"}}}}}};  // (an integer-like id comes first in a JS object)
  auto& dm = session(doc_);
  auto opt = [&](const std::string& args) { return str(dm, "_genesys.session.getConfigOption(" + args + ")"); };
  EXPECT_EQ(opt("'I1', 'routing/priority'"), "9");  // the strategy's annex first
  EXPECT_EQ(opt("'I1', 'routing/priority', _genesys.session.lookupseq.StartFromCDN"), "7");
  EXPECT_EQ(opt("'I2', 'routing/priority', _genesys.session.lookupseq.StartFromCDN"), "1");  // 8000 has none
  EXPECT_EQ(opt("'I1', 'routing/priority', _genesys.session.lookupseq.StartFromTserver"), "1");
  EXPECT_EQ(opt("undefined, 'routing/vq', _genesys.session.lookupseq.StartFromCDN"), "VQ_dn");  // first interaction
  EXPECT_EQ(opt("'I1', 'vq', _genesys.session.lookupseq.StartFromTenant"), "VQ_tenant");  // any section
  EXPECT_EQ(opt("'I1', 'routing/target'"), "Sales");  // the router last
  EXPECT_EQ(opt("'I1', 'routing/nothing'"), "");
  EXPECT_EQ(str(dm, "_genesys.ixn.firstixnid"), "I1");
  EXPECT_FALSE(dm.evalCond(doc_.expr("_genesys.session.getConfigOption('I1', 'x', 42) == ''")).isOk());
  EXPECT_FALSE(dm.evalCond(doc_.expr("_genesys.session.getConfigOption('I1') == ''")).isOk());
  host_.url = "file:///srv/other.scxml";
  EXPECT_EQ(opt("'I1', 'routing/priority'"), "7");  // not that strategy
}

TEST_F(EcmaTest, OutOfMemoryIsAnError) {
  EcmaOptions o;
  o.heapLimitBytes = 64u << 20;
  o.scriptBudget = std::chrono::milliseconds(20000);  // memory, not time, must stop these
  makeEngine(o);
  auto& dm = session(doc_);
  auto& other = session(doc_);
  ASSERT_TRUE(script(other, "var kept = [1, 2, 3];").isOk());
  // GC heap exhaustion (many small objects).
  auto t0 = std::chrono::steady_clock::now();
  Status st = script(dm, "(function () { var a = []; while (true) a.push({x: a.length}); })()");
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("memory"), std::string::npos) << st.message();
  // Malloc'd buffers (array elements), which JSGC_MAX_BYTES does not bound.
  st = script(dm, "(function () { var a = []; while (true) a.push(new Array(1000).fill(1)); })()");
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("memory"), std::string::npos) << st.message();
  // String growth: SpiderMonkey's own length limit or OOM.
  st = script(dm, "(function () { var s = 'x'; while (true) s += s; })()");
  EXPECT_FALSE(st.isOk());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(15));
  // Lots of garbage is not an error.
  EXPECT_TRUE(script(dm, "for (var i = 0; i < 2000; i++) new Array(10000).fill(i);").isOk());
  EXPECT_EQ(val(dm, "1 + 1"), Value(2));
  EXPECT_EQ(val(other, "kept"), boost::json::parse("[1,2,3]"));
}

TEST_F(EcmaTest, ManySessionsComeAndGo) {
  auto& keep = session(doc_);
  ASSERT_TRUE(script(keep, "var k = 1").isOk());
  size_t before = ecmaGcHeapBytes(*engine_);
  const Value emptyIo = boost::json::object();
  for (int round = 0; round < 5; ++round) {
    std::vector<std::unique_ptr<DataModel>> batch;
    for (int i = 0; i < 200; ++i) {
      batch.push_back(engine_->create(doc_.doc(), host_));
      auto& dm = *batch.back();
      dm.setSystemVariables("s" + std::to_string(i), "n", emptyIo);
      ASSERT_TRUE(dm.execScript(doc_.expr("var big = new Array(100).fill(0); let q = 1;")).isOk());
      scxml::Event ev;
      ev.name = "e";
      ev.data = boost::json::parse(R"({"p":[1,2,3]})");
      dm.setEvent(ev);
    }
  }
  size_t after = ecmaGcHeapBytes(*engine_);
  EXPECT_LT(after, before + (256u << 10)) << before << " -> " << after;
  EXPECT_EQ(val(keep, "k"), Value(1));
}

TEST_F(EcmaTest, MeasureSessionFootprint) {
  constexpr int kN = 20000;
  auto rssKiB = [] {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line)) {
      if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    }
    return 0L;
  };
  // Warm up the document cache and the shapes.
  { auto warm = engine_->create(doc_.doc(), host_); }
  size_t heap0 = ecmaGcHeapBytes(*engine_);
  long rss0 = rssKiB();
  std::vector<std::unique_ptr<DataModel>> all;
  all.reserve(kN);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kN; ++i) all.push_back(engine_->create(doc_.doc(), host_));
  auto t1 = std::chrono::steady_clock::now();
  size_t heap1 = ecmaGcHeapBytes(*engine_);
  long rss1 = rssKiB();
  double us = std::chrono::duration<double, std::micro>(t1 - t0).count() / kN;
  double heapPer = double(heap1 - heap0) / kN;
  double rssPer = double(rss1 - rss0) * 1024 / kN;
  std::printf("[ measure  ] %d idle sessions: create %.2f us each, JS heap %.0f B each, "
              "RSS %.0f B each\n", kN, us, heapPer, rssPer);
  EXPECT_LT(heapPer, 1024.0);
  // Conditions over many sessions.
  Expr c = doc_.expr("1 < 2");
  auto t2 = std::chrono::steady_clock::now();
  for (auto& dm : all) ASSERT_TRUE(dm->evalCond(c).isOk());
  auto t3 = std::chrono::steady_clock::now();
  std::printf("[ measure  ] condition spread over %d sessions: %.0f ns each\n", kN,
              std::chrono::duration<double, std::nano>(t3 - t2).count() / kN);
  auto& one = *all.front();
  auto t4 = std::chrono::steady_clock::now();
  for (int i = 0; i < kN; ++i) ASSERT_TRUE(one.evalCond(c).isOk());
  auto t5 = std::chrono::steady_clock::now();
  std::printf("[ measure  ] condition on one session: %.0f ns each\n",
              std::chrono::duration<double, std::nano>(t5 - t4).count() / kN);
}

TEST_F(EcmaTest, OneEnginePerThread) {
  EXPECT_EQ(makeEcmaScriptEngine(), nullptr);
  engine_.reset();
  engine_ = makeEcmaScriptEngine();
  ASSERT_NE(engine_, nullptr);
  auto& dm = session(doc_);
  EXPECT_EQ(val(dm, "6 * 7"), Value(42));
}

TEST(EcmaThreads, EnginesOnSeveralThreads) {
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&ok, t] {
      auto engine = makeEcmaScriptEngine();
      if (!engine) return;
      TestDoc d;
      TestHost h;
      auto dm = engine->create(d.doc(), h);
      if (!dm->execScript(d.expr("var t = " + std::to_string(t) + ";")).isOk()) return;
      auto r = dm->evalValue(d.expr("t * 10"));
      if (r.isOk() && *r == Value(t * 10)) ++ok;
      Status st = dm->execScript(d.expr("function f() { return f() + 1; } f();"));
      if (!st.isOk()) ++ok;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 6);
}

}  // namespace
}  // namespace ors::dm
